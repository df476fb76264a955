/* Framing, output queue, handshake and keepalive of one connection (see rb_conn.h). */
#include "rb_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cm_text.h"

/* Control frames are tiny; the largest is an ERROR with a PROTO_MAX_STR text. */
#define CTRL_FRAME_MAX (PROTO_HDR_SIZE + 8 + PROTO_MAX_STR)

int64_t rb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rb_conn_fail(rb_conn *c, const char *fmt, ...)
{
    if (c->dead)
        return;
    c->dead = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
}

void rb_conn_logf(rb_conn *c, const char *fmt, ...)
{
    if (!c->ops || !c->ops->log)
        return;
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->ops->log(c->ctx, msg);
}

int rb_conn_init(rb_conn *c, int fd, rb_role role, const rb_conn_cfg *cfg,
                 const rb_conn_ops *ops, void *ctx)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->role = role;
    c->cfg = *cfg;
    c->ops = ops;
    c->ctx = ctx;
    if (!c->cfg.version_min)
        c->cfg.version_min = PROTO_VERSION;
    if (!c->cfg.version_max)
        c->cfg.version_max = PROTO_VERSION;
    if (!c->cfg.max_frame)
        c->cfg.max_frame = PROTO_DEFAULT_MAX_FRAME;
    if (c->cfg.max_frame < PROTO_PREHELLO_MAX_FRAME)
        c->cfg.max_frame = PROTO_PREHELLO_MAX_FRAME;
    if (c->cfg.max_frame > PROTO_MAX_FRAME_HARD)
        c->cfg.max_frame = PROTO_MAX_FRAME_HARD;
    if (!c->cfg.window)
        c->cfg.window = PROTO_DEFAULT_WINDOW;
    if (c->cfg.window < PROTO_MIN_WINDOW)
        c->cfg.window = PROTO_MIN_WINDOW;
    if (c->cfg.window > PROTO_MAX_WINDOW)
        c->cfg.window = PROTO_MAX_WINDOW;
    snprintf(c->my_agent, sizeof c->my_agent, "%s", cfg->agent ? cfg->agent : "revm");
    c->cfg.agent = c->my_agent;
    /* Until HELLO, both directions are limited to the pre-handshake frame size. */
    c->p.max_frame = PROTO_PREHELLO_MAX_FRAME;
    c->rdbuf = malloc(PROTO_HDR_SIZE + (size_t)c->cfg.max_frame);
    /* Room for two whole frames per read: most frames then arrive whole and are handled in
     * place, without a copy into the reader's buffer. */
    c->in_cap = 2 * (PROTO_HDR_SIZE + (size_t)c->cfg.max_frame);
    if (c->in_cap < 256 * 1024)
        c->in_cap = 256 * 1024;
    c->in = malloc(c->in_cap);
    if (!c->rdbuf || !c->in) {
        free(c->rdbuf);
        free(c->in);
        c->rdbuf = c->in = NULL;
        return -1;
    }
    proto_reader_init(&c->rd, c->rdbuf, PROTO_PREHELLO_MAX_FRAME);
    struct stat st;
    c->is_sock = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    c->last_rx_ms = rb_now_ms();
    return 0;
}

void rb_conn_destroy(rb_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->rdbuf);
    free(c->in);
    c->rdbuf = c->in = NULL;
    rb_buf_free(&c->out);
}

/* Who is on the other end, for messages: a host connection always faces a VM (or a
 * multiplexer standing in for one); an answering one faces a client. */
static const char *peer_name(const rb_conn *c) { return c->role == RB_HOST ? "the VM" : "the client"; }

/* ---- output ---- */

/* Writes iov straight to the fd; returns bytes written (0 on EAGAIN), -1 on failure. Sockets
 * use sendmsg with MSG_NOSIGNAL so a vanished peer is an error, not a SIGPIPE. */
static ssize_t raw_writev(rb_conn *c, struct iovec *iov, int n)
{
    ssize_t w;
    do {
        if (c->is_sock) {
            struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
            w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        } else {
            w = writev(c->fd, iov, n);
        }
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        rb_conn_fail(c, "bridge connection write failed: %s", strerror(errno));
        return -1;
    }
    c->tx_bytes += (uint64_t)w;
    return w;
}

static void queue(rb_conn *c, const void *p, size_t n)
{
    if (!c->dead && rb_buf_append(&c->out, p, n) < 0)
        rb_conn_fail(c, "bridge connection: out of memory queueing %zu bytes", n);
}

