#include "fetch_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cm_io.h"
#include "outfile.h"
#include "progress.h"

#define MAX_BACKOFF_MS 30000

typedef struct xfer {
    CURL *curl;
    int fd;
    uint64_t offset;  /* bytes already in the file when this attempt started */
    uint64_t written; /* bytes written by this attempt */
    uint64_t max_bytes;
    int write_errno;
    bool too_large;
    /* Stall detection. CURLOPT_LOW_SPEED_* alone averages the speed over a window
     * of several seconds, so after a burst it notices silence late; this tracks the
     * time of the last received byte instead, checked ~once a second by libcurl. */
    long stall_ms;
    uint64_t last_now;
    uint64_t last_data_ms;
    bool stalled;
    progress *bar;
} xfer;

/* RESTART: the server ignored Range (answered 200 to a resume): start over. */
/* LOCAL: writing the file failed; nothing to do with the server. */
typedef enum { ATTEMPT_OK, ATTEMPT_RETRY, ATTEMPT_RESTART, ATTEMPT_FATAL, ATTEMPT_LOCAL } attempt_result;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    if (x->max_bytes && x->offset + x->written + n > x->max_bytes) {
        x->too_large = true;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    if (cm_write_all(x->fd, data, n) < 0) {
        x->write_errno = errno;
        return 0;
    }
    x->written += n;
    return n;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)ultotal;
    (void)ulnow;
    xfer *x = ud;
    uint64_t t = now_ms();
    curl_off_t connect_us = 0;
    curl_easy_getinfo(x->curl, CURLINFO_CONNECT_TIME_T, &connect_us);
    if ((uint64_t)dlnow != x->last_now || connect_us == 0) {
        /* Data arrived, or still connecting (CURLOPT_CONNECTTIMEOUT's business). */
        x->last_now = (uint64_t)dlnow;
        x->last_data_ms = t;
    } else if (t - x->last_data_ms >= (uint64_t)x->stall_ms) {
        x->stalled = true;
        return 1; /* abort the transfer */
    }
    if (dltotal > 0)
        x->bar->total = x->offset + (uint64_t)dltotal;
    progress_update(x->bar, x->offset + (uint64_t)(dlnow > 0 ? dlnow : 0));
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static bool http_status_transient(long code)
{
    return code == 408 || code == 429 || code >= 500;
}

/* One request. Classifies the outcome and describes failures in reason. */
static attempt_result attempt(CURL *c, const char *url, xfer *x, const http_opts *o,
                              char *reason, size_t reason_size, mk_err *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    reason[0] = 0;
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)x->offset);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    x->written = 0;
    x->write_errno = 0;
    x->too_large = false;
    x->stalled = false;
    x->last_now = 0;
    x->last_data_ms = now_ms();

    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    if (rc == CURLE_OK)
        return ATTEMPT_OK;

    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (x->write_errno) {
        mk_fail_errno(err, x->write_errno, "%s: cannot write", o->dest ? o->dest : url);
        return ATTEMPT_LOCAL;
    }
    if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        mk_fail(err, "%s: larger than %llu bytes", url, (unsigned long long)o->max_bytes);
        return ATTEMPT_FATAL;
    }
    if (x->stalled) {
        snprintf(reason, reason_size, "stalled: no data for %ld s", o->stall_timeout_s);
        return ATTEMPT_RETRY;
    }
    switch (rc) {
    case CURLE_RANGE_ERROR:
        snprintf(reason, reason_size, "server does not support resuming");
        return x->offset > 0 ? ATTEMPT_RESTART : ATTEMPT_FATAL;
    case CURLE_HTTP_RETURNED_ERROR:
        snprintf(reason, reason_size, "HTTP %ld", code);
        if (code == 416 && x->offset > 0)
            return ATTEMPT_OK; /* the partial file is already whole; the digest decides */
        return http_status_transient(code) ? ATTEMPT_RETRY : ATTEMPT_FATAL;
    case CURLE_OPERATION_TIMEDOUT: {
        curl_off_t connect_us = 0;
        curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us);
        if (connect_us == 0)
            snprintf(reason, reason_size, "connect timed out after %ld s", o->connect_timeout_s);
        else
            snprintf(reason, reason_size, "stalled: no data for %ld s", o->stall_timeout_s);
        return ATTEMPT_RETRY;
    }
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        snprintf(reason, reason_size, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return ATTEMPT_RETRY;
    default:
        snprintf(reason, reason_size, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return ATTEMPT_FATAL;
    }
}

static void curl_init_once(void)
{
    static bool done;
    if (!done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        done = true;
    }
}

int http_download(const char *url, int fd, const http_opts *o, uint64_t *resumed_from,
                  mk_err *err)
{
    curl_init_once();
    CURL *c = curl_easy_init();
    if (!c)
        return mk_fail(err, "%s: cannot initialise libcurl", url);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L); /* never store an error page */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mkimage (revm)");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->stall_timeout_s);
    if (o->max_bytes)
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);

    progress bar;
    progress_begin(&bar, o->label ? o->label : "download", 0);
    xfer x = {.curl = c, .fd = fd, .max_bytes = o->max_bytes, .bar = &bar,
              .stall_ms = o->stall_timeout_s * 1000};
    char reason[CURL_ERROR_SIZE + 64] = "";
    long delay = o->retry_delay_ms > 0 ? o->retry_delay_ms : 1000;
    int rc = -1, attempts = 0;
    bool range_refused = false;
    *resumed_from = UINT64_MAX;
    for (;;) {
        off_t end = lseek(fd, 0, SEEK_END);
        if (end < 0) {
            mk_fail_errno(err, errno, "%s: cannot seek", o->dest ? o->dest : url);
            rc = -2;
            break;
        }
        x.offset = (uint64_t)end;
        if (*resumed_from == UINT64_MAX)
            *resumed_from = x.offset;
        attempts++;
        attempt_result r = attempt(c, url, &x, o, reason, sizeof reason, err);
        if (r == ATTEMPT_OK) {
            rc = 0;
            break;
        }
        if (r == ATTEMPT_LOCAL) {
            rc = -2;
            break;
        }
        if (r == ATTEMPT_FATAL) {
            if (reason[0]) /* else attempt() already filled err */
                mk_fail(err, "%s: %s", url, reason);
            break;
        }
        if (r == ATTEMPT_RESTART && !range_refused) {
            /* Start over from byte 0, once, without counting it as a failure. */
            range_refused = true;
            attempts--;
            if (ftruncate(fd, 0) < 0) {
                mk_fail_errno(err, errno, "%s: cannot truncate", o->dest ? o->dest : url);
                rc = -2;
                break;
            }
            continue;
        }
        if (attempts > o->retries) {
            if (attempts > 1)
                mk_fail(err, "%s: %s (gave up after %d attempts)", url, reason, attempts);
            else
                mk_fail(err, "%s: %s", url, reason);
            break;
        }
        sleep_ms(delay);
        delay = delay * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : delay * 2;
    }
    progress_end(&bar);
    curl_easy_cleanup(c);
    return rc;
}

