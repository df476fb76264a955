/* The fetch path end to end against tests/support/httpd.py on loopback: download
 * and verify, cache hits without requests, resume, retries, timeouts, HTTP errors,
 * checksum lists (signed and not), local sources. The server is started once for
 * the whole group and killed in the teardown; each test uses its own cache dir. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "checksum.h"
#include "fetch.h"
#include "fetch_url.h"
#include "progress.h"
#include "test_support.h"

#define PAYLOAD_SIZE (2u << 20)

static struct {
    char dir[PATH_MAX];  /* scratch root for this run */
    char www[PATH_MAX];  /* served directory */
    char log[PATH_MAX];  /* server request log */
    char base[128];      /* http://127.0.0.1:PORT */
    char sha[65], b3[65];
    pid_t server;
    bool have_minisign;
    int cache_seq;
} g;

/* ---- helpers ---- */

static void pathf(char out[PATH_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char out[PATH_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, PATH_MAX, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && n < PATH_MAX);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Number of requests the server logged, optionally only those containing needle. */
static int requests(const char *needle)
{
    FILE *f = fopen(g.log, "r");
    if (!f)
        return 0;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (!needle || strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

static void url(char out[PATH_MAX], const char *path) { pathf(out, "%s%s", g.base, path); }

/* A fresh, empty cache directory for one test. */
static void new_cache(char out[PATH_MAX])
{
    pathf(out, "%s/cache%d", g.dir, ++g.cache_seq);
}

static void cache_file(char out[PATH_MAX], const char *cache, const char *suffix)
{
    pathf(out, "%s/sha256/%s%s", cache, g.sha, suffix);
}

/* ---- fixture: payload, checksum lists, signature, server ---- */

static int start_server(void)
{
    char port_file[PATH_MAX], script[PATH_MAX];
    const char *top = getenv("TOP");
    pathf(port_file, "%s/port", g.dir);
    pathf(script, "%s/tests/support/httpd.py", top ? top : "..");
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a crashed test */
        execlp("python3", "python3", script, "--root", g.www, "--port-file", port_file, "--log",
               g.log, "--stall-bytes", "4096", (char *)NULL);
        _exit(127);
    }
    g.server = pid;
    for (int i = 0; i < 200; i++) { /* up to 10 s for python to start */
        FILE *f = fopen(port_file, "r");
        int port = 0;
        if (f) {
            int ok = fscanf(f, "%d", &port);
            fclose(f);
            if (ok == 1 && port > 0) {
                ts_snprintf(g.base, sizeof g.base, "http://127.0.0.1:%d", port);
                return 0;
            }
        }
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static int group_setup(void **state)
{
    (void)state;
    progress_set_quiet(true);
    const char *build = getenv("BUILD");
    ts_snprintf(g.dir, sizeof g.dir, "%s/tmp/test_fetch.%ld", build ? build : "/tmp", (long)getpid());
    ts_snprintf(g.www, sizeof g.www, "%s/www", g.dir);
    ts_snprintf(g.log, sizeof g.log, "%s/requests.log", g.dir);
    char cmd[PATH_MAX + 64];
    ts_snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", g.dir, g.www);
    if (run(cmd) != 0)
        return -1;

    /* Pseudo-random payload: content is irrelevant to fetch, only its digests. */
    uint8_t *buf = malloc(PAYLOAD_SIZE);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < PAYLOAD_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)(x >> 24);
    }
    char p[PATH_MAX];
    /* Several names for the same bytes, so fault modes that count requests per
     * path (flaky, truncate) start fresh in each test. */
    static const char *names[] = {"void-x86_64-musl-ROOTFS-20250202.tar.xz", "a.tar.xz", "b.tar.xz",
                                  "c.tar.xz", "d.tar.xz", "e.tar.xz", "f.tar.xz", "g.tar.xz"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        ts_snprintf(p, sizeof p, "%s/%s", g.www, names[i]);
        write_file(p, buf, PAYLOAD_SIZE);
    }
    free(buf);
    ts_snprintf(p, sizeof p, "%s/a.tar.xz", g.www);
    mk_err err;
    if (hash_file(p, g.sha, g.b3, &err) < 0)
        return -1;

    /* BSD list as Void publishes it, a GNU one, and one lacking our file. */
    char text[1024];
    ts_snprintf(text, sizeof text,
                     "SHA256 (void-x86_64-ROOTFS-20250202.tar.xz) = %064d\n"
                     "SHA256 (void-x86_64-musl-ROOTFS-20250202.tar.xz) = %s\n"
                     "SHA256 (a.tar.xz) = %s\n",
                     0, g.sha, g.sha);
    ts_snprintf(p, sizeof p, "%s/sha256sum.txt", g.www);
    write_file(p, text, strlen(text));
    ts_snprintf(text, sizeof text, "%s  b.tar.xz\n%s *c.tar.xz\n", g.sha, g.sha);
    ts_snprintf(p, sizeof p, "%s/gnu.sums", g.www);
    write_file(p, text, strlen(text));
    ts_snprintf(p, sizeof p, "%s/other.sums", g.www);
    write_file(p, "SHA256 (zzz.tar.xz) = 00\n", 25);

    /* A key pair and a signature over sha256sum.txt made by the real minisign. */
    g.have_minisign = run("command -v minisign >/dev/null 2>&1") == 0;
    if (g.have_minisign) {
        char sign[4 * PATH_MAX];
        ts_snprintf(sign, sizeof sign,
                 "cd '%s' && minisign -G -W -p test.pub -s test.key >/dev/null && "
                 "minisign -S -s test.key -m www/sha256sum.txt -x www/sha256sum.sig "
                 "-t 'test release' >/dev/null && "
                 "minisign -G -W -p other.pub -s other.key >/dev/null",
                 g.dir);
        if (run(sign) != 0)
            return -1;
    }
    return start_server();
}

static int group_teardown(void **state)
{
    (void)state;
    if (g.server > 0) {
        kill(g.server, SIGTERM);
        waitpid(g.server, NULL, 0);
    }
    if (!getenv("KEEP_TMP")) {
        char cmd[PATH_MAX + 16];
        ts_snprintf(cmd, sizeof cmd, "rm -rf '%s'", g.dir);
        run(cmd);
    }
    return 0;
}

static fetch_request base_request(const char *u, const char *cache)
{
    return (fetch_request){.url = u, .cache_dir = cache, .retry_delay_ms = 10};
}

/* ---- tests ---- */

static void test_download_verify_then_cache_hit(void **state)
{
    (void)state;
    char u[PATH_MAX], cache[PATH_MAX], final[PATH_MAX];
    url(u, "/a.tar.xz");
    new_cache(cache);
    fetch_request rq = base_request(u, cache);
    rq.sha256 = g.sha;
    fetch_result r;
    mk_err err = {""};
    int before = requests(NULL);
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_string_equal(err.msg, "");
    assert_false(r.from_cache);
    assert_string_equal(r.sha256, g.sha);
    assert_string_equal(r.blake3, g.b3);
    assert_int_equal(r.size, PAYLOAD_SIZE);
    cache_file(final, cache, "");
    assert_string_equal(r.path, final);
    assert_int_equal(requests(NULL), before + 1);

    /* Second run: served from the cache with no request at all. */
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_true(r.from_cache);
    assert_string_equal(r.blake3, g.b3);
    assert_int_equal(requests(NULL), before + 1);

    /* An upper-case pinned digest is the same digest. */
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(g.sha[i] >= 'a' && g.sha[i] <= 'f' ? g.sha[i] - 32 : g.sha[i]);
    rq.sha256 = upper;
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_true(r.from_cache);
}

static void test_sums_file_lookup_and_cache(void **state)
{
    (void)state;
    char u[PATH_MAX], sums[PATH_MAX], cache[PATH_MAX];
    url(u, "/void-x86_64-musl-ROOTFS-20250202.tar.xz");
    url(sums, "/sha256sum.txt");
    new_cache(cache);
    fetch_request rq = base_request(u, cache);
    rq.sums_url = sums;
    fetch_result r;
    mk_err err = {""};
    int before = requests(NULL);
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_string_equal(r.sha256, g.sha);
    assert_int_equal(requests(NULL), before + 2); /* the list, then the tarball */

    /* The default-style run again: list cached by URL, file by digest: no request. */
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_true(r.from_cache);
    assert_int_equal(requests(NULL), before + 2);

    /* GNU style list, text and binary mode entries. */
    char gnu[PATH_MAX];
    url(gnu, "/gnu.sums");
    url(u, "/b.tar.xz");
    rq.sums_url = gnu;
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    url(u, "/c.tar.xz");
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);

    /* A pinned digest and the list must agree. */
    char zero[65];
    memset(zero, '0', 64);
    zero[64] = 0;
    rq.sums_url = sums;
    url(u, "/a.tar.xz");
    rq.sha256 = zero;
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    assert_non_null(strstr(err.msg, "differs from"));

    /* A stale list in the cache (its URL's content changed upstream, as a "current"
     * directory does at each release) is fetched again once. */
    char stale_cache[PATH_MAX], key[65], stale[PATH_MAX], cmd[2 * PATH_MAX];
    new_cache(stale_cache);
    sha256_hex_of(sums, strlen(sums), key);
    pathf(stale, "%s/url/%s", stale_cache, key);
    ts_snprintf(cmd, sizeof cmd, "mkdir -p '%s/url' && echo 'SHA256 (old.tar.xz) = %s' > '%s'",
              stale_cache, g.sha, stale);
    assert_int_equal(run(cmd), 0);
    rq = base_request(u, stale_cache);
    rq.sums_url = sums;
    before = requests(NULL);
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_int_equal(requests(NULL), before + 2);

    /* The file is not listed. */
    char other[PATH_MAX];
    url(other, "/other.sums");
    rq.sha256 = NULL;
    rq.sums_url = other;
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    assert_non_null(strstr(err.msg, "a.tar.xz: no SHA-256 entry"));
}

static void test_signed_sums(void **state)
{
    (void)state;
    if (!g.have_minisign)
        skip();
    char u[PATH_MAX], sums[PATH_MAX], sig[PATH_MAX], pub[PATH_MAX], cache[PATH_MAX];
    url(u, "/void-x86_64-musl-ROOTFS-20250202.tar.xz");
    url(sums, "/sha256sum.txt");
    url(sig, "/sha256sum.sig");
    pathf(pub, "%s/test.pub", g.dir);
    new_cache(cache);
    fetch_request rq = base_request(u, cache);
    rq.sums_url = sums;
    rq.sig_url = sig;
    rq.pubkey = pub;
    fetch_result r;
    mk_err err = {""};
    int before = requests(NULL);
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_int_equal(requests(NULL), before + 3);
    /* Again: list, signature and file all come from the cache. */
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_true(r.from_cache);
    assert_int_equal(requests(NULL), before + 3);

    /* The key as a base64 string (second line of the .pub file). */
    char cmd[PATH_MAX + 32], key[128] = "";
    ts_snprintf(cmd, sizeof cmd, "sed -n 2p '%s'", pub);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(key, sizeof key, p));
    pclose(p);
    key[strcspn(key, "\n")] = 0;
    rq.pubkey = key;
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);

    /* Another key: refused before any tarball byte is trusted. */
    char other_pub[PATH_MAX], cache2[PATH_MAX], final[PATH_MAX];
    pathf(other_pub, "%s/other.pub", g.dir);
    new_cache(cache2);
    rq.cache_dir = cache2;
    rq.pubkey = other_pub;
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    assert_non_null(strstr(err.msg, sig));
    assert_non_null(strstr(err.msg, "not with the given key"));
    cache_file(final, cache2, "");
    assert_false(exists(final));

    /* A list that is not the signed one. */
    char gnu[PATH_MAX];
    url(gnu, "/gnu.sums");
    url(u, "/b.tar.xz");
    rq.url = u;
    rq.sums_url = gnu;
    rq.pubkey = pub;
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    assert_non_null(strstr(err.msg, "signature verification failed"));

    /* A signature without a key. */
    rq.pubkey = NULL;
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    assert_non_null(strstr(err.msg, "public key is needed"));
}

