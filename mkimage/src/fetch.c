#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checksum.h"
#include "fetch_cache.h"
#include "fetch_http.h"
#include "fetch_url.h"
#include "minisign.h"
#include "sums.h"

#define SUMS_MAX (1u << 20) /* Void's list is a few KiB; anything huge is hostile */
#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_RETRIES 3

typedef struct ctx {
    const fetch_request *rq;
    char cache[PATH_MAX]; /* empty until a remote source needs it */
    http_opts http;
} ctx;

static int ensure_cache_dir(ctx *c, const char *sub, char dir[PATH_MAX], mk_err *err)
{
    if (!c->cache[0]) {
        if (c->rq->cache_dir && *c->rq->cache_dir) {
            if (strlen(c->rq->cache_dir) >= sizeof c->cache)
                return mk_fail(err, "%s: path too long", c->rq->cache_dir);
            strcpy(c->cache, c->rq->cache_dir);
        } else if (fetch_default_cache_dir(c->cache, err) < 0) {
            return -1;
        }
    }
    int n = snprintf(dir, PATH_MAX, "%s/%s", c->cache, sub);
    if (n < 0 || n >= PATH_MAX)
        return mk_fail(err, "%s: path too long", c->cache);
    return cache_mkdirs(dir, err);
}

static int join(char out[PATH_MAX], const char *dir, const char *name, const char *suffix,
                mk_err *err)
{
    int n = snprintf(out, PATH_MAX, "%s/%s%s", dir, name, suffix);
    if (n < 0 || n >= PATH_MAX)
        return mk_fail(err, "%s: path too long", dir);
    return 0;
}

/* Makes a rename durable: the cache must never hold a name without its data. */
static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Releases a locked partial file that turned out not to be needed, removing it
 * when empty (the lock created it) so the cache holds no litter. */
static void release_part(int fd, const char *part)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size == 0)
        unlink(part);
    close(fd);
}

/* A checksum list or signature: read in place when local; when remote, from the
 * URL-keyed cache (*cached set), downloading it on a miss. */
static int get_small(ctx *c, const char *url, size_t max, const char *label, char **data,
                     size_t *len, bool *cached, mk_err *err)
{
    *cached = false;
    bool remote;
    char path[PATH_MAX];
    if (url_classify(url, &remote, path, err) < 0)
        return -1;
    if (!remote)
        return read_small_file(path, max, data, len, err);

    char dir[PATH_MAX], key[65], final[PATH_MAX], part[PATH_MAX];
    sha256_hex_of(url, strlen(url), key);
    if (ensure_cache_dir(c, "url", dir, err) < 0 || join(final, dir, key, "", err) < 0 ||
        join(part, dir, key, ".part", err) < 0)
        return -1;
    if (access(final, F_OK) == 0) {
        *cached = true;
        return read_small_file(final, max, data, len, err);
    }

    int fd;
    if (cache_lock_open(part, &fd, err) < 0)
        return -1;
    if (access(final, F_OK) != 0) { /* else another mkimage fetched it meanwhile */
        http_opts o = c->http;
        o.max_bytes = max;
        o.label = label;
        o.dest = part;
        uint64_t resumed_from;
        int rc = 0;
        if (ftruncate(fd, 0) < 0)
            rc = mk_fail_errno(err, errno, "%s: cannot truncate", part);
        else if (http_download(url, fd, &o, &resumed_from, err) < 0)
            rc = -1;
        else if (fsync(fd) < 0 || rename(part, final) < 0)
            rc = mk_fail_errno(err, errno, "%s: cannot store in the cache", final);
        if (rc < 0) {
            unlink(part);
            close(fd);
            return -1;
        }
        sync_dir(dir);
        close(fd);
    } else {
        release_part(fd, part);
    }
    return read_small_file(final, max, data, len, err);
}

/* Drops url's entry from the URL-keyed cache. */
static void evict_small(ctx *c, const char *url)
{
    char dir[PATH_MAX], key[65], final[PATH_MAX];
    mk_err ignored;
    sha256_hex_of(url, strlen(url), key);
    if (ensure_cache_dir(c, "url", dir, &ignored) == 0 && join(final, dir, key, "", &ignored) == 0)
        unlink(final);
}

