/* Minimal bridge host used by the guest daemon's socket tests: raw frames through proto.h,
 * no host library, so these tests check revm-guestd against PROTOCOL.md on their own.
 * Header-only (static functions): included by tests/test_guest_*.c. */
#ifndef TESTS_GUEST_CLIENT_H
#define TESTS_GUEST_CLIENT_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

#define TC_TIMEOUT_MS 15000
#define TC_WINDOW (64u * 1024u) /* our (host) window: small, so credit is exercised */

typedef struct tc_conn {
    int fd;
    proto_reader rd;
    uint8_t rbuf[PROTO_HDR_SIZE + PROTO_DEFAULT_MAX_FRAME];
    uint8_t in[65536];
    size_t in_len, in_off;
    /* last frame */
    proto_hdr h;
    uint8_t pl[PROTO_DEFAULT_MAX_FRAME];
    uint32_t guest_window, max_frame;
} tc_conn;

static inline int64_t tc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void tc_die(const char *what)
{
    fprintf(stderr, "test client: %s\n", what);
    abort();
}

static inline void tc_write(tc_conn *c, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(c->fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            if (errno == EPIPE || errno == ECONNRESET)
                return; /* the daemon may legitimately have closed it */
            tc_die("write");
        }
        b += w;
        n -= (size_t)w;
    }
}

static inline tc_conn *tc_new(int fd)
{
    tc_conn *c = calloc(1, sizeof *c);
    c->fd = fd;
    proto_reader_init(&c->rd, c->rbuf, PROTO_DEFAULT_MAX_FRAME);
    return c;
}