static void test_wrong_checksum_leaves_nothing(void **state)
{
    (void)state;
    char u[PATH_MAX], cache[PATH_MAX], final[PATH_MAX], part[PATH_MAX];
    url(u, "/d.tar.xz");
    new_cache(cache);
    char wrong[65];
    memcpy(wrong, g.sha, 65);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    fetch_request rq = base_request(u, cache);
    rq.sha256 = wrong;
    fetch_result r;
    mk_err err = {""};
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    char want[PATH_MAX + 256];
    ts_snprintf(want, sizeof want, "%s: SHA-256 mismatch: expected %s, got %s", u, wrong, g.sha);
    assert_string_equal(err.msg, want);
    pathf(final, "%s/sha256/%s", cache, wrong);
    pathf(part, "%s/sha256/%s.part", cache, wrong);
    assert_false(exists(final));
    assert_false(exists(part));
    assert_null(strchr(err.msg, '\n'));
}

static void test_http_404(void **state)
{
    (void)state;
    char u[PATH_MAX], cache[PATH_MAX], final[PATH_MAX], part[PATH_MAX];
    url(u, "/404/a.tar.xz");
    new_cache(cache);
    fetch_request rq = base_request(u, cache);
    rq.sha256 = g.sha;
    fetch_result r;
    mk_err err = {""};
    int before = requests(NULL);
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    char want[PATH_MAX + 16];
    ts_snprintf(want, sizeof want, "%s: HTTP 404", u);
    assert_string_equal(err.msg, want);
    assert_int_equal(requests(NULL), before + 1); /* a 404 is not retried */
    cache_file(final, cache, "");
    cache_file(part, cache, ".part");
    assert_false(exists(final));
    assert_false(exists(part));

    /* A missing checksum list is reported as such. */
    char sums[PATH_MAX];
    url(sums, "/404/sha256sum.txt");
    url(u, "/a.tar.xz");
    rq.sha256 = NULL;
    rq.sums_url = sums;
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    ts_snprintf(want, sizeof want, "%s: HTTP 404", sums);
    assert_string_equal(err.msg, want);
}

