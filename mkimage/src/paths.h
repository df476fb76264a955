/* Locating mkimage's data. Programs find their data relative to their own
 * executable, <exe dir>/../lib/revm/, so the build tree (build/bin/mkimage with
 * build/lib/revm/) and an install under any prefix behave the same. */
#ifndef MKIMAGE_PATHS_H
#define MKIMAGE_PATHS_H

#include <limits.h>
#include <stddef.h>

#include "mkerr.h"

/* <exe dir>/../lib/revm, canonical. */
int paths_libdir(char out[PATH_MAX], mk_err *err);

/* <libdir>/NAME; fails with "NAME: not found in LIBDIR" when it does not exist. */
int paths_data(const char *name, char out[PATH_MAX], mk_err *err);

/* snprintf for paths: -1 when the result would not fit (callers check where a
 * truncated path could name the wrong file), else its length. */
int paths_fmt(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