int rb_conn_flush(rb_conn *c)
{
    while (!c->dead && rb_buf_len(&c->out)) {
        struct iovec iov = {.iov_base = (void *)rb_buf_data(&c->out), .iov_len = rb_buf_len(&c->out)};
        ssize_t w = raw_writev(c, &iov, 1);
        if (w <= 0)
            break;
        rb_buf_consume(&c->out, (size_t)w);
    }
    return c->dead ? -1 : 0;
}

void rb_conn_send(rb_conn *c, const uint8_t *frame, size_t n)
{
    if (n == 0) {
        rb_conn_fail(c, "bridge connection: internal error encoding a frame");
        return;
    }
    queue(c, frame, n);
}

void rb_conn_send_data(rb_conn *c, uint32_t chan, uint8_t stream, const void *data, size_t n)
{
    const uint8_t *d = data;
    size_t chunk_max = c->p.max_frame - 1; /* the stream byte is part of the payload */
    do {
        size_t k = n < chunk_max ? n : chunk_max;
        uint8_t hdr[PROTO_HDR_SIZE + 1];
        proto_enc_data_hdr(hdr, chan, stream, (uint32_t)k);
        size_t done = 0;
        if (!c->dead && rb_buf_len(&c->out) == 0) {
            struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)d, k}};
            ssize_t w = raw_writev(c, iov, k ? 2 : 1);
            if (w < 0)
                return;
            done = (size_t)w;
        }
        if (done < sizeof hdr) {
            queue(c, hdr + done, sizeof hdr - done);
            queue(c, d, k);
        } else {
            queue(c, d + (done - sizeof hdr), k - (done - sizeof hdr));
        }
        d += k;
        n -= k;
    } while (n > 0);
}

void rb_conn_send_credit(rb_conn *c, uint32_t chan, uint8_t stream, uint32_t bytes)
{
    uint8_t f[32];
    rb_conn_send(c, f, proto_enc_credit(f, sizeof f, chan, stream, bytes));
}

void rb_conn_send_stream(rb_conn *c, uint8_t type, uint32_t chan, uint8_t stream)
{
    uint8_t f[32];
    rb_conn_send(c, f, proto_enc_stream(f, sizeof f, type, chan, stream));
}

void rb_conn_send_empty(rb_conn *c, uint8_t type, uint32_t chan)
{
    uint8_t f[32];
    rb_conn_send(c, f, proto_enc_empty(f, sizeof f, type, chan));
}

static void send_err(rb_conn *c, uint8_t type, uint32_t chan, uint32_t code, const char *text)
{
    uint8_t f[CTRL_FRAME_MAX];
    /* Before the handshake the peer accepts at most PROTO_PREHELLO_MAX_FRAME. */
    char cut[512];
    snprintf(cut, sizeof cut, "%s", text ? text : "");
    rb_conn_send(c, f, proto_enc_error(f, sizeof f, type, chan, code, cut));
}

bool rb_conn_reject_stray(rb_conn *c, const proto_hdr *h)
{
    if (h->type == PROTO_CH_ERROR || h->type == PROTO_CLOSE)
        return false;
    if (h->type == PROTO_OPEN) {
        bool guest_range = h->chan & PROTO_GUEST_CHAN_BIT;
        rb_conn_send_cherr(c, h->chan, guest_range ? PROTO_EOPNOTSUPP : PROTO_EPROTO,
                           guest_range ? "the host offers no services" : "channel id is in the host's range");
        return false;
    }
    rb_conn_send_cherr(c, h->chan, PROTO_EBADF, "channel not open");
    return true;
}

void rb_conn_send_cherr(rb_conn *c, uint32_t chan, uint32_t code, const char *text)
{
    send_err(c, PROTO_CH_ERROR, chan, code, text);
}

void rb_conn_send_error(rb_conn *c, uint32_t code, const char *text)
{
    send_err(c, PROTO_ERROR, 0, code, text);
}

void rb_conn_hello(rb_conn *c)
{
    proto_hello h = {
        .version_min = c->cfg.version_min,
        .version_max = c->cfg.version_max,
        .features = c->cfg.features,
        .max_frame = c->cfg.max_frame,
        .window = c->cfg.window,
        .agent = {c->my_agent, (uint32_t)strlen(c->my_agent)},
    };
    uint8_t f[PROTO_HDR_SIZE + 64 + sizeof c->my_agent];
    rb_conn_send(c, f, proto_enc_hello(f, sizeof f, &h));
    if (c->role == RB_HOST)
        c->hellos_unanswered++;
}

/* ---- input ---- */