static void test_stall_times_out(void **state)
{
    (void)state;
    char u[PATH_MAX], cache[PATH_MAX], final[PATH_MAX];
    url(u, "/stall/a.tar.xz");
    new_cache(cache);
    fetch_request rq = base_request(u, cache);
    rq.sha256 = g.sha;
    rq.stall_timeout_s = 1;
    rq.retries = -1;
    fetch_result r;
    mk_err err = {""};
    time_t t0 = time(NULL);
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    assert_true(time(NULL) - t0 < 10);
    char want[PATH_MAX + 64];
    ts_snprintf(want, sizeof want, "%s: stalled: no data for 1 s", u);
    assert_string_equal(err.msg, want);
    cache_file(final, cache, "");
    assert_false(exists(final));
}

static void test_retries_on_503(void **state)
{
    (void)state;
    char u[PATH_MAX], cache[PATH_MAX];
    url(u, "/flaky/a.tar.xz"); /* 503 twice, then the file */
    new_cache(cache);
    fetch_request rq = base_request(u, cache);
    rq.sha256 = g.sha;
    fetch_result r;
    mk_err err = {""};
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_int_equal(requests("/flaky/a.tar.xz"), 3);

    /* With too few retries it gives up, saying so. */
    url(u, "/flaky/b.tar.xz");
    new_cache(cache);
    rq = base_request(u, cache);
    rq.sha256 = g.sha;
    rq.retries = 1;
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    char want[PATH_MAX + 64];
    ts_snprintf(want, sizeof want, "%s: HTTP 503 (gave up after 2 attempts)", u);
    assert_string_equal(err.msg, want);
}

