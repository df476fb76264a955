/* kmod_read: module files into memory, decompressed (see kmod_read.h). */
#include "kmod_read.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch_cache.h" /* read_small_file */
#include "modinfo.h"

int kmod_read_optional(const char *path, size_t max, char **buf, size_t *len, mk_err *err)
{
    *buf = NULL;
    *len = 0;
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    return read_small_file(path, max, buf, len, err);
}

bool kmod_is_compressed(const char *relpath)
{
    size_t l = strlen(relpath);
    return modname_suffix_len(relpath, l) > 3;
}

void kmod_plain_path(const char *relpath, char *out, size_t outsz)
{
    size_t l = strlen(relpath), sl = modname_suffix_len(relpath, l);
    size_t keep = sl > 3 ? l - sl + 3 : l;
    snprintf(out, outsz, "%.*s", (int)keep, relpath);
}

/* Decompresses with libarchive's "raw" format: one pseudo-entry holding the
 * decompressed stream, whichever of gzip/xz/zstd the file uses. */
static int decompress_file(const char *path, unsigned char **data, size_t *len, mk_err *err)
{
    struct archive *a = archive_read_new();
    if (!a)
        return mk_fail(err, "%s: out of memory", path);
    archive_read_support_filter_all(a);
    archive_read_support_format_raw(a);
    struct archive_entry *e;
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK ||
        archive_read_next_header(a, &e) != ARCHIVE_OK) {
        mk_fail(err, "%s: %s", path, archive_error_string(a));
        goto out;
    }
    for (;;) {
        if (cap - n < 65536) {
            size_t nc = cap ? cap * 2 : 1 << 20;
            if (nc > KMOD_MAX_MODULE_BYTES + 65536u) {
                mk_fail(err, "%s: decompressed module larger than %u MiB", path,
                        KMOD_MAX_MODULE_BYTES >> 20);
                goto out;
            }
            unsigned char *nb = realloc(buf, nc);
            if (!nb) {
                mk_fail(err, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap = nc;
        }
        la_ssize_t r = archive_read_data(a, buf + n, cap - n);
        if (r < 0) {
            mk_fail(err, "%s: %s", path, archive_error_string(a));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *data = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    archive_read_free(a);
    return rc;
}

int kmod_read_in(const char *modules_dir, const char *relpath, unsigned char **data,
                 size_t *len, mk_err *err)
{
    char path[PATH_MAX];
    int pn = snprintf(path, sizeof path, "%s/%s", modules_dir, relpath);
    if (pn < 0 || (size_t)pn >= sizeof path) /* a cut path could name another file */
        return mk_fail(err, "kernel module %s: path too long", relpath);
    if (kmod_is_compressed(relpath))
        return decompress_file(path, data, len, err);
    char *buf;
    if (kmod_read_optional(path, KMOD_MAX_MODULE_BYTES, &buf, len, err) < 0)
        return -1;
    if (!buf)
        return mk_fail(err, "kernel module %s: not found", path);
    *data = (unsigned char *)buf;
    return 0;
}

int kmod_read(const kernel_tree *k, const char *relpath, unsigned char **data, size_t *len,
              mk_err *err)
{
    return kmod_read_in(k->modules_dir, relpath, data, len, err);
}
