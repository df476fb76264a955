#include "initramfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cm_file.h"
#include "cpio.h"
#include "kmod_read.h"
#include "kmod_sig.h"
#include "outfile.h"

#define MAX_INIT_BYTES (16u << 20)

static uint32_t build_mtime(void)
{
    /* reproducible-builds.org convention; 0 keeps the archive input-determined. */
    const char *s = getenv("SOURCE_DATE_EPOCH");
    if (!s || !*s)
        return 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    return *end || v > UINT32_MAX ? 0 : (uint32_t)v;
}

static int read_init(const char *path, unsigned char **data, size_t *len, mk_err *err)
{
    char *b = cm_read_file(path, MAX_INIT_BYTES, len);
    if (!b && (errno == EFBIG || errno == EINVAL))
        return mk_fail(err, "init %s: not a regular file of sane size", path);
    if (!b)
        return mk_fail_errno(err, errno, "init %s", path);
    if (*len == 0) {
        free(b);
        return mk_fail(err, "init %s: not a regular file of sane size", path);
    }
    *data = (unsigned char *)b;
    return 0;
}

/* The kernel's unpacker creates files with open(O_CREAT) and does not make parent
 * directories, so each directory must precede its contents. Directories already
 * written are remembered (the list is small: a few dozen). */
typedef struct dirset {
    char **v;
    size_t n;
} dirset;

static bool dirset_has(const dirset *d, const char *p)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i], p) == 0)
            return true;
    return false;
}

static int ensure_dirs(cpio_writer *w, dirset *d, const char *path, mk_err *err)
{
    char buf[PATH_MAX];
    if (strlen(path) >= sizeof buf)
        return mk_fail(err, "%s: path too long", path);
    strcpy(buf, path);
    for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (!dirset_has(d, buf)) {
            char **nv = realloc(d->v, (d->n + 1) * sizeof *nv);
            if (!nv || !(nv[d->n] = strdup(buf))) {
                if (nv)
                    d->v = nv;
                return mk_fail(err, "%s: out of memory", path);
            }
            d->v = nv;
            d->n++;
            if (cpio_add_dir(w, buf, 0755, err) < 0)
                return -1;
        }
        *s = '/';
    }
    return 0;
}

static void dirset_free(dirset *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i]);
    free(d->v);
}

static int write_contents(cpio_writer *w, const kernel_tree *k, const kmod_list *mods,
                          const unsigned char *init, size_t init_len, mk_err *err)
{
    dirset dirs = {0};
    char *list = NULL;
    size_t list_len = 0;
    FILE *lf = open_memstream(&list, &list_len);
    int rc = -1;
    if (!lf) {
        mk_fail(err, "initramfs: out of memory");
        goto out;
    }
    /* Mount points /init needs before the root filesystem exists. */
    static const char *const mount_dirs[] = {"dev", "proc", "sys", "newroot", "etc", "lib"};
    for (size_t i = 0; i < sizeof mount_dirs / sizeof mount_dirs[0]; i++) {
        char p[32];
        snprintf(p, sizeof p, "%s/", mount_dirs[i]);
        if (ensure_dirs(w, &dirs, p, err) < 0)
            goto out;
    }
    /* The kernel opens /dev/console for init's stdio before init runs, i.e. before
     * devtmpfs is mounted: without this node, early messages would go nowhere. */
    if (cpio_add_node(w, "dev/console", S_IFCHR | 0600, 5, 1, err) < 0)
        goto out;
    if (cpio_add_file(w, "init", 0755, init, init_len, err) < 0)
        goto out;
    /* Without their signatures where the kernel allows it: see kmod_sig.h for why. */
    bool drop_signatures = kmod_kernel_loads_unsigned(k);
    for (size_t i = 0; i < mods->n; i++) {
        char plain[PATH_MAX], dest[PATH_MAX + 160];
        kmod_plain_path(mods->paths[i], plain, sizeof plain);
        int n = snprintf(dest, sizeof dest, "lib/modules/%s/%s", k->version, plain);
        if (n < 0 || (size_t)n >= PATH_MAX) {
            mk_fail(err, "kernel module %s: path too long", mods->paths[i]);
            goto out;
        }
        unsigned char *data = NULL;
        size_t len = 0;
        if (kmod_read(k, mods->paths[i], &data, &len, err) < 0)
            goto out;
        int r = ensure_dirs(w, &dirs, dest, err);
        if (drop_signatures)
            len = kmod_unsigned_len(data, len);
        if (r == 0)
            r = cpio_add_file(w, dest, 0644, data, len, err);
        free(data);
        if (r < 0)
            goto out;
        fprintf(lf, "/%s\n", dest);
    }
    if (fclose(lf) != 0) {
        lf = NULL;
        mk_fail(err, "initramfs: out of memory");
        goto out;
    }
    lf = NULL;
    if (cpio_add_file(w, INITRAMFS_MODULES_LIST, 0644, list, list_len, err) < 0 ||
        cpio_finish(w, err) < 0)
        goto out;
    rc = 0;
out:
    if (lf)
        fclose(lf);
    free(list);
    dirset_free(&dirs);
    return rc;
}

int initramfs_write(const kernel_tree *k, const kmod_list *mods, const char *init_binary,
                    const char *out_path, mk_err *err)
{
    unsigned char *init = NULL;
    size_t init_len = 0;
    if (read_init(init_binary, &init, &init_len, err) < 0)
        return -1;
    mk_outfile of;
    if (outfile_open(&of, out_path, err) < 0) {
        free(init);
        return -1;
    }
    cpio_writer *w = malloc(sizeof *w);
    if (!w) {
        free(init);
        outfile_abort(&of);
        return mk_fail(err, "initramfs %s: out of memory", out_path);
    }
    cpio_begin(w, of.fd, build_mtime(), out_path);
    int rc = write_contents(w, k, mods, init, init_len, err);
    free(w);
    free(init);
    if (rc < 0) {
        outfile_abort(&of);
        return -1;
    }
    return outfile_commit(&of, err);
}