static void test_resume_after_truncation(void **state)
{
    (void)state;
    char u[PATH_MAX], cache[PATH_MAX], part[PATH_MAX], final[PATH_MAX], range[64];
    ts_snprintf(range, sizeof range, "range=bytes=%u-", PAYLOAD_SIZE / 2);

    /* Within one run: the retry resumes where the cut connection stopped. */
    url(u, "/truncate/a.tar.xz");
    new_cache(cache);
    fetch_request rq = base_request(u, cache);
    rq.sha256 = g.sha;
    fetch_result r;
    mk_err err = {""};
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_int_equal(requests("/truncate/a.tar.xz"), 2);
    assert_int_equal(requests(range), 1);

    /* Across runs: the first run fails and keeps the partial file, the next one
     * asks only for the rest. */
    url(u, "/truncate/b.tar.xz");
    new_cache(cache);
    rq = base_request(u, cache);
    rq.sha256 = g.sha;
    rq.retries = -1;
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    assert_non_null(strstr(err.msg, u));
    cache_file(part, cache, ".part");
    cache_file(final, cache, "");
    assert_false(exists(final));
    struct stat st;
    assert_int_equal(stat(part, &st), 0);
    assert_int_equal(st.st_size, PAYLOAD_SIZE / 2);
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_int_equal(requests(range), 2);
    assert_false(exists(part));
    assert_true(exists(final));
}

