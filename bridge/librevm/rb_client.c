/* Exec sessions over an RB_HOST connection (see rb_client.h). */
#include "rb_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_text.h"

/* Stop reading local stdin while this much is queued towards the guest: credit already
 * bounds it, this only keeps the queue short when the stream itself is slow. */
#define OUTQ_HIGH (1u << 20)
/* Legitimate traffic never queues this much (stdin is bounded by credit, replies are tiny):
 * only a guest that floods requests without reading the answers gets here. */
#define OUTQ_FAIL (16u << 20)

struct rb_exec {
    rb_client *cl;
    uint32_t id;
    int fd[3];               /* in, out, err */
    bool pty;
    rb_exec_status st;
    bool close_sent, close_rcvd, errored;
    bool in_eof_sent, in_eof_local;
    bool sigpipe;            /* local stdout/stderr reader went away */
    uint32_t send_credit;    /* stdin bytes the guest will still accept */
    uint32_t recv_avail[3];  /* stdout/stderr bytes the guest may still send */
    bool eof_rcvd[3];
    rb_buf pend[3];          /* received, not yet written locally */
    uint32_t to_credit[3];   /* written locally, credit not yet returned */
};

enum slot_kind { SLOT_CONN, SLOT_IN, SLOT_OUT };
typedef struct slot {
    enum slot_kind kind;
    rb_exec *e;
    int stream;
} slot;

struct rb_client {
    rb_conn conn;
    rb_exec **ex;
    size_t n_ex, cap_ex;
    uint32_t next_id;
    slot *slots;
    size_t n_slots;
    uint8_t *inbuf;
    size_t inbuf_cap;
    void (*log)(void *, const char *);
    void *log_ctx;
};