static inline void tc_free(tc_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

/* Next frame into c->h / c->pl. 1 = frame, 0 = connection closed, -1 = timeout. */
static inline int tc_recv_ms(tc_conn *c, int ms)
{
    int64_t end = tc_now() + ms;
    for (;;) {
        while (c->in_off < c->in_len) {
            size_t used;
            const uint8_t *p;
            int st = proto_reader_feed(&c->rd, c->in + c->in_off, c->in_len - c->in_off, &used,
                                       &c->h, &p);
            c->in_off += used;
            if (st == PROTO_BAD_FRAME)
                tc_die("oversized frame from the guest");
            if (st == PROTO_FRAME) {
                memcpy(c->pl, p, c->h.len);
                return 1;
            }
        }
        int64_t left = end - tc_now();
        if (left <= 0)
            return -1;
        struct pollfd pf = {.fd = c->fd, .events = POLLIN};
        int r = poll(&pf, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return -1;
        ssize_t n = read(c->fd, c->in, sizeof c->in);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return 0;
        c->in_len = (size_t)n;
        c->in_off = 0;
    }
}

static inline void tc_recv(tc_conn *c)
{
    int r = tc_recv_ms(c, TC_TIMEOUT_MS);
    if (r == 0)
        tc_die("connection closed while waiting for a frame");
    if (r < 0)
        tc_die("timeout waiting for a frame");
}

/* Skips CREDIT frames for stdin (the tests that care look at them explicitly). */
static inline void tc_recv_skip_credit(tc_conn *c)
{
    do
        tc_recv(c);
    while (c->h.type == PROTO_CREDIT);
}

static inline void tc_hello_ex(tc_conn *c, uint16_t vmin, uint16_t vmax)
{
    proto_hello h = {.version_min = vmin, .version_max = vmax,
                     .features = PROTO_F_EXEC | PROTO_F_PTY,
                     .max_frame = PROTO_DEFAULT_MAX_FRAME, .window = TC_WINDOW,
                     .agent = {"test client", 11}};
    uint8_t f[256];
    tc_write(c, f, proto_enc_hello(f, sizeof f, &h));
}

static inline void tc_hello(tc_conn *c)
{
    tc_hello_ex(c, 1, 1);
    tc_recv(c);
    if (c->h.type != PROTO_HELLO || c->h.chan != 0)
        tc_die("expected HELLO");
    proto_hello g;
    if (!proto_dec_hello(c->pl, c->h.len, &g))
        tc_die("malformed HELLO from the guest");
    c->guest_window = g.window;
    c->max_frame = g.max_frame < PROTO_DEFAULT_MAX_FRAME ? g.max_frame : PROTO_DEFAULT_MAX_FRAME;
}

typedef struct tc_exec {
    uint32_t flags;
    uint16_t rows, cols;
    const char *user, *cwd;
    const char *argv[16];
    const char *env[8];
} tc_exec;

static inline void tc_open(tc_conn *c, uint32_t chan, const tc_exec *e)
{
    static proto_exec_open m;
    memset(&m, 0, sizeof m);
    m.flags = e->flags;
    m.rows = e->rows;
    m.cols = e->cols;
    m.user = (proto_str){e->user ? e->user : "", e->user ? (uint32_t)strlen(e->user) : 0};
    m.cwd = (proto_str){e->cwd ? e->cwd : "", e->cwd ? (uint32_t)strlen(e->cwd) : 0};
    while (m.argc < 16 && e->argv[m.argc]) {
        m.argv[m.argc] = (proto_str){e->argv[m.argc], (uint32_t)strlen(e->argv[m.argc])};
        m.argc++;
    }
    while (m.envc < 8 && e->env[m.envc]) {
        m.env[m.envc] = (proto_str){e->env[m.envc], (uint32_t)strlen(e->env[m.envc])};
        m.envc++;
    }
    static uint8_t f[65536];
    size_t n = proto_enc_exec_open(f, sizeof f, chan, &m);
    if (!n)
        tc_die("OPEN too large");
    tc_write(c, f, n);
}

static inline void tc_data(tc_conn *c, uint32_t chan, uint8_t stream, const void *p, size_t n)
{
    uint8_t h[PROTO_HDR_SIZE + 1];
    tc_write(c, h, proto_enc_data_hdr(h, chan, stream, (uint32_t)n));
    tc_write(c, p, n);
}

static inline void tc_simple(tc_conn *c, size_t n, const uint8_t *f)
{
    tc_write(c, f, n);
}
#define TC_SEND(c, enc_call)                                                                   \
    do {                                                                                       \
        uint8_t f_[PROTO_HDR_SIZE + 64];                                                       \
        size_t n_ = enc_call;                                                                  \
        tc_simple(c, n_, f_);                                                                  \
    } while (0)
#define TCF f_, sizeof f_

/* Result of running one program to completion. */
typedef struct tc_result {
    char *out, *err;
    size_t out_len, err_len;
    bool opened;
    uint32_t pid;
    uint32_t err_code; /* CH_ERROR code when !opened */
    char err_text[512];
    proto_exit exit;
    bool got_exit, got_close, eof_out, eof_err;
} tc_result;

static inline void tc_result_free(tc_result *r)
{
    free(r->out);
    free(r->err);
}

static inline void tc_append(char **buf, size_t *len, const uint8_t *p, size_t n)
{
    *buf = realloc(*buf, *len + n + 1);
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = 0;
}

/* Handles one frame for channel chan in r; returns true when the channel is finished. */
static inline bool tc_handle(tc_conn *c, uint32_t chan, tc_result *r, uint32_t *stdin_credit)
{
    if (c->h.chan != chan) {
        fprintf(stderr, "got %s on channel %u, expected channel %u\n", proto_type_name(c->h.type),
                c->h.chan, chan);
        tc_die("frame for an unexpected channel");
    }
    uint8_t s;
    const uint8_t *d;
    size_t dn;
    uint32_t b;
    proto_str t;
    switch (c->h.type) {
    case PROTO_OPEN_OK:
        if (!proto_dec_open_ok(c->pl, c->h.len, &r->pid))
            tc_die("bad OPEN_OK");
        r->opened = true;
        return false;
    case PROTO_CH_ERROR:
        if (!proto_dec_error(c->pl, c->h.len, &r->err_code, &t))
            tc_die("bad CH_ERROR");
        snprintf(r->err_text, sizeof r->err_text, "%.*s", (int)t.n, t.s);
        return true;
    case PROTO_DATA:
        if (!proto_dec_data(c->pl, c->h.len, &s, &d, &dn) || s == 0)
            tc_die("bad DATA");
        if (s == 1)
            tc_append(&r->out, &r->out_len, d, dn);
        else
            tc_append(&r->err, &r->err_len, d, dn);
        if (dn)
            TC_SEND(c, proto_enc_credit(TCF, chan, s, (uint32_t)dn));
        return false;
    case PROTO_EOF:
        if (!proto_dec_stream(c->pl, c->h.len, &s))
            tc_die("bad EOF");
        if (s == 1)
            r->eof_out = true;
        else
            r->eof_err = true;
        return false;
    case PROTO_CREDIT:
        if (!proto_dec_credit(c->pl, c->h.len, &s, &b) || s != 0)
            tc_die("bad CREDIT");
        *stdin_credit += b;
        return false;
    case PROTO_EXIT:
        if (!proto_dec_exit(c->pl, c->h.len, &r->exit))
            tc_die("bad EXIT");
        r->got_exit = true;
        return false;
    case PROTO_CLOSE:
        r->got_close = true;
        TC_SEND(c, proto_enc_empty(TCF, PROTO_CLOSE, chan));
        return true;
    default:
        tc_die("unexpected frame type");
        return true;
    }
}

/* Runs e on chan, feeding in (NULL: EOF right away; send_eof false: keep stdin open). */
static inline void tc_run_ex(tc_conn *c, uint32_t chan, const tc_exec *e, const void *in, size_t in_len,
                      bool send_eof, tc_result *r)
{
    memset(r, 0, sizeof *r);
    tc_open(c, chan, e);
    uint32_t credit = c->guest_window;
    size_t off = 0;
    bool eof_sent = false;
    for (;;) {
        /* Input only after OPEN_OK: pipelined behind a failing OPEN it would earn an extra
         * CH_ERROR EBADF (the channel was never open). */
        while (r->opened && off < in_len && credit > 0) {
            size_t n = in_len - off;
            if (n > credit)
                n = credit;
            if (n > c->max_frame - 1)
                n = c->max_frame - 1;
            tc_data(c, chan, 0, (const uint8_t *)in + off, n);
            off += n;
            credit -= (uint32_t)n;
        }
        if (r->opened && off == in_len && send_eof && !eof_sent) {
            TC_SEND(c, proto_enc_stream(TCF, PROTO_EOF, chan, 0));
            eof_sent = true;
        }
        tc_recv(c);
        if (tc_handle(c, chan, r, &credit))
            return;
    }
}

static inline void tc_run(tc_conn *c, uint32_t chan, const tc_exec *e, const char *in, tc_result *r)
{
    tc_run_ex(c, chan, e, in, in ? strlen(in) : 0, true, r);
}

/* ---- daemon processes ---- */

static inline const char *tc_guestd_path(void)
{
    static char p[4096];
    /* REVM_GUESTD: run the same tests against another build (the static musl one) */
    const char *over = getenv("REVM_GUESTD");
    if (over && *over)
        return over;
    const char *b = getenv("BUILD");
    snprintf(p, sizeof p, "%s/tests/bin/revm-guestd", b ? b : "build");
    return p;
}

/* Starts revm-guestd --fd on one end of a socketpair; returns the connection. */
static inline tc_conn *tc_spawn_fd(pid_t *pid)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        tc_die("socketpair");
    *pid = fork();
    if (*pid == 0) {
        dup2(sv[1], 3);
        execl(tc_guestd_path(), "revm-guestd", "--fd", "3", (char *)NULL);
        _exit(126);
    }
    close(sv[1]);
    return tc_new(sv[0]);
}

static inline pid_t tc_spawn_listen(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        char arg[200];
        snprintf(arg, sizeof arg, "unix:%.100s", path);
        execl(tc_guestd_path(), "revm-guestd", "--listen", arg, (char *)NULL);
        _exit(126);
    }
    return pid;
}

static inline tc_conn *tc_connect(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%.100s", path);
    for (int i = 0; i < 500; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            return tc_new(fd);
        close(fd);
        usleep(10000);
    }
    tc_die("cannot connect to the daemon");
    return NULL;
}

/* Ends the daemon with SIGTERM and returns its exit status (or -1 if it had to be killed). */
static inline int tc_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 500; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static inline bool tc_alive(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == 0;
}

#endif