static void test_resume_edge_cases(void **state)
{
    (void)state;
    char u[PATH_MAX], cache[PATH_MAX], part[PATH_MAX], src[PATH_MAX], cmd[3 * PATH_MAX];
    fetch_result r;
    mk_err err = {""};

    /* A server that ignores Range: the download starts over and still verifies. */
    url(u, "/norange/e.tar.xz");
    new_cache(cache);
    cache_file(part, cache, ".part");
    pathf(src, "%s/e.tar.xz", g.www);
    ts_snprintf(cmd, sizeof cmd, "mkdir -p '%s/sha256' && head -c 1000 '%s' > '%s'", cache, src, part);
    assert_int_equal(run(cmd), 0);
    fetch_request rq = base_request(u, cache);
    rq.sha256 = g.sha;
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_string_equal(r.sha256, g.sha);

    /* A partial file that is not a prefix of the source: detected by the digest,
     * fetched again from scratch. */
    url(u, "/f.tar.xz");
    new_cache(cache);
    cache_file(part, cache, ".part");
    ts_snprintf(cmd, sizeof cmd, "mkdir -p '%s/sha256' && head -c 5000 /dev/zero > '%s'", cache, part);
    assert_int_equal(run(cmd), 0);
    rq = base_request(u, cache);
    rq.sha256 = g.sha;
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_int_equal(requests("GET /f.tar.xz range=bytes=5000-"), 1);
    assert_int_equal(requests("GET /f.tar.xz"), 2);

    /* A complete partial file (killed before the rename): 416, then verified. */
    url(u, "/g.tar.xz");
    new_cache(cache);
    cache_file(part, cache, ".part");
    pathf(src, "%s/g.tar.xz", g.www);
    ts_snprintf(cmd, sizeof cmd, "mkdir -p '%s/sha256' && cp '%s' '%s'", cache, src, part);
    assert_int_equal(run(cmd), 0);
    rq = base_request(u, cache);
    rq.sha256 = g.sha;
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_false(r.from_cache);
    assert_int_equal(requests("GET /g.tar.xz"), 1);

    /* A corrupted cache entry is replaced, not trusted. */
    char final[PATH_MAX];
    cache_file(final, cache, "");
    ts_snprintf(cmd, sizeof cmd, "printf x >> '%s'", final);
    assert_int_equal(run(cmd), 0);
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_false(r.from_cache);
    assert_int_equal(r.size, PAYLOAD_SIZE);
}