static void on_hello(rb_conn *c, const uint8_t *pl, size_t n)
{
    proto_hello peer;
    if (!proto_dec_hello(pl, n, &peer)) {
        rb_conn_logf(c, "%s sent a malformed HELLO (%zu bytes)", peer_name(c), n);
        rb_conn_send_error(c, PROTO_EINVAL, "malformed HELLO");
        return;
    }
    proto_hello mine = {.version_min = c->cfg.version_min, .version_max = c->cfg.version_max,
                        .features = c->cfg.features, .max_frame = c->cfg.max_frame};
    rb_params p = {0};
    if (!proto_negotiate(&mine, &peer, &p.version, &p.features, &p.max_frame)) {
        if (c->role == RB_ANSWER) {
            rb_conn_send_error(c, PROTO_EPROTONOSUPPORT, "no common protocol version");
            return;
        }
        rb_conn_fail(c, "%s speaks protocol versions %u-%u, this side %u-%u", peer_name(c),
                     peer.version_min, peer.version_max, c->cfg.version_min, c->cfg.version_max);
        return;
    }
    p.peer_window = peer.window;
    p.my_window = c->cfg.window;
    cm_copy_text(p.agent, sizeof p.agent, peer.agent.s, peer.agent.n);
    bool reset = c->ready;
    if (c->role == RB_HOST && c->hellos_unanswered) {
        /* The answer to one of our HELLOs (perhaps a repeated one): not a reset by the peer.
         * A repeated HELLO always precedes our first OPEN on the stream, so the guest's reset
         * in answer to it cannot drop a channel. */
        c->hellos_unanswered--;
        reset = false;
        if (c->ready) {
            c->p = p;
            return;
        }
    }
    c->p = p;
    c->ready = true;
    c->rd.limit = c->cfg.max_frame;
    /* The host speaks first, so a HELLO it receives is the answer to its own. A second,
     * unsolicited one from the guest is a session reset; the host does not answer it (both
     * sides answering each other's HELLO would loop forever). */
    if (c->role == RB_ANSWER)
        rb_conn_hello(c);
    if (c->ops && c->ops->ready)
        c->ops->ready(c->ctx, reset);
}

static void on_control(rb_conn *c, const proto_hdr *h, const uint8_t *pl)
{
    uint64_t v;
    uint32_t code;
    proto_str s;
    char text[200];
    switch (h->type) {
    case PROTO_HELLO:
        on_hello(c, pl, h->len);
        return;
    case PROTO_PING:
        if (!proto_dec_u64(pl, h->len, &v))
            break;
        uint8_t f[32];
        rb_conn_send(c, f, proto_enc_u64(f, sizeof f, PROTO_PONG, v));
        return;
    case PROTO_PONG:
        if (!proto_dec_u64(pl, h->len, &v))
            break;
        if (c->ping_out && v == c->cookie) {
            c->ping_out = false;
            c->missed = 0;
        }
        return;
    case PROTO_ERROR:
        if (!proto_dec_error(pl, h->len, &code, &s))
            break; /* never answer an ERROR with ERROR: no loops */
        cm_copy_text(text, sizeof text, s.s, s.n);
        rb_conn_logf(c, "%s reported error %u: %s", peer_name(c), code, text);
        return;
    case PROTO_GOODBYE:
        if (!proto_dec_goodbye(pl, h->len, &s))
            break;
        cm_copy_text(text, sizeof text, s.s, s.n);
        rb_conn_fail(c, "%s said goodbye%s%s", peer_name(c), text[0] ? ": " : "", text);
        return;
    default:
        rb_conn_logf(c, "%s sent unknown control message type 0x%02x", peer_name(c), h->type);
        rb_conn_send_error(c, PROTO_ENOSYS, "unknown control message type");
        return;
    }
    if (h->type != PROTO_ERROR) {
        rb_conn_logf(c, "%s sent a malformed %s", peer_name(c), proto_type_name(h->type));
        rb_conn_send_error(c, PROTO_EINVAL, "malformed control message");
    } else {
        rb_conn_logf(c, "%s sent a malformed ERROR", peer_name(c));
    }
}

static void dispatch(rb_conn *c, const proto_hdr *h, const uint8_t *pl)
{
    if (!c->ready && h->type != PROTO_HELLO) {
        rb_conn_logf(c, "%s sent %s before HELLO", peer_name(c), proto_type_name(h->type));
        if (h->type != PROTO_ERROR && h->type != PROTO_CH_ERROR)
            rb_conn_send_error(c, PROTO_EPROTO, "expected HELLO");
        else if (h->type == PROTO_ERROR)
            on_control(c, h, pl); /* e.g. the guest refusing our HELLO: worth logging */
        return;
    }
    if (h->chan == 0) {
        on_control(c, h, pl);
        return;
    }
    if (c->ops && c->ops->frame)
        c->ops->frame(c->ctx, h, pl);
}

