/* Exec channels: lifecycle, flow control and the child's I/O (PROTOCOL.md, Channels, Flow
 * control, Exec service). Runs inside the event loop; never blocks. */
#include "guestd.h"
#include "desktop.h"
#include "svc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static uint64_t token(int kind, int slot) { return (uint64_t)kind << 32 | (uint32_t)slot; }

static const int fd_kind[3] = {GUEST_TK_IN, GUEST_TK_OUT, GUEST_TK_ERR};

/* Registers exactly the wanted events. An fd is removed from epoll rather than left with
 * events 0, because EPOLLHUP/EPOLLERR are always reported and would spin the loop while a
 * stream waits for credit. */
static void set_events(guestd *g, guest_chan *c, int i, uint32_t want)
{
    if (c->fd[i] < 0 || g->epfd < 0) {
        c->ev[i] = 0;
        return;
    }
    if (want == c->ev[i])
        return;
    struct epoll_event e = {.events = want, .data.u64 = token(fd_kind[i], c->slot)};
    int op = !want ? EPOLL_CTL_DEL : !c->ev[i] ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(g->epfd, op, c->fd[i], &e) < 0 && op != EPOLL_CTL_DEL)
        guest_log("epoll_ctl: %s", strerror(errno));
    c->ev[i] = want;
}

static void sync_events(guestd *g, guest_chan *c)
{
    bool run = c->state != GUEST_CH_DETACHED;
    set_events(g, c, 0, run && c->rlen > 0 ? EPOLLOUT : 0);
    for (int s = 1; s <= 2; s++)
        set_events(g, c, s, run && !c->eof_out[s] && c->credit[s] > 0 && !g->paused ? EPOLLIN : 0);
}

static void close_fd(guestd *g, guest_chan *c, int i)
{
    if (c->fd[i] < 0)
        return;
    set_events(g, c, i, 0);
    close(c->fd[i]);
    c->fd[i] = -1;
}

guest_chan *guest_chan_find(guestd *g, uint32_t id)
{
    for (int i = 0; i < g->nslots; i++) {
        guest_chan *c = g->slots[i];
        if (c && c->id == id && c->state != GUEST_CH_DETACHED)
            return c;
    }
    return NULL;
}

static void chan_free(guestd *g, guest_chan *c)
{
    for (int i = 0; i < 3; i++)
        close_fd(g, c, i);
    if (c->state != GUEST_CH_DETACHED)
        g->nopen--;
    g->slots[c->slot] = NULL;
    while (g->nslots > 0 && !g->slots[g->nslots - 1])
        g->nslots--;
    free(c->ring);
    free(c);
}

/* Ends the channel from our side without any frame: the id is free again at once, the
 * process gets SIGHUP now and SIGKILL after the grace period, and the slot lives until the
 * process is reaped. */
static void chan_detach(guestd *g, guest_chan *c)
{
    if (c->state == GUEST_CH_DETACHED)
        return;
    for (int i = 0; i < 3; i++)
        close_fd(g, c, i);
    free(c->ring);
    c->ring = NULL;
    c->rlen = 0;
    g->nopen--;
    c->state = GUEST_CH_DETACHED;
    if (c->pid > 0 && !c->exited) {
        g->be.kill(g->be.ctx, c->pid, SIGHUP);
        c->kill_at = g->now + GUEST_KILL_GRACE_MS;
        if (c->kill_at == 0)
            c->kill_at = 1;
    } else {
        chan_free(g, c);
    }
}

void guest_chan_drop_all(guestd *g)
{
    for (int i = 0; i < g->nslots; i++)
        if (g->slots[i])
            chan_detach(g, g->slots[i]);
}

static void chan_error(guestd *g, guest_chan *c, uint32_t code, const char *text)
{
    guest_send_error(g, PROTO_CH_ERROR, c->id, code, text);
    chan_detach(g, c);
}

static void send_credit(guestd *g, guest_chan *c, uint8_t stream, uint32_t n)
{
    if (n == 0)
        return;
    uint8_t f[PROTO_HDR_SIZE + 5];
    guest_send(g, f, proto_enc_credit(f, sizeof f, c->id, stream, n));
}

