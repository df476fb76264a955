/* The download cache. Layout under the cache directory:
 *   sha256/HEX        a verified download, named by its SHA-256 (the cache key:
 *                     a run that knows the digest finds the file without a request)
 *   sha256/HEX.part   an incomplete download of it, kept so the next attempt or the
 *                     next run resumes it (HTTP Range)
 *   url/HEX           a small file (checksum list, signature) named by the SHA-256
 *                     of its URL: release URLs are dated, so their content is fixed
 * A file appears under its final name only by rename() once complete and verified. */
#ifndef MKIMAGE_FETCH_CACHE_H
#define MKIMAGE_FETCH_CACHE_H

#include <limits.h>
#include <stddef.h>

#include "mkerr.h"

/* fetch_default_cache_dir() is declared in fetch.h. */

/* mkdir -p, mode 0755. */
int cache_mkdirs(const char *dir, mk_err *err);

/* Opens (creating) path and takes an exclusive flock on it, waiting while another
 * mkimage holds it; guarantees the locked file is still the one named path. */
int cache_lock_open(const char *path, int *fd_out, mk_err *err);

/* Reads a whole file of at most max bytes into a malloc'd, NUL-terminated buffer. */
int read_small_file(const char *path, size_t max, char **data, size_t *len, mk_err *err);

#endif
