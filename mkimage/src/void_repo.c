#include "void_repo.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checksum.h"
#include "customize_fsops.h"

#define KEYFILE_MAX (64u << 10)

/* REPO/NAME, with exactly one '/' between them. */
static int repo_url(const char *repo, const char *name, char out[PATH_MAX], mk_err *err)
{
    size_t rl = strlen(repo);
    while (rl > 0 && repo[rl - 1] == '/')
        rl--;
    int n = snprintf(out, PATH_MAX, "%.*s/%s", (int)rl, repo, name);
    if (n < 0 || n >= PATH_MAX)
        return mk_fail(err, "%s: URL too long", repo);
    return 0;
}

/* The trusted key: ROOTFS/var/db/xbps/keys/FP.plist, read inside the tree. */
static int trusted_key(const char *rootfs, const char *fp, const char *signer, char *pem,
                       size_t cap, size_t *pemlen, mk_err *err)
{
    char path[128];
    snprintf(path, sizeof path, "/var/db/xbps/keys/%s.plist", fp);
    tree t;
    if (tree_open(&t, rootfs, 0, NULL, err) < 0)
        return -1;
    char *data = NULL;
    size_t len = 0;
    mk_err inner;
    int r = tree_read(&t, path, KEYFILE_MAX, &data, &len, &inner);
    tree_close(&t);
    if (r < 0)
        return mk_fail(err, "rootfs %s: %s", path, inner.msg);
    if (r == 1)
        return mk_fail(err, "repository key %s (signed by %s) is not in the rootfs's "
                            "/var/db/xbps/keys: not trusted", fp, signer);
    int rc = xbps_keyfile_pubkey(data, len, pem, cap, pemlen, &inner);
    free(data);
    if (rc < 0)
        return mk_fail(err, "rootfs %s: %s", path, inner.msg);
    char got[XBPS_FP_LEN + 1];
    if (xbps_key_fingerprint(pem, *pemlen, got, &inner) < 0)
        return mk_fail(err, "rootfs %s: %s", path, inner.msg);
    if (strcmp(got, fp) != 0)
        return mk_fail(err, "rootfs %s: holds the key %s, not %s", path, got, fp);
    return 0;
}

/* Steps 1-2 and the index lookup. */
static int resolve(const void_repo_request *rq, const char *index_url, void_repo_kernel *out,
                   char *pem, size_t pemcap, size_t *pemlen, bool *index_cached, mk_err *err)
{
    char *raw = NULL, *index = NULL, *meta = NULL;
    size_t raw_len = 0, index_len = 0, meta_len = 0;
    mk_err inner;
    if (fetch_small(rq->net, index_url, XBPS_REPODATA_MAX, "index", &raw, &raw_len,
                    index_cached, &inner) < 0)
        return mk_fail(err, "kernel repository index %s", inner.msg);
    int rc = -1;
    if (xbps_repodata_read(raw, raw_len, index_url, &index, &index_len, &meta, &meta_len, err) < 0)
        goto out;
    char meta_pem[XBPS_PUBKEY_MAX];
    size_t meta_pem_len;
    char signer[128] = "";
    if (!meta) {
        mk_fail(err, "kernel repository index %s: unsigned repository (no index-meta.plist)",
                index_url);
        goto out;
    }
    if (xbps_meta_pubkey(meta, meta_len, meta_pem, sizeof meta_pem, &meta_pem_len, signer,
                         sizeof signer, &inner) < 0 ||
        xbps_key_fingerprint(meta_pem, meta_pem_len, out->key_fp, &inner) < 0) {
        mk_fail(err, "kernel repository index %s: %s", index_url, inner.msg);
        goto out;
    }
    if (trusted_key(rq->rootfs_tree, out->key_fp, signer, pem, pemcap, pemlen, err) < 0)
        goto out;
    if (xbps_index_find(index, index_len, rq->series, rq->arch, &out->pkg, &inner) < 0) {
        mk_fail(err, "kernel repository index %s: %s", index_url, inner.msg);
        goto out;
    }
    char name[PATH_MAX];
    int n = snprintf(name, sizeof name, "%s.%s.xbps", out->pkg.pkgver,
                     out->pkg.arch[0] ? out->pkg.arch : rq->arch);
    if (n < 0 || (size_t)n >= sizeof name || !xbps_name_ok(out->pkg.arch[0] ? out->pkg.arch : "x")) {
        mk_fail(err, "%s: %s: malformed architecture", index_url, out->pkg.pkgver);
        goto out;
    }
    rc = repo_url(rq->repo, name, out->url, err);
out:
    free(raw);
    free(index);
    free(meta);
    return rc;
}