int rb_conn_on_readable(rb_conn *c)
{
    if (c->dead)
        return -1;
    ssize_t n;
    do
        n = read(c->fd, c->in, c->in_cap);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno == ECONNRESET) /* closed while our last frames were still unread */
            rb_conn_fail(c, "bridge connection closed by %s (reset)", peer_name(c));
        else
            rb_conn_fail(c, "bridge connection read failed: %s", strerror(errno));
        return -1;
    }
    if (n == 0) {
        rb_conn_fail(c, "bridge connection closed by %s", peer_name(c));
        return -1;
    }
    c->rx_bytes += (uint64_t)n;
    c->last_rx_ms = rb_now_ms();
    c->missed = 0;
    size_t off = 0;
    while (off < (size_t)n && !c->dead) {
        size_t used;
        proto_hdr h;
        const uint8_t *pl;
        int r = proto_reader_feed(&c->rd, c->in + off, (size_t)n - off, &used, &h, &pl);
        off += used;
        if (r == PROTO_BAD_FRAME) {
            /* The fast path rejects before consuming; the slow path has the header in rdbuf. */
            proto_hdr bad;
            proto_hdr_decode(used == 0 ? c->in + off : c->rdbuf, UINT32_MAX, &bad);
            rb_conn_fail(c, "%s sent a %s frame header with length %u, above the limit of %u: "
                            "stream cannot be trusted, connection closed",
                         peer_name(c), proto_type_name(bad.type), bad.len, c->rd.limit);
            return -1;
        }
        if (r == PROTO_FRAME)
            dispatch(c, &h, pl);
        else if (used == 0)
            break;
    }
    return c->dead ? -1 : 0;
}

int rb_conn_tick(rb_conn *c, int64_t now)
{
    if (c->dead || !c->ready || c->cfg.ping_interval_ms <= 0)
        return -1;
    int iv = c->cfg.ping_interval_ms;
    int64_t due = c->ping_out ? c->ping_sent_ms + iv : c->last_rx_ms + iv;
    if (now < due)
        return (int)(due - now);
    if (c->ping_out && ++c->missed >= RB_PING_MISSES) {
        rb_conn_fail(c, "%s did not answer %d keepalive PINGs (%d s): connection dead",
                     peer_name(c), RB_PING_MISSES, RB_PING_MISSES * iv / 1000);
        return -1;
    }
    c->cookie++;
    c->ping_out = true;
    c->ping_sent_ms = now;
    uint8_t f[32];
    rb_conn_send(c, f, proto_enc_u64(f, sizeof f, PROTO_PING, c->cookie));
    return iv;
}

int rb_conn_handshake(rb_conn *c, int stop_fd, int timeout_ms)
{
    if (c->role == RB_HOST)
        rb_conn_hello(c);
    int64_t end = timeout_ms < 0 ? -1 : rb_now_ms() + timeout_ms;
    int64_t next_hello = rb_now_ms() + RB_HELLO_RETRY_MS;
    while (!c->ready && !c->dead) {
        if (c->role == RB_HOST && rb_now_ms() >= next_hello) {
            rb_conn_hello(c);
            rb_conn_flush(c);
            next_hello = rb_now_ms() + RB_HELLO_RETRY_MS;
        }
        struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN | (rb_conn_want_write(c) ? POLLOUT : 0)},
                              {.fd = stop_fd, .events = POLLIN}};
        int wait = -1;
        if (end >= 0) {
            int64_t left = end - rb_now_ms();
            if (left <= 0) {
                rb_conn_fail(c, "no HELLO from %s within %d ms", peer_name(c), timeout_ms);
                break;
            }
            wait = (int)left;
        }
        if (c->role == RB_HOST) {
            int64_t h = next_hello - rb_now_ms();
            if (h < 0)
                h = 0;
            if (wait < 0 || h < wait)
                wait = (int)h;
        }
        int r = poll(p, stop_fd >= 0 ? 2 : 1, wait);
        if (r < 0 && errno != EINTR) {
            rb_conn_fail(c, "poll: %s", strerror(errno));
            break;
        }
        if (r <= 0)
            continue;
        if (stop_fd >= 0 && (p[1].revents & (POLLIN | POLLHUP))) {
            rb_conn_fail(c, "stopped before the handshake finished");
            break;
        }
        if (p[0].revents & POLLOUT)
            rb_conn_flush(c);
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
            rb_conn_on_readable(c);
        rb_conn_flush(c);
    }
    rb_conn_flush(c);
    return c->ready && !c->dead ? 0 : -1;
}