/* Several mkimage runs fetching the same file into one cache at once: all get a
 * verified file, and no partial file is left behind. */
static void test_concurrent_fetches(void **state)
{
    (void)state;
    char u[PATH_MAX], cache[PATH_MAX], part[PATH_MAX], final[PATH_MAX];
    url(u, "/b.tar.xz");
    new_cache(cache);
    cache_file(part, cache, ".part");
    cache_file(final, cache, "");
    int before = requests("/b.tar.xz");
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            fetch_request rq = base_request(u, cache);
            rq.sha256 = g.sha;
            fetch_result r;
            mk_err err;
            _exit(fetch_verified(&rq, &r, &err) == 0 && strcmp(r.sha256, g.sha) == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 3; i++) {
        int st;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    int n = requests("/b.tar.xz") - before;
    assert_true(n >= 1 && n <= 3);
    assert_true(exists(final));
    assert_false(exists(part));
}

/* Writing the download fails (here: a file size limit standing in for a full
 * disk): the error names the file, and the partial file is removed to give the
 * space back. */
static void test_local_write_error(void **state)
{
    (void)state;
    char u[PATH_MAX], cache[PATH_MAX], part[PATH_MAX], final[PATH_MAX];
    url(u, "/a.tar.xz");
    new_cache(cache);
    cache_file(part, cache, ".part");
    cache_file(final, cache, "");
    fetch_request rq = base_request(u, cache);
    rq.sha256 = g.sha;
    fetch_result r;
    mk_err err = {""};
    struct rlimit old, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = PAYLOAD_SIZE / 4;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN); /* get EFBIG instead of a signal */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = fetch_verified(&rq, &r, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, -1);
    char want[PATH_MAX + 64];
    ts_snprintf(want, sizeof want, "%s: cannot write: File too large", part);
    assert_string_equal(err.msg, want);
    assert_false(exists(part));
    assert_false(exists(final));
}

static void test_local_sources(void **state)
{
    (void)state;
    char path[PATH_MAX], furl[PATH_MAX + 8], cache[PATH_MAX];
    pathf(path, "%s/a.tar.xz", g.www);
    ts_snprintf(furl, sizeof furl, "file://%s", path);
    new_cache(cache);
    fetch_request rq = base_request(path, cache);
    rq.sha256 = g.sha;
    fetch_result r;
    mk_err err = {""};
    int before = requests(NULL);
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_string_equal(r.path, path);
    assert_false(r.from_cache);
    assert_string_equal(r.blake3, g.b3);
    assert_false(exists(cache)); /* verified in place, not copied */

    rq.url = furl;
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_string_equal(r.path, path);

    /* Local checksum list, and no digest at all (only hashed). */
    char sums[PATH_MAX];
    pathf(sums, "%s/sha256sum.txt", g.www);
    rq.sha256 = NULL;
    rq.sums_url = sums;
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    rq.sums_url = NULL;
    assert_int_equal(fetch_verified(&rq, &r, &err), 0);
    assert_string_equal(r.sha256, g.sha);
    assert_int_equal(requests(NULL), before);

    /* Mismatch and absence are errors. */
    char zero[65];
    memset(zero, '0', 64);
    zero[64] = 0;
    rq.sha256 = zero;
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    assert_non_null(strstr(err.msg, "SHA-256 mismatch"));
    pathf(path, "%s/missing.tar.xz", g.www);
    rq.url = path;
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    char want[PATH_MAX + 64];
    ts_snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    assert_string_equal(err.msg, want);
}