/* Verifies the checksum list's minisign signature, when one is given. */
static int check_signature(ctx *c, const char *sums, size_t sums_len, bool *cached, mk_err *err)
{
    const fetch_request *rq = c->rq;
    if (!rq->sig_url)
        return 0;
    if (!rq->pubkey || !*rq->pubkey)
        return mk_fail(err, "%s: a public key is needed to check the signature", rq->sig_url);
    minisign_pubkey pk;
    if (minisign_pubkey_load(rq->pubkey, &pk, err) < 0)
        return -1;
    char *sig;
    size_t sig_len;
    if (get_small(c, rq->sig_url, MINISIGN_MAX_FILE, "signature", &sig, &sig_len, cached, err) < 0)
        return -1;
    int rc = minisign_verify(&pk, sig, sig_len, rq->sig_url, sums, sums_len, NULL, 0, err);
    free(sig);
    return rc;
}

/* Looks the source up in the (signed) checksum list: *listed on success. *cached
 * tells whether any file involved came from the URL-keyed cache. */
static int digest_from_list(ctx *c, char listed[65], bool *cached, mk_err *err)
{
    const fetch_request *rq = c->rq;
    char *sums;
    size_t sums_len;
    bool sums_cached = false, sig_cached = false;
    int rc = get_small(c, rq->sums_url, SUMS_MAX, "checksums", &sums, &sums_len, &sums_cached, err);
    if (rc == 0) {
        char name[256];
        mk_err inner = {""};
        rc = check_signature(c, sums, sums_len, &sig_cached, err);
        if (rc == 0 && url_filename(rq->url, name, sizeof name, err) < 0)
            rc = -1;
        if (rc == 0 && sums_lookup(sums, sums_len, name, listed, &inner) < 0)
            rc = mk_fail(err, "%s: %s", rq->sums_url, inner.msg);
        free(sums);
    }
    *cached = sums_cached || sig_cached;
    return rc;
}

/* The digest the source must have: pinned, from the (signed) list, or both agreeing. */
static int expected_digest(ctx *c, char want[65], bool *have, mk_err *err)
{
    const fetch_request *rq = c->rq;
    *have = false;
    if (rq->sha256) {
        if (!sha256_hex_normalize(rq->sha256, want))
            return mk_fail(err, "%.80s: not a SHA-256 digest (64 hex digits)", rq->sha256);
        *have = true;
    }
    if (rq->sig_url && !rq->sums_url)
        return mk_fail(err, "%s: a signature needs the checksum list it signs", rq->sig_url);
    if (!rq->sums_url)
        return 0;

    char listed[65];
    bool cached;
    if (digest_from_list(c, listed, &cached, err) < 0) {
        if (!cached)
            return -1;
        /* A list cached under a URL whose content has since changed (a "current"
         * directory moving to the next release): fetch list and signature again. */
        evict_small(c, rq->sums_url);
        if (rq->sig_url)
            evict_small(c, rq->sig_url);
        if (digest_from_list(c, listed, &cached, err) < 0)
            return -1;
    }
    if (*have && strcmp(want, listed) != 0)
        return mk_fail(err, "%s: the given SHA-256 %s differs from %s in %s", rq->url, want,
                       listed, rq->sums_url);
    memcpy(want, listed, 65);
    *have = true;
    return 0;
}

static int fill_result(const char *path, const char *sha, const char *b3, bool from_cache,
                       fetch_result *out, mk_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return mk_fail_errno(err, errno, "%s: cannot stat", path);
    if (!realpath(path, out->path))
        return mk_fail_errno(err, errno, "%s: cannot resolve", path);
    memcpy(out->sha256, sha, 65);
    memcpy(out->blake3, b3, 65);
    out->size = (uint64_t)st.st_size;
    out->from_cache = from_cache;
    return 0;
}

/* 1: the cache holds a verified copy (out filled); 0: miss; -1: error. A cached
 * file that no longer matches its name is removed and fetched again. */
static int try_cached(const char *final, const char *want, fetch_result *out, mk_err *err)
{
    if (access(final, F_OK) != 0)
        return 0;
    char sha[65], b3[65];
    if (hash_file(final, sha, b3, err) < 0)
        return -1;
    if (strcmp(sha, want) != 0) {
        unlink(final);
        return 0;
    }
    return fill_result(final, sha, b3, true, out, err) < 0 ? -1 : 1;
}

