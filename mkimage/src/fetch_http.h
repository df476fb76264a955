/* One HTTP(S) download into an open file, with libcurl: resumes from the file's
 * current size (Range), retries transient failures with exponential back-off,
 * gives up on a connect timeout or a stalled transfer, and draws a progress bar
 * on a TTY. Writes only response bodies of successful requests. */
#ifndef MKIMAGE_FETCH_HTTP_H
#define MKIMAGE_FETCH_HTTP_H

#include <stdint.h>

#include "mkerr.h"

typedef struct http_opts {
    long connect_timeout_s; /* > 0 */
    long stall_timeout_s;   /* > 0: fail when under 1 byte/s for this long */
    int retries;            /* extra attempts after the first, >= 0 */
    long retry_delay_ms;    /* first back-off delay; doubles each retry, capped at 30 s */
    uint64_t max_bytes;     /* 0: unlimited; else refuse larger bodies */
    const char *label;      /* progress bar label */
    const char *dest;       /* file written, named in local write errors */
} http_opts;

/* Appends url's content to fd from the file's current end, which must hold a prefix
 * of it (an earlier partial download) or nothing. *resumed_from receives the size
 * the file had at the start. Returns 0; or -1 with a "URL: reason" error, fd
 * keeping whatever prefix arrived so a later call can resume; or -2 when writing
 * the file failed (e.g. disk full), "DEST: cannot write: reason". */
int http_download(const char *url, int fd, const http_opts *o, uint64_t *resumed_from,
                  mk_err *err);

#endif