/* EXIT then CLOSE, once the program has exited and its output has all been sent. */
static void chan_progress(guestd *g, guest_chan *c)
{
    if (c->state != GUEST_CH_RUNNING || !c->exited || !c->eof_out[1] || !c->eof_out[2])
        return;
    proto_exit e = {0};
    if (WIFSIGNALED(c->status)) {
        e.how = 1;
        e.value = WTERMSIG(c->status);
        e.core_dumped = WCOREDUMP(c->status) ? 1 : 0;
    } else {
        e.value = WEXITSTATUS(c->status);
    }
    uint8_t f[PROTO_HDR_SIZE + 8];
    guest_send(g, f, proto_enc_exit(f, sizeof f, c->id, &e));
    guest_send(g, f, proto_enc_empty(f, sizeof f, PROTO_CLOSE, c->id));
    for (int i = 0; i < 3; i++)
        close_fd(g, c, i);
    free(c->ring);
    c->ring = NULL;
    c->rlen = 0;
    c->state = GUEST_CH_CLOSING;
}

static void stream_eof(guestd *g, guest_chan *c, int s)
{
    if (c->eof_out[s])
        return;
    c->eof_out[s] = true;
    /* A PTY master is only unwatched, not closed, until the program is reaped: closing it
     * hangs the terminal up, and a program that has closed its terminal but not yet exited
     * would die of that SIGHUP and report the wrong status. */
    if (c->pty && !c->exited)
        set_events(g, c, s, 0);
    else
        close_fd(g, c, s);
    uint8_t f[PROTO_HDR_SIZE + 1];
    guest_send(g, f, proto_enc_stream(f, sizeof f, PROTO_EOF, c->id, (uint8_t)s));
    chan_progress(g, c);
}

/* One read from an output stream, straight into the out queue behind a DATA header. Returns
 * bytes read, 0 when nothing is available now, -1 when the stream ended. */
static long read_stream(guestd *g, guest_chan *c, int s)
{
    uint32_t want = c->credit[s];
    if (want > g->max_frame - 1)
        want = g->max_frame - 1;
    if (want > GUEST_READ_CHUNK)
        want = GUEST_READ_CHUNK;
    if (want == 0 || g->paused || c->fd[s] < 0)
        return 0;
    uint8_t *q = guest_outq_reserve(&g->out, PROTO_HDR_SIZE + 1 + want);
    if (!q) {
        g->overflow = true;
        return 0;
    }
    ssize_t n;
    do
        n = read(c->fd[s], q + PROTO_HDR_SIZE + 1, want);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        proto_enc_data_hdr(q, c->id, (uint8_t)s, (uint32_t)n);
        guest_outq_commit(&g->out, PROTO_HDR_SIZE + 1 + (size_t)n);
        c->credit[s] -= (uint32_t)n;
        return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return c->linger_expired ? -1 : 0;
    return -1; /* 0 = end of pipe; EIO = PTY slave closed */
}

static void on_readable(guestd *g, guest_chan *c, int s)
{
    if (c->state != GUEST_CH_RUNNING || c->eof_out[s])
        return;
    long n = read_stream(g, c, s);
    /* Past the linger time, keep reading until the stream is empty so it can end. */
    while (n > 0 && c->linger_expired && c->credit[s] > 0 && !g->paused)
        n = read_stream(g, c, s);
    if (n < 0)
        stream_eof(g, c, s);
    if (guest_outq_len(&g->out) >= GUEST_OUTQ_SOFT)
        guest_out_pressure(g);
    if (c->state == GUEST_CH_RUNNING)
        sync_events(g, c);
}

/* With a PTY there is no pipe to close: end of input is the terminal's EOF character, twice
 * when a partial line is pending (the first one only submits the line). */