/* Step 4, first half: the signature file (small: fetched before the package, so a
 * missing one costs no package download). */
static int get_sig(const void_repo_request *rq, const void_repo_kernel *k, char **sig,
                   size_t *sig_len, bool *cached, mk_err *err)
{
    char sig_url[PATH_MAX + 8];
    snprintf(sig_url, sizeof sig_url, "%s.sig2", k->url);
    mk_err inner;
    if (fetch_small(rq->net, sig_url, XBPS_SIG_MAX, "signature", sig, sig_len, cached, &inner) < 0)
        return mk_fail(err, "kernel package %s: signature missing: %s", k->pkg.pkgver, inner.msg);
    return 0;
}

/* Step 4, second half: the signature over the package's SHA-256. */
static int check_sig(const void_repo_kernel *k, const char *pem, size_t pemlen, const char *sig,
                     size_t sig_len, mk_err *err)
{
    uint8_t raw[32];
    for (int i = 0; i < 32; i++)
        raw[i] = (uint8_t)(hex_digit_value(k->file.sha256[2 * i]) << 4 |
                           hex_digit_value(k->file.sha256[2 * i + 1]));
    char label[300];
    snprintf(label, sizeof label, "kernel package %s", k->pkg.pkgver);
    return xbps_sig2_verify(pem, pemlen, raw, sig, sig_len, label, err);
}

int void_repo_fetch_kernel(const void_repo_request *rq, void_repo_kernel *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    char index_url[PATH_MAX], name[160];
    if (!xbps_name_ok(rq->arch) || !xbps_name_ok(rq->series))
        return mk_fail(err, "kernel series %.64s for %.64s: not a package name", rq->series,
                       rq->arch);
    snprintf(name, sizeof name, "%s-repodata", rq->arch);
    if (repo_url(rq->repo, name, index_url, err) < 0)
        return -1;
    char pem[XBPS_PUBKEY_MAX];
    size_t pemlen = 0;
    char *sig = NULL;
    size_t sig_len = 0;
    bool sig_cached = false;
    for (int pass = 0;; pass++) {
        bool index_cached = false;
        if (resolve(rq, index_url, out, pem, sizeof pem, &pemlen, &index_cached, err) < 0)
            return -1;
        mk_err inner;
        int rc = get_sig(rq, out, &sig, &sig_len, &sig_cached, &inner);
        if (rc == 0) {
            fetch_request fr = *rq->net;
            fr.url = out->url;
            fr.sha256 = out->pkg.sha256;
            fr.sums_url = fr.sig_url = fr.pubkey = NULL;
            mk_err pinner;
            rc = fetch_verified(&fr, &out->file, &pinner);
            if (rc < 0)
                mk_fail(&inner, "kernel package %s", pinner.msg);
        }
        if (rc == 0)
            break;
        free(sig);
        sig = NULL;
        if (pass == 0 && index_cached) {
            /* The cached index may name a build the mirror no longer has. */
            fetch_small_evict(rq->net, index_url);
            continue;
        }
        *err = inner;
        return -1;
    }
    if (out->pkg.size && out->file.size != out->pkg.size) {
        free(sig);
        return mk_fail(err, "kernel package %s: %llu bytes, the index says %llu",
                       out->pkg.pkgver, (unsigned long long)out->file.size,
                       (unsigned long long)out->pkg.size);
    }
    int rc = check_sig(out, pem, pemlen, sig, sig_len, err);
    free(sig);
    if (rc < 0 && sig_cached) {
        /* A signature cached from an earlier build of the same version: fetch it again. */
        char sig_url[PATH_MAX + 8];
        snprintf(sig_url, sizeof sig_url, "%s.sig2", out->url);
        fetch_small_evict(rq->net, sig_url);
        sig = NULL;
        if (get_sig(rq, out, &sig, &sig_len, &sig_cached, err) == 0)
            rc = check_sig(out, pem, pemlen, sig, sig_len, err);
        free(sig);
    }
    if (rc < 0 && (strncmp(out->url, "http://", 7) == 0 || strncmp(out->url, "https://", 8) == 0))
        unlink(out->file.path); /* not trusted: keep no copy in the cache */
    return rc;
}