static void c_log(rb_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void c_log(rb_client *c, const char *fmt, ...)
{
    if (!c->log)
        return;
    char m[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    c->log(c->log_ctx, m);
}

static void conn_log(void *ctx, const char *msg)
{
    rb_client *c = ctx;
    c_log(c, "%s", msg);
}

static void on_frame(void *ctx, const proto_hdr *h, const uint8_t *pl);
static void on_ready(void *ctx, bool reset);
static const rb_conn_ops client_ops = {.frame = on_frame, .ready = on_ready, .log = conn_log};

rb_client *rb_client_new(int fd, const rb_conn_cfg *cfg, char *err, size_t errlen)
{
    rb_client *c = calloc(1, sizeof *c);
    rb_conn_cfg def = {.features = PROTO_F_EXEC | PROTO_F_PTY, .agent = "revm host 0.1",
                       .ping_interval_ms = RB_PING_INTERVAL_MS};
    if (!c || rb_conn_init(&c->conn, fd, RB_HOST, cfg ? cfg : &def, &client_ops, c) < 0) {
        snprintf(err, errlen, "out of memory");
        if (c)
            free(c);
        close(fd);
        return NULL;
    }
    c->next_id = 1;
    return c;
}

static void exec_free(rb_exec *e)
{
    for (int s = 0; s < 3; s++)
        rb_buf_free(&e->pend[s]);
    free(e);
}

void rb_client_free(rb_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_ex; i++)
        exec_free(c->ex[i]);
    free(c->ex);
    free(c->slots);
    free(c->inbuf);
    rb_conn_destroy(&c->conn);
    free(c);
}

void rb_client_set_log(rb_client *c, void (*log)(void *, const char *), void *ctx)
{
    c->log = log;
    c->log_ctx = ctx;
}

int rb_client_handshake(rb_client *c, int timeout_ms, char *err, size_t errlen)
{
    if (rb_conn_handshake(&c->conn, -1, timeout_ms) < 0) {
        snprintf(err, errlen, "%s", c->conn.why);
        return -1;
    }
    return 0;
}

const rb_params *rb_client_params(const rb_client *c) { return &c->conn.p; }
rb_conn *rb_client_conn(rb_client *c) { return &c->conn; }
const char *rb_client_error(const rb_client *c) { return c->conn.dead ? c->conn.why : ""; }
const rb_exec_status *rb_exec_result(const rb_exec *e) { return &e->st; }

/* ---- ending sessions ---- */

static int code_for_error(uint32_t err)
{
    switch (err) {
    case PROTO_ENOENT: return 127; /* as a shell reports "command not found" */
    case PROTO_EACCES: return 126;
    default: return 255;
    }
}

static void exec_fail(rb_exec *e, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void exec_fail(rb_exec *e, uint32_t code, const char *fmt, ...)
{
    if (e->st.state == RB_EXEC_DONE || e->st.error)
        return;
    e->st.error = code ? code : PROTO_EIO;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->st.text, sizeof e->st.text, fmt, ap);
    va_end(ap);
}

/* The session is over once the guest's CLOSE (or a CH_ERROR) arrived and everything received
 * has been written out. */
static void exec_maybe_done(rb_exec *e)
{
    if (e->st.state == RB_EXEC_DONE)
        return;
    if (!(e->close_rcvd || e->errored))
        return;
    for (int s = 1; s < 3; s++)
        if (rb_buf_len(&e->pend[s]) && e->fd[s] >= 0)
            return;
    e->st.state = RB_EXEC_DONE;
    if (e->sigpipe && !e->st.error) {
        e->st.exit_code = 128 + 13; /* as if killed by SIGPIPE, like a local pipeline */
    } else if (e->st.error)
        e->st.exit_code = code_for_error(e->st.error);
    else if (e->st.exited)
        e->st.exit_code = e->st.signaled ? 128 + e->st.value : e->st.value;
    else {
        e->st.error = PROTO_EIO;
        snprintf(e->st.text, sizeof e->st.text, "the VM closed the session without an exit status");
        e->st.exit_code = 255;
    }
}

/* A guest fault on this channel: tell it (CH_ERROR EPROTO closes the channel) and end. */
static void chan_violation(rb_exec *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void chan_violation(rb_exec *e, const char *fmt, ...)
{
    char m[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    c_log(e->cl, "protocol error from the VM on channel %u: %s", e->id, m);
    rb_conn_send_cherr(&e->cl->conn, e->id, PROTO_EPROTO, m);
    exec_fail(e, PROTO_EPROTO, "protocol error from the VM: %s", m);
    e->errored = true;
    for (int s = 1; s < 3; s++) /* output after a violation is not trusted */
        rb_buf_free(&e->pend[s]);
    exec_maybe_done(e);
}

void rb_exec_close(rb_exec *e)
{
    if (e->close_sent || e->errored || e->close_rcvd)
        return;
    e->close_sent = true;
    rb_conn_send_empty(&e->cl->conn, PROTO_CLOSE, e->id);
}

void rb_exec_winsize(rb_exec *e, uint16_t rows, uint16_t cols)
{
    if (e->st.state == RB_EXEC_DONE || e->close_sent || e->errored || e->close_rcvd)
        return;
    uint8_t f[32];
    rb_conn_send(&e->cl->conn, f, proto_enc_winsize(f, sizeof f, e->id, rows, cols));
}

void rb_exec_signal(rb_exec *e, uint32_t signo)
{
    if (e->st.state == RB_EXEC_DONE || e->close_sent || e->errored || e->close_rcvd)
        return;
    uint8_t f[32];
    rb_conn_send(&e->cl->conn, f, proto_enc_signal(f, sizeof f, e->id, signo));
}

/* ---- opening ---- */

static proto_str pstr(const char *s)
{
    return (proto_str){s ? s : "", s ? (uint32_t)strnlen(s, PROTO_MAX_STR + 1) : 0};
}

/* Registers a session whose OPEN frame f[0..n) the caller encoded for channel c->next_id, and
 * sends it. Takes nothing from the caller on failure. */
static rb_exec *session_open(rb_client *c, const uint8_t *f, size_t n, int in_fd, int out_fd,
                             int err_fd, bool pty, char *err, size_t errlen)
{
    rb_exec *e = calloc(1, sizeof *e);
    rb_exec **grown = c->n_ex < c->cap_ex ? c->ex
                      : realloc(c->ex, (c->cap_ex ? 2 * c->cap_ex : 8) * sizeof *c->ex);
    if (!e || !grown) {
        free(e);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (grown != c->ex) {
        c->ex = grown;
        c->cap_ex = c->cap_ex ? 2 * c->cap_ex : 8;
    }
    uint32_t id = c->next_id;
    c->next_id = id >= 0x7fffffffu ? 1 : id + 1;
    e->cl = c;
    e->id = id;
    e->fd[0] = in_fd;
    e->fd[1] = out_fd;
    e->fd[2] = err_fd;
    e->pty = pty;
    e->st.state = RB_EXEC_OPENING;
    e->send_credit = c->conn.p.peer_window;
    e->recv_avail[1] = e->recv_avail[2] = c->conn.p.my_window;
    e->in_eof_local = in_fd < 0;
    rb_conn_send(&c->conn, f, n);
    c->ex[c->n_ex++] = e;
    return e;
}

rb_exec *rb_exec_start(rb_client *c, const rb_exec_req *r, int in_fd, int out_fd, int err_fd,
                       char *err, size_t errlen)
{
    if (r->argc > PROTO_MAX_ARGS || r->envc > PROTO_MAX_ARGS) {
        snprintf(err, errlen, "too many arguments or environment entries (at most %u)",
                 PROTO_MAX_ARGS);
        return NULL;
    }
    proto_exec_open *m = calloc(1, sizeof *m);
    size_t cap = c->conn.p.max_frame + PROTO_HDR_SIZE;
    uint8_t *f = malloc(cap);
    rb_exec *e = NULL;
    if (!m || !f) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    m->flags = (r->pty ? PROTO_EXEC_PTY : 0) | (r->login ? PROTO_EXEC_LOGIN : 0) |
               (r->nopath ? PROTO_EXEC_NOPATH : 0);
    m->rows = r->rows;
    m->cols = r->cols;
    m->user = pstr(r->user);
    m->cwd = pstr(r->cwd);
    m->argc = (uint32_t)r->argc;
    for (size_t i = 0; i < r->argc; i++)
        m->argv[i] = pstr(r->argv[i]);
    m->envc = (uint32_t)r->envc;
    for (size_t i = 0; i < r->envc; i++)
        m->env[i] = pstr(r->env[i]);
    size_t n = proto_enc_exec_open(f, cap, c->next_id, m);
    if (!n)
        snprintf(err, errlen, "command line too long for one request (limit %u bytes, each "
                 "argument at most %u)", c->conn.p.max_frame, PROTO_MAX_STR);
    else
        e = session_open(c, f, n, in_fd, out_fd, err_fd, r->pty, err, errlen);
out:
    free(m);
    free(f);
    return e;
}

rb_exec *rb_service_start(rb_client *c, uint16_t service, uint32_t flags, const char *arg,
                          int in_fd, int out_fd, int err_fd, char *err, size_t errlen)
{
    uint8_t f[PROTO_HDR_SIZE + 16 + PROTO_SVC_MAX_ARG];
    size_t argn = arg ? strnlen(arg, PROTO_SVC_MAX_ARG + 1) : 0;
    size_t n = proto_svc_is_record_service(service)
                   ? proto_enc_svc_open(f, sizeof f, c->next_id, service, flags, arg, argn) : 0;
    if (!n) {
        if (proto_svc_is_record_service(service))
            snprintf(err, errlen, "service argument too long (at most %u bytes, no NUL)",
                     PROTO_SVC_MAX_ARG);
        else
            snprintf(err, errlen, "service %u is not a record service", service);
        return NULL;
    }
    return session_open(c, f, n, in_fd, out_fd, err_fd, false, err, errlen);
}

static rb_exec *find(rb_client *c, uint32_t id)
{
    for (size_t i = 0; i < c->n_ex; i++)
        if (c->ex[i]->id == id)
            return c->ex[i];
    return NULL;
}

/* ---- delivering output ---- */

static void credit_back(rb_exec *e, int s, size_t n)
{
    if (!n || e->errored || e->close_rcvd)
        return;
    e->to_credit[s] += (uint32_t)n;
    e->recv_avail[s] += (uint32_t)n;
    /* Returned per delivery batch: one small frame per DATA frame keeps the window open
     * without a timer. */
    rb_conn_send_credit(&e->cl->conn, e->id, (uint8_t)s, e->to_credit[s]);
    e->to_credit[s] = 0;
}

/* Writes what it can; -1 when the local reader is gone. */
static int write_out(rb_exec *e, int s, const uint8_t *p, size_t n, size_t *done)
{
    *done = 0;
    while (*done < n) {
        ssize_t w = write(e->fd[s], p + *done, n - *done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        *done += (size_t)w;
    }
    return 0;
}

/* The local stdout/stderr reader is gone (EPIPE): like a local program in a pipeline, the
 * session ends as if by SIGPIPE; the guest hangs the process up. */
static void out_broken(rb_exec *e, int s)
{
    c_log(e->cl, "local %s closed: ending the session", s == 1 ? "stdout" : "stderr");
    rb_buf_free(&e->pend[s]);
    e->fd[s] = -1;
    e->sigpipe = true;
    rb_exec_close(e);
}

static void deliver(rb_exec *e, int s, const uint8_t *p, size_t n)
{
    if (e->fd[s] < 0) {
        credit_back(e, s, n);
        return;
    }
    size_t done = 0;
    if (rb_buf_len(&e->pend[s]) == 0 && write_out(e, s, p, n, &done) < 0) {
        out_broken(e, s);
        return;
    }
    if (done < n && rb_buf_append(&e->pend[s], p + done, n - done) < 0) {
        chan_violation(e, "out of memory buffering output");
        return;
    }
    credit_back(e, s, done);
}

static void drain(rb_exec *e, int s)
{
    size_t done;
    if (write_out(e, s, rb_buf_data(&e->pend[s]), rb_buf_len(&e->pend[s]), &done) < 0) {
        out_broken(e, s);
        return;
    }
    rb_buf_consume(&e->pend[s], done);
    credit_back(e, s, done);
    exec_maybe_done(e);
}

/* ---- frames from the guest ---- */

static void on_frame(void *ctx, const proto_hdr *h, const uint8_t *pl)
{
    rb_client *c = ctx;
    rb_exec *e = find(c, h->chan);
    bool live = e && !e->errored && !e->close_rcvd;
    if (!live) {
        /* After our CLOSE the guest may still have frames in flight: drop those quietly. */
        if (e && e->close_sent && !e->errored)
            return;
        if (rb_conn_reject_stray(&c->conn, h))
            c_log(c, "VM sent %s on channel %u, which is not open", proto_type_name(h->type), h->chan);
        return;
    }
    if (!proto_msg_allowed(h->type, h->chan, true))
        return chan_violation(e, "unexpected message %s (0x%02x) on an exec channel",
                              proto_type_name(h->type), h->type);
    uint8_t s;
    uint32_t k, pid, code;
    const uint8_t *d;
    size_t dn;
    proto_exit x;
    proto_str t;
    switch (h->type) {
    case PROTO_OPEN_OK:
        if (e->st.state != RB_EXEC_OPENING || !proto_dec_open_ok(pl, h->len, &pid))
            return chan_violation(e, "unexpected or malformed OPEN_OK");
        e->st.state = RB_EXEC_RUNNING;
        e->st.pid = pid;
        return;
    case PROTO_CH_ERROR:
        if (!proto_dec_error(pl, h->len, &code, &t))
            code = PROTO_EIO, t = (proto_str){"malformed CH_ERROR", 18};
        char txt[200];
        cm_copy_text(txt, sizeof txt, t.s, t.n);
        exec_fail(e, code ? code : PROTO_EIO, "%s", txt);
        e->errored = true;
        exec_maybe_done(e);
        return;
    case PROTO_DATA:
        if (!proto_dec_data(pl, h->len, &s, &d, &dn) || (s != PROTO_STDOUT && s != PROTO_STDERR))
            return chan_violation(e, "malformed DATA or DATA on stream 0");
        if (e->st.state != RB_EXEC_RUNNING)
            return chan_violation(e, "DATA before OPEN_OK");
        if (e->eof_rcvd[s])
            return chan_violation(e, "DATA after EOF on stream %u", s);
        if (dn > e->recv_avail[s])
            return chan_violation(e, "DATA of %zu bytes beyond the credit of %u on stream %u",
                                  dn, e->recv_avail[s], s);
        e->recv_avail[s] -= (uint32_t)dn;
        deliver(e, s, d, dn);
        return;
    case PROTO_EOF:
        if (!proto_dec_stream(pl, h->len, &s) || (s != PROTO_STDOUT && s != PROTO_STDERR))
            return chan_violation(e, "malformed EOF or EOF on stream 0");
        if (e->eof_rcvd[s])
            return chan_violation(e, "second EOF on stream %u", s);
        e->eof_rcvd[s] = true;
        return;
    case PROTO_CREDIT:
        if (!proto_dec_credit(pl, h->len, &s, &k) || s != PROTO_STDIN)
            return chan_violation(e, "malformed CREDIT or CREDIT for an output stream");
        if (k > c->conn.p.peer_window - e->send_credit)
            return chan_violation(e, "CREDIT of %u would exceed the window of %u", k,
                                  c->conn.p.peer_window);
        e->send_credit += k;
        return;
    case PROTO_EXIT:
        if (!proto_dec_exit(pl, h->len, &x) || e->st.exited || e->st.state != RB_EXEC_RUNNING)
            return chan_violation(e, "malformed, early or repeated EXIT");
        e->st.exited = true;
        e->st.signaled = x.how == 1;
        e->st.value = x.value;
        e->st.core_dumped = x.core_dumped;
        if (e->st.signaled && (x.value < 1 || x.value > 127))
            e->st.value = 127;
        if (!e->st.signaled && (x.value < 0 || x.value > 255))
            e->st.value = x.value & 0xff;
        return;
    case PROTO_CLOSE:
        e->close_rcvd = true;
        if (!e->close_sent) {
            e->close_sent = true;
            rb_conn_send_empty(&c->conn, PROTO_CLOSE, e->id);
        }
        exec_maybe_done(e);
        return;
    default:
        return chan_violation(e, "unexpected message %s (0x%02x) on an exec channel",
                              proto_type_name(h->type), h->type);
    }
}

static void on_ready(void *ctx, bool reset)
{
    rb_client *c = ctx;
    if (!reset)
        return;
    /* The guest restarted its session: every channel is gone on its side. */
    c_log(c, "the VM reset the bridge session");
    for (size_t i = 0; i < c->n_ex; i++) {
        rb_exec *e = c->ex[i];
        exec_fail(e, PROTO_EIO, "the VM reset the bridge session");
        e->errored = true;
        exec_maybe_done(e);
    }
}

/* ---- event loop ---- */

static bool want_stdin(const rb_exec *e)
{
    return e->st.state == RB_EXEC_RUNNING && !e->in_eof_sent && !e->close_sent && !e->errored &&
           !e->close_rcvd;
}

size_t rb_client_pollfds(rb_client *c, struct pollfd *fds, size_t cap, int *timeout_ms)
{
    size_t need = 1 + 3 * c->n_ex;
    if (c->n_slots < need) {
        slot *s = realloc(c->slots, need * sizeof *s);
        if (!s) {
            rb_conn_fail(&c->conn, "out of memory");
            need = 1;
        } else {
            c->slots = s;
            c->n_slots = need;
        }
    }
    size_t n = 0;
    *timeout_ms = rb_conn_tick(&c->conn, rb_now_ms());
    if (n < cap) {
        fds[n] = (struct pollfd){.fd = c->conn.fd, .events = POLLIN |
                                 (rb_conn_want_write(&c->conn) ? POLLOUT : 0)};
        c->slots[n++] = (slot){SLOT_CONN, NULL, 0};
    }
    for (size_t i = 0; i < c->n_ex && n + 3 <= cap && n + 3 <= c->n_slots; i++) {
        rb_exec *e = c->ex[i];
        if (e->st.state == RB_EXEC_DONE)
            continue;
        if (e->in_eof_local && want_stdin(e)) {
            /* Local stdin ended: pass EOF on once the guest has the channel open. */
            e->in_eof_sent = true;
            rb_conn_send_stream(&c->conn, PROTO_EOF, e->id, PROTO_STDIN);
        }
        if (want_stdin(e) && e->send_credit > 0 && rb_conn_queued(&c->conn) < OUTQ_HIGH) {
            fds[n] = (struct pollfd){.fd = e->fd[0], .events = POLLIN};
            c->slots[n++] = (slot){SLOT_IN, e, 0};
        }
        for (int s = 1; s < 3; s++)
            if (rb_buf_len(&e->pend[s]) && e->fd[s] >= 0) {
                fds[n] = (struct pollfd){.fd = e->fd[s], .events = POLLOUT};
                c->slots[n++] = (slot){SLOT_OUT, e, s};
            }
    }
    if (rb_conn_want_write(&c->conn))
        fds[0].events |= POLLOUT;
    return n;
}

static void read_stdin(rb_client *c, rb_exec *e)
{
    size_t max = c->conn.p.max_frame - 1;
    if (!c->inbuf) {
        c->inbuf_cap = max;
        c->inbuf = malloc(c->inbuf_cap);
        if (!c->inbuf) {
            rb_conn_fail(&c->conn, "out of memory");
            return;
        }
    }
    size_t want = e->send_credit < c->inbuf_cap ? e->send_credit : c->inbuf_cap;
    ssize_t r;
    do
        r = read(e->fd[0], c->inbuf, want);
    while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (r <= 0) {
        /* EOF, or a read error (which ends input the same way) */
        e->in_eof_local = e->in_eof_sent = true;
        rb_conn_send_stream(&c->conn, PROTO_EOF, e->id, PROTO_STDIN);
        return;
    }
    e->send_credit -= (uint32_t)r;
    rb_conn_send_data(&c->conn, e->id, PROTO_STDIN, c->inbuf, (size_t)r);
}

int rb_client_step(rb_client *c, const struct pollfd *fds, size_t n)
{
    for (size_t i = 0; i < n && i < c->n_slots && !c->conn.dead; i++) {
        short re = fds[i].revents;
        if (!re)
            continue;
        slot *s = &c->slots[i];
        switch (s->kind) {
        case SLOT_CONN:
            if (re & POLLOUT)
                rb_conn_flush(&c->conn);
            if (re & (POLLIN | POLLHUP | POLLERR))
                rb_conn_on_readable(&c->conn);
            break;
        case SLOT_IN:
            if (want_stdin(s->e) && s->e->send_credit > 0)
                read_stdin(c, s->e);
            break;
        case SLOT_OUT:
            if (s->e->fd[s->stream] >= 0)
                drain(s->e, s->stream);
            break;
        }
    }
    rb_conn_flush(&c->conn);
    if (rb_conn_queued(&c->conn) > OUTQ_FAIL)
        rb_conn_fail(&c->conn, "the VM does not read its bridge stream (%u MiB queued)",
                     OUTQ_FAIL >> 20);
    if (c->conn.dead) {
        for (size_t i = 0; i < c->n_ex; i++) {
            rb_exec *e = c->ex[i];
            if (e->st.state == RB_EXEC_DONE)
                continue;
            exec_fail(e, PROTO_EIO, "VM connection lost: %s", c->conn.why);
            e->errored = true;
            for (int st = 1; st < 3; st++) /* the rest can no longer be credited: write what we have */
                if (rb_buf_len(&e->pend[st]) && e->fd[st] >= 0) {
                    size_t done;
                    (void)write_out(e, st, rb_buf_data(&e->pend[st]), rb_buf_len(&e->pend[st]), &done);
                    rb_buf_free(&e->pend[st]);
                }
            exec_maybe_done(e);
        }
        return -1;
    }
    return 0;
}