static void pty_send_eof(guest_chan *c)
{
    struct termios t;
    unsigned char eofc = 4;
    if (tcgetattr(c->fd[0], &t) == 0 && t.c_cc[VEOF])
        eofc = t.c_cc[VEOF];
    unsigned char two[2] = {eofc, eofc};
    ssize_t r = write(c->fd[0], two, c->in_last_nl ? 1 : 2);
    (void)r;
}

static void stdin_finished(guestd *g, guest_chan *c)
{
    if (c->pty) {
        if (!c->in_discard && c->fd[0] >= 0)
            pty_send_eof(c);
        c->in_discard = true;
        close_fd(g, c, 0);
    } else {
        close_fd(g, c, 0);
    }
}

/* Writes buffered stdin to the program and gives the host credit for what was written. */
static void write_stdin(guestd *g, guest_chan *c)
{
    uint32_t done = 0;
    while (c->rlen > 0 && c->fd[0] >= 0) {
        uint32_t chunk = GUEST_WINDOW - c->rhead;
        if (chunk > c->rlen)
            chunk = c->rlen;
        ssize_t w = write(c->fd[0], c->ring + c->rhead, chunk);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w <= 0) {
            /* the program closed its stdin or died: the rest is swallowed, credit returned */
            c->in_discard = true;
            close_fd(g, c, 0);
            break;
        }
        c->in_last_nl = c->ring[c->rhead + (uint32_t)w - 1] == '\n';
        c->rhead = (c->rhead + (uint32_t)w) % GUEST_WINDOW;
        c->rlen -= (uint32_t)w;
        done += (uint32_t)w;
    }
    if (c->fd[0] < 0 && c->rlen) {
        done += c->rlen;
        c->rlen = 0;
    }
    if (c->rlen == 0)
        c->rhead = 0;
    send_credit(g, c, PROTO_STDIN, done);
    if (c->rlen == 0 && c->in_eof && c->fd[0] >= 0)
        stdin_finished(g, c);
    sync_events(g, c);
}

static void on_data(guestd *g, guest_chan *c, const uint8_t *p, size_t n)
{
    uint8_t s;
    const uint8_t *d;
    size_t dn;
    if (!proto_dec_data(p, n, &s, &d, &dn)) {
        chan_error(g, c, PROTO_EPROTO, "malformed DATA");
        return;
    }
    if (s != PROTO_STDIN) {
        chan_error(g, c, PROTO_EPROTO, "DATA on an output stream");
        return;
    }
    if (c->in_eof) {
        chan_error(g, c, PROTO_EPROTO, "DATA after EOF");
        return;
    }
    if (dn > GUEST_WINDOW - c->rlen) {
        chan_error(g, c, PROTO_EPROTO, "DATA beyond the credit granted");
        return;
    }
    if (dn == 0)
        return;
    if (c->in_discard || c->fd[0] < 0) {
        send_credit(g, c, PROTO_STDIN, (uint32_t)dn);
        return;
    }
    /* Nothing queued: hand the bytes to the program straight from the frame, and keep only
     * what it did not take. */
    if (c->rlen == 0) {
        ssize_t w;
        do
            w = write(c->fd[0], d, dn);
        while (w < 0 && errno == EINTR);
        if (w > 0) {
            c->in_last_nl = d[w - 1] == '\n';
            send_credit(g, c, PROTO_STDIN, (uint32_t)w);
            d += w;
            dn -= (size_t)w;
            if (dn == 0)
                return;
        } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            /* the program closed its stdin or died: swallow, credit back */
            c->in_discard = true;
            close_fd(g, c, 0);
            send_credit(g, c, PROTO_STDIN, (uint32_t)dn);
            return;
        }
    }
    if (!c->ring) {
        c->ring = malloc(GUEST_WINDOW);
        if (!c->ring) {
            chan_error(g, c, PROTO_ENOMEM, "out of memory for stdin");
            return;
        }
        c->rhead = 0;
    }
    uint32_t tail = (c->rhead + c->rlen) % GUEST_WINDOW;
    uint32_t first = GUEST_WINDOW - tail < dn ? GUEST_WINDOW - tail : (uint32_t)dn;
    memcpy(c->ring + tail, d, first);
    memcpy(c->ring, d + first, dn - first);
    c->rlen += (uint32_t)dn;
    write_stdin(g, c);
}

