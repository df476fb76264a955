/* Where a fetch source lives. mkimage accepts http(s) URLs, file:// URLs and plain
 * paths for the rootfs, the checksum list and the signature alike. */
#ifndef MKIMAGE_FETCH_URL_H
#define MKIMAGE_FETCH_URL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "mkerr.h"

/* Fills *remote; for local sources (plain path or file:// URL) also the decoded
 * path. Schemes other than http, https and file are refused: no surprises from
 * the many protocols libcurl knows. */
int url_classify(const char *url, bool *remote, char path[PATH_MAX], mk_err *err);

/* The file name a release's checksum list uses for url: the last path segment,
 * percent-decoded, without query or fragment. */
int url_filename(const char *url, char *out, size_t size, mk_err *err);

#endif