static void test_request_errors(void **state)
{
    (void)state;
    char u[PATH_MAX], cache[PATH_MAX];
    fetch_result r;
    mk_err err = {""};
    url(u, "/a.tar.xz");
    new_cache(cache);
    fetch_request rq = base_request(u, cache);
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    assert_non_null(strstr(err.msg, "no checksum to verify against"));

    rq.sha256 = "1234";
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    assert_string_equal(err.msg, "1234: not a SHA-256 digest (64 hex digits)");

    rq = base_request("ftp://example.invalid/x.tar.xz", cache);
    rq.sha256 = g.sha;
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    assert_non_null(strstr(err.msg, "unsupported URL scheme"));

    /* Nothing listens: a connection error naming the URL, quickly. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
    close(s);
    ts_snprintf(u, sizeof u, "http://127.0.0.1:%d/x.tar.xz", ntohs(a.sin_port));
    rq = base_request(u, cache);
    rq.sha256 = g.sha;
    rq.retries = -1;
    assert_int_equal(fetch_verified(&rq, &r, &err), -1);
    assert_true(strncmp(err.msg, u, strlen(u)) == 0);
    assert_null(strchr(err.msg, '\n'));
}

/* URL parsing (no server involved). */
static void test_url_helpers(void **state)
{
    (void)state;
    char name[256], path[PATH_MAX];
    bool remote;
    mk_err err = {""};
    static const char *const ok[][2] = {
        {"https://repo-default.voidlinux.org/live/20250202/void-x86_64-musl-ROOTFS-20250202.tar.xz",
         "void-x86_64-musl-ROOTFS-20250202.tar.xz"},
        {"http://h:8080/a/b%20c.tar.xz?token=1#frag", "b c.tar.xz"},
        {"HTTP://h/x.tar", "x.tar"},
        {"file:///srv/rootfs/x.tar.xz", "x.tar.xz"},
        {"/srv/rootfs/y.tar.xz", "y.tar.xz"},
        {"relative.tar.xz", "relative.tar.xz"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(url_filename(ok[i][0], name, sizeof name, &err), 0);
        assert_string_equal(name, ok[i][1]);
    }
    static const char *const bad[] = {"http://h/", "http://h", "http://h/a/%2F", "http://h/..",
                                      "http://h/a%00b", "/srv/dir/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(url_filename(bad[i], name, sizeof name, &err), -1);

    assert_int_equal(url_classify("file://localhost/srv/a%20b.tar", &remote, path, &err), 0);
    assert_false(remote);
    assert_string_equal(path, "/srv/a b.tar");
    assert_int_equal(url_classify("https://h/x", &remote, path, &err), 0);
    assert_true(remote);
    assert_int_equal(url_classify("file://otherhost/x", &remote, path, &err), -1);
    assert_int_equal(url_classify("gopher://h/x", &remote, path, &err), -1);
    assert_string_equal(err.msg, "gopher://h/x: unsupported URL scheme (use http, https, file or a path)");
    assert_int_equal(url_classify("", &remote, path, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_download_verify_then_cache_hit),
        cmocka_unit_test(test_sums_file_lookup_and_cache),
        cmocka_unit_test(test_signed_sums),
        cmocka_unit_test(test_wrong_checksum_leaves_nothing),
        cmocka_unit_test(test_http_404),
        cmocka_unit_test(test_stall_times_out),
        cmocka_unit_test(test_retries_on_503),
        cmocka_unit_test(test_resume_after_truncation),
        cmocka_unit_test(test_resume_edge_cases),
        cmocka_unit_test(test_concurrent_fetches),
        cmocka_unit_test(test_local_write_error),
        cmocka_unit_test(test_local_sources),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_url_helpers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