static void on_eof(guestd *g, guest_chan *c, const uint8_t *p, size_t n)
{
    uint8_t s;
    if (!proto_dec_stream(p, n, &s)) {
        chan_error(g, c, PROTO_EPROTO, "malformed EOF");
        return;
    }
    if (s != PROTO_STDIN || c->in_eof) {
        chan_error(g, c, PROTO_EPROTO, s != PROTO_STDIN ? "EOF on an output stream"
                                                        : "EOF after EOF");
        return;
    }
    c->in_eof = true;
    if (c->rlen == 0)
        stdin_finished(g, c);
}

static void on_credit(guestd *g, guest_chan *c, const uint8_t *p, size_t n)
{
    uint8_t s;
    uint32_t b;
    if (!proto_dec_credit(p, n, &s, &b)) {
        chan_error(g, c, PROTO_EPROTO, "malformed CREDIT");
        return;
    }
    if (s == PROTO_STDIN) {
        chan_error(g, c, PROTO_EPROTO, "CREDIT for stdin from the host");
        return;
    }
    if (b > g->host_window - c->credit[s]) {
        chan_error(g, c, PROTO_EPROTO, "CREDIT above the window");
        return;
    }
    c->credit[s] += b;
    sync_events(g, c);
    /* a lingering stream may be empty forever: epoll would never wake us to end it */
    if (c->linger_expired)
        on_readable(g, c, s);
}

void guest_chan_frame(guestd *g, guest_chan *c, const proto_hdr *h, const uint8_t *p)
{
    if (c->state == GUEST_CH_CLOSING) {
        /* We already sent CLOSE; frames the host sent before seeing it are harmless. */
        if (h->type == PROTO_CLOSE || h->type == PROTO_CH_ERROR)
            chan_free(g, c);
        return;
    }
    if (!proto_msg_allowed(h->type, c->id, false)) {
        char t[64];
        snprintf(t, sizeof t, "unexpected %s (0x%02x) from the host on a channel",
                 proto_type_name(h->type), h->type);
        chan_error(g, c, PROTO_EPROTO, t);
        return;
    }
    uint16_t rows, cols;
    uint32_t signo;
    switch (h->type) {
    case PROTO_DATA:
        on_data(g, c, p, h->len);
        return;
    case PROTO_EOF:
        on_eof(g, c, p, h->len);
        return;
    case PROTO_CREDIT:
        on_credit(g, c, p, h->len);
        return;
    case PROTO_CLOSE: {
        uint32_t id = c->id;
        chan_detach(g, c);
        uint8_t f[PROTO_HDR_SIZE];
        guest_send(g, f, proto_enc_empty(f, sizeof f, PROTO_CLOSE, id));
        return;
    }
    case PROTO_CH_ERROR:
        chan_detach(g, c); /* the host ended it; no reply */
        return;
    case PROTO_WINSIZE:
        if (!proto_dec_winsize(p, h->len, &rows, &cols)) {
            chan_error(g, c, PROTO_EPROTO, "malformed WINSIZE");
            return;
        }
        if (c->pty && c->fd[1] >= 0)
            g->be.winsize(g->be.ctx, c, rows, cols);
        return;
    case PROTO_SIGNAL:
        if (!proto_dec_signal(p, h->len, &signo)) {
            chan_error(g, c, PROTO_EPROTO, "malformed SIGNAL");
            return;
        }
        if (signo == 0 || signo >= 65) {
            guest_log("channel %u: ignoring signal %u", c->id, signo);
            return;
        }
        if (c->pid > 0 && !c->exited)
            g->be.signal(g->be.ctx, c, (int)signo);
        return;
    default: {
        char t[64];
        snprintf(t, sizeof t, "unexpected %s (0x%02x) on an exec channel",
                 proto_type_name(h->type), h->type);
        chan_error(g, c, PROTO_EPROTO, t);
        return;
    }
    }
}

