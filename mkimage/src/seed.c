/* seed: the disk seed and the file epoch of an image (see seed.h). */
#include "seed.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "checksum.h"
#include "paths.h"

static void sha_update_str(EVP_MD_CTX *c, const char *label, const char *s)
{
    EVP_DigestUpdate(c, label, strlen(label));
    EVP_DigestUpdate(c, "=", 1);
    EVP_DigestUpdate(c, s, strlen(s));
    EVP_DigestUpdate(c, "\n", 1);
}

static int sha_update_file(EVP_MD_CTX *c, const char *label, const char *path, mk_err *err)
{
    char hex[65];
    if (hash_file(path, hex, NULL, err) < 0)
        return -1;
    sha_update_str(c, label, hex);
    return 0;
}

int seed_compute(const cli_opts *o, const char *variants_dir, const variant *v,
                 const char *rootfs_sha256, const kernel_tree *k, char out[65], mk_err *err)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        return mk_fail(err, "seed: out of memory");
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    int rc = -1;
    char path[PATH_MAX * 2], size[32];
    sha_update_str(c, "mkimage", MKIMAGE_VERSION);
    sha_update_str(c, "rootfs", rootfs_sha256);
    paths_fmt(path, sizeof path, "%s/%s.ini", variants_dir, v->name);
    if (sha_update_file(c, "variant", path, err) < 0)
        goto out;
    for (size_t i = 0; i < v->install.n; i++) {
        char s[PATH_MAX], d[PATH_MAX];
        unsigned m;
        if (install_spec_parse(v->install.v[i], s, sizeof s, d, sizeof d, &m, err) < 0)
            goto out;
        paths_fmt(path, sizeof path, "%s/%s", variants_dir, s);
        if (sha_update_file(c, v->install.v[i], path, err) < 0)
            goto out;
    }
    for (size_t i = 0; i < o->n_installs; i++) {
        char s[PATH_MAX], d[PATH_MAX];
        unsigned m;
        if (install_spec_parse(o->installs[i], s, sizeof s, d, sizeof d, &m, err) < 0 ||
            sha_update_file(c, d, s, err) < 0)
            goto out;
    }
    if (o->bridge && sha_update_file(c, "bridge", o->bridge, err) < 0)
        goto out;
    sha_update_str(c, "kernel", k->version);
    if (sha_update_file(c, "vmlinuz", k->vmlinuz, err) < 0)
        goto out;
    sha_update_str(c, "fs", o->fs);
    paths_fmt(size, sizeof size, "%llu", (unsigned long long)o->size);
    sha_update_str(c, "size", size);
    unsigned char md[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(c, md, &len);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    rc = 0;
out:
    EVP_MD_CTX_free(c);
    return rc;
}

time_t seed_epoch(const char *base_tree)
{
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde) {
        char *end;
        long long v = strtoll(sde, &end, 10);
        if (!*end && v >= 0)
            return (time_t)v;
    }
    /* The tarball's own /etc time: deterministic for a given tarball. */
    char p[PATH_MAX + 8];
    struct stat st;
    paths_fmt(p, sizeof p, "%s/etc", base_tree);
    if (stat(p, &st) == 0)
        return st.st_mtime;
    return 0;
}
