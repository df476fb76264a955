/* Fetch step of mkimage: obtain the rootfs tarball and prove it is the intended one.
 *
 * Sources: http(s):// URLs (downloaded into the cache), file:// URLs and plain paths
 * (verified in place, not copied).
 * Verification: every check given must pass, and digests from both sources agree:
 *   sha256   - a pinned digest (64 hex digits);
 *   sums_url - a checksum list (BSD "SHA256 (f) = hex" as Void publishes, or GNU
 *              "hex  f"), looked up by the URL's file name; when sig_url is given too,
 *              the list must carry a valid minisign signature by pubkey (base64 key
 *              or .pub file) before any digest in it is trusted.
 * A remote source with no digest at all is refused; a local one is only hashed.
 *
 * The cache (see fetch_cache.h) is keyed by SHA-256: when the digest is known up
 * front and the file is cached, no request is made at all; checksum lists and
 * signatures are cached by URL, so a run verifying through them makes none either.
 * Interrupted downloads resume (HTTP Range) from "<cache>/sha256/HEX.part"; a list
 * cached by URL that fails (a moved "current" release) is fetched once more.
 * Nothing ever appears under a final cache name unless it verified. */
#ifndef MKIMAGE_FETCH_H
#define MKIMAGE_FETCH_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "mkerr.h"

typedef struct fetch_request {
    const char *url, *sha256, *sums_url, *sig_url, *pubkey, *cache_dir;
    long connect_timeout_s, stall_timeout_s; /* 0: defaults, 30 s each */
    int retries;                             /* 0: default (3 retries); < 0: no retry */
    long retry_delay_ms;                     /* 0: default first back-off of 1000 ms */
} fetch_request;

typedef struct fetch_result {
    char path[PATH_MAX]; /* the verified file: in the cache, or the local source */
    char sha256[65], blake3[65];
    uint64_t size;
    bool from_cache; /* served from the cache without any download */
} fetch_result;

/* cache_dir NULL: fetch_default_cache_dir(). Errors are one line, "THING: reason",
 * e.g. "http://host/x.tar.xz: HTTP 404". */
int fetch_verified(const fetch_request *rq, fetch_result *out, mk_err *err);

/* A small file (a repository index, a signature) named by url: read in place when
 * local; when remote, from the URL-keyed cache (*cached set) or downloaded into it
 * (at most max bytes, progress bar labelled label). rq supplies the cache directory
 * and the network settings; its url and digests are not used. *data is malloc'd and
 * NUL-terminated. */
int fetch_small(const fetch_request *rq, const char *url, size_t max, const char *label,
                char **data, size_t *len, bool *cached, mk_err *err);

/* Drops url's entry from the URL-keyed cache (its content has changed upstream). */
void fetch_small_evict(const fetch_request *rq, const char *url);

/* $XDG_CACHE_HOME/revm/mkimage or $HOME/.cache/revm/mkimage. */
int fetch_default_cache_dir(char out[PATH_MAX], mk_err *err);

#endif