static bool str_ok_env(proto_str s)
{
    const char *eq = memchr(s.s, '=', s.n);
    return eq && eq != s.s;
}

void guest_chan_open(guestd *g, uint32_t id, const uint8_t *p, size_t n)
{
    static proto_exec_open req; /* ~16 KiB: not on the stack */
    uint16_t svc;
    if (!proto_dec_open_service(p, n, &svc)) {
        guest_send_error(g, PROTO_CH_ERROR, id, PROTO_EPROTO, "malformed OPEN");
        return;
    }
    /* The desktop service (revm-guestd/desktop.h) and the record services (revm-guestd/svc.h) run as
     * helper children and are exec channels in every other respect. */
    bool exec_ok = g->features & PROTO_F_EXEC;
    bool desktop = svc == PROTO_SVC_DESKTOP && exec_ok;
    const guest_svc *rs = exec_ok && proto_svc_is_record_service(svc) ? guest_svc_find(svc) : NULL;
    if (!desktop && !rs && (svc != PROTO_SVC_EXEC || !exec_ok)) {
        char t[64];
        snprintf(t, sizeof t, "service %u not offered by this guest", svc);
        guest_send_error(g, PROTO_CH_ERROR, id, PROTO_EOPNOTSUPP, t);
        return;
    }
    bool req_ok = desktop ? guest_desktop_request(p + 2, n - 2, &req)
                  : rs    ? guest_svc_request(rs, p + 2, n - 2, &req)
                          : proto_dec_exec_open(p + 2, n - 2, &req);
    if (!req_ok) {
        guest_send_error(g, PROTO_CH_ERROR, id, PROTO_EPROTO, "malformed OPEN request");
        return;
    }
    if (g->nopen >= PROTO_MAX_CHANNELS) {
        guest_send_error(g, PROTO_CH_ERROR, id, PROTO_EAGAIN, "too many open channels");
        return;
    }
    if ((req.flags & PROTO_EXEC_PTY) && !(g->features & PROTO_F_PTY)) {
        guest_send_error(g, PROTO_CH_ERROR, id, PROTO_EOPNOTSUPP, "PTY not negotiated");
        return;
    }
    if (req.argc == 0 && !(req.flags & PROTO_EXEC_LOGIN)) {
        guest_send_error(g, PROTO_CH_ERROR, id, PROTO_EINVAL, "no program given");
        return;
    }
    if (req.argc > 0 && req.argv[0].n == 0) {
        guest_send_error(g, PROTO_CH_ERROR, id, PROTO_ENOENT, "no such program in the VM: ''");
        return;
    }
    for (uint32_t i = 0; i < req.envc; i++)
        if (!str_ok_env(req.env[i])) {
            guest_send_error(g, PROTO_CH_ERROR, id, PROTO_EINVAL,
                             "environment entries must be NAME=value");
            return;
        }
    int slot = -1;
    for (int i = 0; i < GUEST_MAX_SLOTS && slot < 0; i++)
        if (!g->slots[i])
            slot = i;
    if (slot < 0) {
        guest_send_error(g, PROTO_CH_ERROR, id, PROTO_EAGAIN, "too many processes ending");
        return;
    }
    guest_chan *c = calloc(1, sizeof *c);
    if (!c) {
        guest_send_error(g, PROTO_CH_ERROR, id, PROTO_ENOMEM, "out of memory");
        return;
    }
    guest_spawned sp;
    uint32_t code = PROTO_EIO;
    char text[512] = "";
    if (g->be.spawn(g->be.ctx, &req, &sp, &code, text, sizeof text) < 0) {
        free(c);
        guest_send_error(g, PROTO_CH_ERROR, id, code, text);
        return;
    }
    c->id = id;
    c->slot = slot;
    c->state = GUEST_CH_RUNNING;
    c->pid = sp.pid;
    c->pty = sp.pty;
    for (int i = 0; i < 3; i++)
        c->fd[i] = sp.fd[i];
    c->credit[1] = c->credit[2] = g->host_window;
    /* A stream without fd does not exist (a PTY has only stream 1): nothing to wait for. */
    c->eof_out[1] = c->fd[1] < 0;
    c->eof_out[2] = c->fd[2] < 0;
    c->in_last_nl = true;
    g->slots[slot] = c;
    if (slot >= g->nslots)
        g->nslots = slot + 1;
    g->nopen++;
    uint8_t f[PROTO_HDR_SIZE + 4];
    guest_send(g, f, proto_enc_open_ok(f, sizeof f, id, (uint32_t)sp.pid));
    sync_events(g, c);
}