static int fetch_remote(ctx *c, const char *want, fetch_result *out, mk_err *err)
{
    const char *url = c->rq->url;
    char dir[PATH_MAX], final[PATH_MAX], part[PATH_MAX];
    if (ensure_cache_dir(c, "sha256", dir, err) < 0 || join(final, dir, want, "", err) < 0 ||
        join(part, dir, want, ".part", err) < 0)
        return -1;
    int hit = try_cached(final, want, out, err);
    if (hit != 0)
        return hit < 0 ? -1 : 0;

    int fd;
    if (cache_lock_open(part, &fd, err) < 0)
        return -1;
    /* Another mkimage may have completed the same download while we waited. */
    hit = try_cached(final, want, out, err);
    if (hit != 0) {
        release_part(fd, part);
        return hit < 0 ? -1 : 0;
    }

    http_opts o = c->http;
    o.label = "download";
    o.dest = part;
    char sha[65], b3[65];
    uint64_t resumed_from = 0;
    for (int pass = 0;; pass++) {
        int rc = http_download(url, fd, &o, &resumed_from, err);
        if (rc < 0) {
            struct stat st;
            /* Keep a partial download to resume, unless it is empty or writing it
             * failed (a full disk should get its space back). */
            if (rc == -2 || (fstat(fd, &st) == 0 && st.st_size == 0))
                unlink(part);
            close(fd);
            return -1;
        }
        if (hash_file(part, sha, b3, err) < 0) {
            close(fd);
            return -1;
        }
        if (strcmp(sha, want) == 0)
            break;
        /* A resumed download may have joined two different versions of the file:
         * fetch it once more from scratch before blaming the source. */
        if (pass == 0 && resumed_from > 0 && ftruncate(fd, 0) == 0)
            continue;
        unlink(part);
        close(fd);
        return mk_fail(err, "%s: SHA-256 mismatch: expected %s, got %s", url, want, sha);
    }
    if (fsync(fd) < 0 || rename(part, final) < 0) {
        int e = errno;
        unlink(part);
        close(fd);
        return mk_fail_errno(err, e, "%s: cannot store in the cache", final);
    }
    sync_dir(dir);
    close(fd);
    return fill_result(final, sha, b3, false, out, err);
}

static void ctx_init(ctx *c, const fetch_request *rq)
{
    memset(c, 0, sizeof *c);
    c->rq = rq;
    c->http.connect_timeout_s = rq->connect_timeout_s > 0 ? rq->connect_timeout_s : DEFAULT_TIMEOUT_S;
    c->http.stall_timeout_s = rq->stall_timeout_s > 0 ? rq->stall_timeout_s : DEFAULT_TIMEOUT_S;
    c->http.retries = rq->retries == 0 ? DEFAULT_RETRIES : rq->retries < 0 ? 0 : rq->retries;
    c->http.retry_delay_ms = rq->retry_delay_ms > 0 ? rq->retry_delay_ms : 1000;
}

int fetch_small(const fetch_request *rq, const char *url, size_t max, const char *label,
                char **data, size_t *len, bool *cached, mk_err *err)
{
    ctx c;
    ctx_init(&c, rq);
    return get_small(&c, url, max, label, data, len, cached, err);
}

void fetch_small_evict(const fetch_request *rq, const char *url)
{
    ctx c;
    ctx_init(&c, rq);
    evict_small(&c, url);
}

int fetch_verified(const fetch_request *rq, fetch_result *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    if (err)
        err->msg[0] = 0;
    ctx c;
    ctx_init(&c, rq);

    bool remote, have;
    char path[PATH_MAX], want[65];
    if (url_classify(rq->url, &remote, path, err) < 0 || expected_digest(&c, want, &have, err) < 0)
        return -1;
    if (remote) {
        if (!have)
            return mk_fail(err, "%s: no checksum to verify against (give a SHA-256 or a "
                                "checksum list)", rq->url);
        return fetch_remote(&c, want, out, err);
    }
    char sha[65], b3[65];
    if (hash_file(path, sha, b3, err) < 0)
        return -1;
    if (have && strcmp(sha, want) != 0)
        return mk_fail(err, "%s: SHA-256 mismatch: expected %s, got %s", path, want, sha);
    return fill_result(path, sha, b3, false, out, err);
}