void guest_chan_event(guestd *g, int kind, int slot, uint32_t events)
{
    if (slot < 0 || slot >= g->nslots || !g->slots[slot])
        return;
    guest_chan *c = g->slots[slot];
    if (c->state != GUEST_CH_RUNNING)
        return;
    (void)events; /* readiness or hangup: the read/write itself tells which */
    if (kind == GUEST_TK_IN)
        write_stdin(g, c);
    else if (kind == GUEST_TK_OUT)
        on_readable(g, c, 1);
    else if (kind == GUEST_TK_ERR)
        on_readable(g, c, 2);
}

void guest_child_exited(guestd *g, pid_t pid, int status)
{
    for (int i = 0; i < g->nslots; i++) {
        guest_chan *c = g->slots[i];
        if (!c || c->pid != pid || c->exited)
            continue;
        c->exited = true;
        c->status = status;
        if (c->state == GUEST_CH_DETACHED) {
            chan_free(g, c);
            return;
        }
        c->linger_at = g->now + GUEST_LINGER_MS;
        close_fd(g, c, 0); /* nobody reads stdin any more */
        c->in_discard = true;
        c->rlen = 0;
        chan_progress(g, c);
        return;
    }
}

int64_t guest_tick(guestd *g)
{
    int64_t next = -1;
    for (int i = 0; i < g->nslots; i++) {
        guest_chan *c = g->slots[i];
        if (!c)
            continue;
        if (c->state == GUEST_CH_DETACHED && c->kill_at) {
            if (g->now >= c->kill_at) {
                g->be.kill(g->be.ctx, c->pid, SIGKILL);
                c->kill_at = 0;
            } else if (next < 0 || c->kill_at - g->now < next) {
                next = c->kill_at - g->now;
            }
        }
        if (c->state == GUEST_CH_RUNNING && c->exited && !c->linger_expired) {
            if (g->now >= c->linger_at) {
                c->linger_expired = true;
                for (int s = 1; s <= 2 && g->slots[i] == c; s++)
                    if (c->state == GUEST_CH_RUNNING)
                        on_readable(g, c, s);
            } else if (next < 0 || c->linger_at - g->now < next) {
                next = c->linger_at - g->now;
            }
        }
    }
    return next;
}

bool guest_out_pressure(guestd *g)
{
    size_t len = guest_outq_len(&g->out);
    bool was = g->paused;
    if (!was && len >= GUEST_OUTQ_SOFT)
        g->paused = true;
    else if (was && len < GUEST_OUTQ_SOFT / 2)
        g->paused = false;
    if (was != g->paused)
        for (int i = 0; i < g->nslots; i++) {
            guest_chan *c = g->slots[i];
            if (!c || c->state != GUEST_CH_RUNNING)
                continue;
            sync_events(g, c);
            for (int s = 1; s <= 2 && !g->paused && c->linger_expired; s++)
                if (c->state == GUEST_CH_RUNNING)
                    on_readable(g, c, s);
        }
    return g->paused;
}

int guest_live_children(const guestd *g)
{
    int n = 0;
    for (int i = 0; i < g->nslots; i++)
        if (g->slots[i] && g->slots[i]->pid > 0 && !g->slots[i]->exited)
            n++;
    return n;
}

void guest_kill_all(guestd *g, int sig)
{
    for (int i = 0; i < g->nslots; i++)
        if (g->slots[i] && g->slots[i]->pid > 0 && !g->slots[i]->exited)
            g->be.kill(g->be.ctx, g->slots[i]->pid, sig);
}
