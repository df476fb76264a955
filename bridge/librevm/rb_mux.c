/* The multiplexer (see rb_mux.h for the model). */
#include "rb_mux.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Stop reading clients while this much waits to be written to the VM: client reads are what
 * fill that queue, so pausing them bounds it without ever pausing the VM's own input. */
#define VM_OUT_HIGH (4u << 20)
/* A VM that does not read its stream while flooding us with requests is cut off here. */
#define VM_OUT_FAIL (256u << 20)
/* Stop reading a client (its PINGs, its requests) while its own output queue is this long. */
#define CL_OUT_HIGH (1u << 20)
/* One client may hold this many of the VM's PROTO_MAX_CHANNELS, so it cannot lock the
 * others out. */
#define CL_MAX_CHANNELS (PROTO_MAX_CHANNELS / 4)

typedef struct mux_client mux_client;

typedef struct mux_chan {
    bool used;
    uint32_t vm_id;
    mux_client *cl; /* NULL once the client is gone */
    uint32_t cid;   /* the client's id for it */
    bool open_ok, exit_seen;
    bool vm_done;   /* the VM side is finished: CLOSE both ways, or a CH_ERROR */
    bool vm_close_sent, vm_close_rcvd;
    bool cl_done;   /* the client side is finished */
    bool cl_close_sent;
    bool cl_close_rcvd;  /* the client asked to close: the VM's CLOSE is its answer */
    uint32_t in_avail;   /* stdin bytes the client may still send (mirrors the VM's credit) */
    bool in_eof;
    uint32_t vm_avail[3]; /* output bytes the VM may still send us */
    uint32_t cl_credit[3]; /* output bytes we may still send the client */
    bool out_eof[3];
    rb_buf held; /* VM frames for the client waiting behind output without client credit */
} mux_chan;

struct mux_client {
    rb_conn conn;
    mux_client *next;
    struct rb_mux *m;
    bool gone;
    uint32_t *chans; /* vm ids of its channels */
    size_t n_chans, cap_chans;
};

enum slot_kind { SLOT_VM, SLOT_LISTEN, SLOT_CLIENT };

struct rb_mux {
    rb_mux_opts o;
    char agent[128];
    rb_conn vm;
    int listen_fd;
    enum rb_mux_state state;
    char why[256];
    bool down_reported;
    int64_t hs_deadline;
    int64_t next_hello;
    mux_chan *ch; /* indexed by vm id, 1..PROTO_MAX_CHANNELS */
    size_t n_open;
    uint32_t next_id;
    mux_client *clients;
    size_t n_clients;
    struct { enum slot_kind kind; mux_client *cl; } *slots;
    size_t n_slots;
};

static void mlog(rb_mux *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mlog(rb_mux *m, const char *fmt, ...)
{
    if (!m->o.log)
        return;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    m->o.log(m->o.ctx, msg);
}

static void vm_conn_log(void *ctx, const char *msg) { mlog(ctx, "VM: %s", msg); }
static void cl_conn_log(void *ctx, const char *msg)
{
    mux_client *c = ctx;
    mlog(c->m, "client: %s", msg);
}

/* ---- channel bookkeeping ---- */

static mux_chan *chan_of_vm(rb_mux *m, uint32_t id)
{
    if (id == 0 || id > PROTO_MAX_CHANNELS || !m->ch[id].used)
        return NULL;
    return &m->ch[id];
}

static mux_chan *chan_of_client(mux_client *c, uint32_t cid)
{
    for (size_t i = 0; i < c->n_chans; i++) {
        mux_chan *ch = &c->m->ch[c->chans[i]];
        if (ch->cid == cid && !ch->cl_done)
            return ch;
    }
    return NULL;
}

static void detach(mux_chan *ch)
{
    mux_client *c = ch->cl;
    if (!c)
        return;
    for (size_t i = 0; i < c->n_chans; i++)
        if (c->chans[i] == ch->vm_id) {
            c->chans[i] = c->chans[--c->n_chans];
            break;
        }
    ch->cl = NULL;
}

/* Frees the slot once neither side can still refer to it. */
static void maybe_free(rb_mux *m, mux_chan *ch)
{
    if (!ch->used || !ch->vm_done || !(ch->cl_done || !ch->cl))
        return;
    detach(ch);
    rb_buf_free(&ch->held);
    memset(ch, 0, sizeof *ch);
    m->n_open--;
}

/* The client side ends (client closed it, or it is gone): the VM side gets a CLOSE. */
static void client_side_end(rb_mux *m, mux_chan *ch)
{
    ch->cl_done = true;
    rb_buf_free(&ch->held);
    if (!ch->vm_done && !ch->vm_close_sent) {
        ch->vm_close_sent = true;
        rb_conn_send_empty(&m->vm, PROTO_CLOSE, ch->vm_id);
    }
    maybe_free(m, ch);
}

/* ---- VM -> client, in order, within the client's credit ---- */

static void held_append(mux_chan *ch, uint8_t type, uint8_t stream, const uint8_t *pl, size_t n,
                        bool data)
{
    uint8_t hdr[PROTO_HDR_SIZE + 1];
    proto_hdr h = {.len = (uint32_t)(n + (data ? 1 : 0)), .chan = ch->cid, .type = type};
    proto_hdr_encode(hdr, &h);
    hdr[PROTO_HDR_SIZE] = stream;
    if (rb_buf_append(&ch->held, hdr, PROTO_HDR_SIZE + (data ? 1 : 0)) < 0 ||
        rb_buf_append(&ch->held, pl, n) < 0)
        rb_conn_fail(&ch->cl->conn, "out of memory holding output");
}

/* Sends held frames while the client's credit allows; a DATA frame may go out in part (the
 * rest stays held as a shorter frame, rewritten in place). */
static void held_flush(mux_chan *ch)
{
    rb_conn *cc = &ch->cl->conn;
    while (rb_buf_len(&ch->held) >= PROTO_HDR_SIZE) {
        uint8_t *f = (uint8_t *)rb_buf_data(&ch->held);
        proto_hdr h;
        proto_hdr_decode(f, UINT32_MAX, &h);
        if (h.type != PROTO_DATA) {
            rb_conn_send(cc, f, PROTO_HDR_SIZE + h.len);
            rb_buf_consume(&ch->held, PROTO_HDR_SIZE + h.len);
            continue;
        }
        uint8_t s = f[PROTO_HDR_SIZE];
        size_t n = h.len - 1;
        size_t k = n < ch->cl_credit[s] ? n : ch->cl_credit[s];
        if (k == 0 && n > 0)
            return;
        rb_conn_send_data(cc, ch->cid, s, f + PROTO_HDR_SIZE + 1, k);
        ch->cl_credit[s] -= (uint32_t)k;
        if (k == n) {
            rb_buf_consume(&ch->held, PROTO_HDR_SIZE + h.len);
            continue;
        }
        rb_buf_consume(&ch->held, k);
        f = (uint8_t *)rb_buf_data(&ch->held);
        h.len = (uint32_t)(n - k + 1);
        proto_hdr_encode(f, &h);
        f[PROTO_HDR_SIZE] = s;
        return;
    }
}

/* Re-encodes a VM frame for the client (new channel id); held when output is waiting. */
static void to_client(mux_chan *ch, uint8_t type, const uint8_t *pl, size_t n)
{
    if (!ch->cl || ch->cl_done)
        return;
    if (rb_buf_len(&ch->held)) {
        held_append(ch, type, 0, pl, n, false);
        return;
    }
    uint8_t hdr[PROTO_HDR_SIZE];
    proto_hdr h = {.len = (uint32_t)n, .chan = ch->cid, .type = type};
    proto_hdr_encode(hdr, &h);
    rb_conn_send(&ch->cl->conn, hdr, sizeof hdr);
    if (n)
        rb_conn_send(&ch->cl->conn, pl, n);
}

static void data_to_client(mux_chan *ch, uint8_t s, const uint8_t *d, size_t n)
{
    if (!ch->cl || ch->cl_done) {
        /* Nobody reads it any more: credit it straight back so the VM side can finish. */
        return;
    }
    size_t k = 0;
    if (!rb_buf_len(&ch->held)) {
        k = n < ch->cl_credit[s] ? n : ch->cl_credit[s];
        if (k) {
            rb_conn_send_data(&ch->cl->conn, ch->cid, s, d, k);
            ch->cl_credit[s] -= (uint32_t)k;
        }
    }
    if (k < n)
        held_append(ch, PROTO_DATA, s, d + k, n - k, true);
}

/* ---- frames from the VM ---- */

static void vm_violation(rb_mux *m, mux_chan *ch, const char *what)
{
    mlog(m, "VM protocol error on channel %u: %s", ch->vm_id, what);
    rb_conn_send_cherr(&m->vm, ch->vm_id, PROTO_EPROTO, what);
    ch->vm_done = true;
    if (ch->cl && !ch->cl_done) {
        char t[200];
        snprintf(t, sizeof t, "protocol error from the VM: %s", what);
        rb_buf_free(&ch->held);
        rb_conn_send_cherr(&ch->cl->conn, ch->cid, PROTO_EPROTO, t);
        ch->cl_done = true;
    }
    maybe_free(m, ch);
}

static void vm_frame(void *ctx, const proto_hdr *h, const uint8_t *pl)
{
    rb_mux *m = ctx;
    mux_chan *ch = chan_of_vm(m, h->chan);
    if (!ch || ch->vm_done) {
        if (rb_conn_reject_stray(&m->vm, h))
            mlog(m, "VM sent %s on channel %u, which is not open", proto_type_name(h->type), h->chan);
        return;
    }
    if (!proto_msg_allowed(h->type, h->chan, true))
        return vm_violation(m, ch, "unexpected message type on an exec channel");
    uint8_t s;
    uint32_t k, pid, code;
    const uint8_t *d;
    size_t dn;
    proto_exit x;
    proto_str t;
    switch (h->type) {
    case PROTO_OPEN_OK:
        if (ch->open_ok || !proto_dec_open_ok(pl, h->len, &pid))
            return vm_violation(m, ch, "unexpected or malformed OPEN_OK");
        ch->open_ok = true;
        return to_client(ch, h->type, pl, h->len);
    case PROTO_CH_ERROR:
        if (!proto_dec_error(pl, h->len, &code, &t))
            return vm_violation(m, ch, "malformed CH_ERROR");
        ch->vm_done = true;
        if (ch->cl && !ch->cl_done) {
            char txt[512];
            snprintf(txt, sizeof txt, "%.*s", (int)(t.n < 500 ? t.n : 500), t.s);
            rb_buf_free(&ch->held); /* an error ends the channel: pending output is moot */
            rb_conn_send_cherr(&ch->cl->conn, ch->cid, code, txt);
            ch->cl_done = true;
        }
        maybe_free(m, ch);
        return;
    case PROTO_DATA:
        if (!proto_dec_data(pl, h->len, &s, &d, &dn) || s == PROTO_STDIN)
            return vm_violation(m, ch, "malformed DATA or DATA on stream 0");
        if (!ch->open_ok || ch->out_eof[s])
            return vm_violation(m, ch, "DATA before OPEN_OK or after EOF");
        if (dn > ch->vm_avail[s])
            return vm_violation(m, ch, "DATA beyond credit");
        ch->vm_avail[s] -= (uint32_t)dn;
        if (!ch->cl || ch->cl_done) {
            /* Nobody reads it any more: return the credit so the guest is never stuck. */
            ch->vm_avail[s] += (uint32_t)dn;
            if (dn && !ch->vm_close_rcvd)
                rb_conn_send_credit(&m->vm, ch->vm_id, s, (uint32_t)dn);
            return;
        }
        return data_to_client(ch, s, d, dn);
    case PROTO_EOF:
        if (!proto_dec_stream(pl, h->len, &s) || s == PROTO_STDIN || ch->out_eof[s])
            return vm_violation(m, ch, "malformed, repeated or stream-0 EOF");
        ch->out_eof[s] = true;
        return to_client(ch, h->type, pl, h->len);
    case PROTO_CREDIT:
        if (!proto_dec_credit(pl, h->len, &s, &k) || s != PROTO_STDIN)
            return vm_violation(m, ch, "malformed CREDIT or CREDIT for an output stream");
        if (k > m->vm.p.peer_window - ch->in_avail)
            return vm_violation(m, ch, "CREDIT beyond the window");
        ch->in_avail += k;
        if (k && ch->cl && !ch->cl_done) /* credit never waits behind held output */
            rb_conn_send_credit(&ch->cl->conn, ch->cid, PROTO_STDIN, k);
        return;
    case PROTO_EXIT:
        if (!proto_dec_exit(pl, h->len, &x) || ch->exit_seen || !ch->open_ok)
            return vm_violation(m, ch, "malformed, early or repeated EXIT");
        ch->exit_seen = true;
        return to_client(ch, h->type, pl, h->len);
    case PROTO_CLOSE:
        if (h->len)
            return vm_violation(m, ch, "malformed CLOSE");
        ch->vm_close_rcvd = true;
        if (!ch->vm_close_sent) {
            ch->vm_close_sent = true;
            rb_conn_send_empty(&m->vm, PROTO_CLOSE, ch->vm_id);
        }
        ch->vm_done = true;
        if (ch->cl && !ch->cl_done && !ch->cl_close_sent) {
            ch->cl_close_sent = true;
            if (ch->cl_close_rcvd) {
                /* The answer to the client's own CLOSE: it aborted, held output is moot. */
                rb_buf_free(&ch->held);
                to_client(ch, PROTO_CLOSE, pl, 0);
                ch->cl_done = true;
            } else {
                to_client(ch, PROTO_CLOSE, pl, 0);
            }
        }
        maybe_free(m, ch);
        return;
    default:
        return vm_violation(m, ch, "unexpected message type on an exec channel");
    }
}

static void drop_all_channels(rb_mux *m, const char *why)
{
    for (uint32_t id = 1; id <= PROTO_MAX_CHANNELS; id++) {
        mux_chan *ch = &m->ch[id];
        if (!ch->used)
            continue;
        if (ch->cl && !ch->cl_done) {
            rb_buf_free(&ch->held);
            rb_conn_send_cherr(&ch->cl->conn, ch->cid, PROTO_EIO, why);
        }
        ch->cl_done = ch->vm_done = true;
        maybe_free(m, ch);
    }
}

static void client_cfg_from_vm(rb_mux *m, rb_conn_cfg *cfg)
{
    *cfg = (rb_conn_cfg){
        .version_min = m->vm.p.version, .version_max = m->vm.p.version,
        .features = m->vm.p.features, .max_frame = m->vm.p.max_frame,
        .window = m->vm.p.peer_window, .agent = m->vm.p.agent, .ping_interval_ms = 0};
}

static void vm_ready(void *ctx, bool reset)
{
    rb_mux *m = ctx;
    if (reset) {
        /* The guest restarted its session: all its channels are gone. Clients keep their
         * connections (they were told the VM's parameters, which may have changed: the
         * window matters, so they are cut off to reconnect and learn the new ones). */
        mlog(m, "VM reset the bridge session");
        drop_all_channels(m, "the VM reset the bridge session");
        for (mux_client *c = m->clients; c; c = c->next)
            if (!c->gone)
                rb_conn_fail(&c->conn, "VM reset the bridge session");
        return;
    }
    m->state = RB_MUX_READY;
    if (m->o.on_ready)
        m->o.on_ready(m->o.ctx, &m->vm.p);
}

static const rb_conn_ops vm_ops = {.frame = vm_frame, .ready = vm_ready, .log = vm_conn_log};

/* ---- frames from a client ---- */

static bool add_client_chan(mux_client *c, uint32_t id)
{
    if (c->n_chans == c->cap_chans) {
        size_t cap = c->cap_chans ? 2 * c->cap_chans : 8;
        uint32_t *p = realloc(c->chans, cap * sizeof *p);
        if (!p)
            return false;
        c->chans = p;
        c->cap_chans = cap;
    }
    c->chans[c->n_chans++] = id;
    return true;
}

static void client_open(mux_client *c, const proto_hdr *h, const uint8_t *pl)
{
    rb_mux *m = c->m;
    uint16_t service;
    if (h->chan & PROTO_GUEST_CHAN_BIT) {
        rb_conn_send_cherr(&c->conn, h->chan, PROTO_EPROTO, "channel id is in the guest's range");
        return;
    }
    if (chan_of_client(c, h->chan)) {
        rb_conn_send_cherr(&c->conn, h->chan, PROTO_EBUSY, "channel already open");
        return;
    }
    if (!proto_dec_open_service(pl, h->len, &service)) {
        rb_conn_send_cherr(&c->conn, h->chan, PROTO_EPROTO, "malformed OPEN");
        return;
    }
    if (c->n_chans >= CL_MAX_CHANNELS) {
        rb_conn_send_cherr(&c->conn, h->chan, PROTO_EAGAIN, "too many open channels for one client");
        return;
    }
    if (m->n_open >= PROTO_MAX_CHANNELS) {
        rb_conn_send_cherr(&c->conn, h->chan, PROTO_EAGAIN, "too many open channels on this VM");
        return;
    }
    uint32_t id = m->next_id;
    while (m->ch[id].used)
        id = id % PROTO_MAX_CHANNELS + 1;
    m->next_id = id % PROTO_MAX_CHANNELS + 1;
    if (!add_client_chan(c, id)) {
        rb_conn_send_cherr(&c->conn, h->chan, PROTO_ENOMEM, "out of memory");
        return;
    }
    mux_chan *ch = &m->ch[id];
    *ch = (mux_chan){.used = true, .vm_id = id, .cl = c, .cid = h->chan,
                     .in_avail = m->vm.p.peer_window};
    ch->vm_avail[1] = ch->vm_avail[2] = m->vm.p.my_window;
    ch->cl_credit[1] = ch->cl_credit[2] = c->conn.p.peer_window;
    m->n_open++;
    /* The request goes on unchanged apart from the channel id. */
    uint8_t hdr[PROTO_HDR_SIZE];
    proto_hdr fh = {.len = h->len, .chan = id, .type = PROTO_OPEN};
    proto_hdr_encode(hdr, &fh);
    rb_conn_send(&m->vm, hdr, sizeof hdr);
    rb_conn_send(&m->vm, pl, h->len);
}

static void client_violation(mux_client *c, mux_chan *ch, const char *what)
{
    mlog(c->m, "client protocol error on its channel %u: %s", ch->cid, what);
    rb_conn_send_cherr(&c->conn, ch->cid, PROTO_EPROTO, what);
    client_side_end(c->m, ch);
}

static void client_frame(void *ctx, const proto_hdr *h, const uint8_t *pl)
{
    mux_client *c = ctx;
    rb_mux *m = c->m;
    if (h->type == PROTO_OPEN)
        return client_open(c, h, pl);
    mux_chan *ch = chan_of_client(c, h->chan);
    if (!ch) {
        if (h->type != PROTO_CH_ERROR && h->type != PROTO_CLOSE)
            rb_conn_send_cherr(&c->conn, h->chan, PROTO_EBADF, "channel not open");
        return;
    }
    if (!proto_msg_allowed(h->type, h->chan, false))
        return client_violation(c, ch, "unexpected message type on an exec channel");
    uint8_t s;
    uint32_t k, u32;
    uint16_t r16, c16;
    const uint8_t *d;
    size_t dn;
    uint8_t f[32];
    switch (h->type) {
    case PROTO_DATA:
        if (!proto_dec_data(pl, h->len, &s, &d, &dn) || s != PROTO_STDIN || ch->in_eof)
            return client_violation(c, ch, "malformed DATA, DATA on an output stream or after EOF");
        if (dn > ch->in_avail)
            return client_violation(c, ch, "DATA beyond credit");
        ch->in_avail -= (uint32_t)dn;
        if (!ch->vm_done && !ch->vm_close_sent)
            rb_conn_send_data(&m->vm, ch->vm_id, PROTO_STDIN, d, dn);
        return;
    case PROTO_EOF:
        if (!proto_dec_stream(pl, h->len, &s) || s != PROTO_STDIN || ch->in_eof)
            return client_violation(c, ch, "malformed or repeated EOF");
        ch->in_eof = true;
        if (!ch->vm_done && !ch->vm_close_sent)
            rb_conn_send_stream(&m->vm, PROTO_EOF, ch->vm_id, PROTO_STDIN);
        return;
    case PROTO_CREDIT:
        if (!proto_dec_credit(pl, h->len, &s, &k) || s == PROTO_STDIN)
            return client_violation(c, ch, "malformed CREDIT or CREDIT for stdin");
        if (k > c->conn.p.peer_window - ch->cl_credit[s])
            return client_violation(c, ch, "CREDIT beyond the window");
        ch->cl_credit[s] += k;
        held_flush(ch);
        /* The client consumed k bytes: the VM may send that much more. */
        if (k && !ch->vm_done) {
            ch->vm_avail[s] += k;
            if (ch->vm_avail[s] > m->vm.p.my_window) { /* cannot happen; keep the VM honest */
                k -= ch->vm_avail[s] - m->vm.p.my_window;
                ch->vm_avail[s] = m->vm.p.my_window;
            }
            if (k)
                rb_conn_send_credit(&m->vm, ch->vm_id, s, k);
        }
        return;
    case PROTO_WINSIZE:
        if (!proto_dec_winsize(pl, h->len, &r16, &c16))
            return client_violation(c, ch, "malformed WINSIZE");
        if (!ch->vm_done && !ch->vm_close_sent)
            rb_conn_send(&m->vm, f, proto_enc_winsize(f, sizeof f, ch->vm_id, r16, c16));
        return;
    case PROTO_SIGNAL:
        if (!proto_dec_signal(pl, h->len, &u32))
            return client_violation(c, ch, "malformed SIGNAL");
        if (!ch->vm_done && !ch->vm_close_sent)
            rb_conn_send(&m->vm, f, proto_enc_signal(f, sizeof f, ch->vm_id, u32));
        return;
    case PROTO_CLOSE:
    case PROTO_CH_ERROR:
        /* The client ends the channel: the VM hangs the process up and answers CLOSE, which
         * is passed on when the client is still waiting for it. */
        if (h->type == PROTO_CLOSE && !ch->vm_done && !ch->cl_close_sent) {
            ch->cl_close_rcvd = true;
            if (!ch->vm_close_sent) {
                ch->vm_close_sent = true;
                rb_conn_send_empty(&m->vm, PROTO_CLOSE, ch->vm_id);
            }
            return; /* cl_done when the VM's CLOSE is passed on */
        }
        if (h->type == PROTO_CLOSE && ch->vm_done && !ch->cl_close_sent) {
            ch->cl_close_sent = true; /* answer it ourselves: the VM side is over */
            to_client(ch, PROTO_CLOSE, pl, 0);
        }
        client_side_end(m, ch);
        return;
    default:
        return client_violation(c, ch, "unexpected message type on an exec channel");
    }
}

static void client_ready(void *ctx, bool reset)
{
    mux_client *c = ctx;
    if (!reset)
        return;
    /* A new session from the same client: its old channels are gone. */
    while (c->n_chans) {
        mux_chan *ch = &c->m->ch[c->chans[0]];
        detach(ch);
        client_side_end(c->m, ch);
    }
}

static const rb_conn_ops client_ops = {.frame = client_frame, .ready = client_ready,
                                       .log = cl_conn_log};

static void client_gone(rb_mux *m, mux_client *c)
{
    while (c->n_chans) {
        mux_chan *ch = &m->ch[c->chans[0]];
        detach(ch);
        client_side_end(m, ch);
    }
    c->gone = true;
}

static void reap_clients(rb_mux *m)
{
    mux_client **pp = &m->clients;
    while (*pp) {
        mux_client *c = *pp;
        if (c->conn.dead && !c->gone)
            client_gone(m, c);
        if (c->gone) {
            *pp = c->next;
            rb_conn_destroy(&c->conn);
            free(c->chans);
            free(c);
            m->n_clients--;
            continue;
        }
        pp = &c->next;
    }
}

int rb_mux_add_client(rb_mux *m, int fd)
{
    size_t max = m->o.max_clients ? m->o.max_clients : 256;
    if (m->state != RB_MUX_READY || m->n_clients >= max) {
        close(fd);
        return -1;
    }
    mux_client *c = calloc(1, sizeof *c);
    rb_conn_cfg cfg;
    client_cfg_from_vm(m, &cfg);
    if (!c || rb_conn_init(&c->conn, fd, RB_ANSWER, &cfg, &client_ops, c) < 0) {
        free(c);
        close(fd);
        mlog(m, "out of memory accepting a client");
        return -1;
    }
    c->m = m;
    c->next = m->clients;
    m->clients = c;
    m->n_clients++;
    return 0;
}

static void accept_clients(rb_mux *m)
{
    size_t max = m->o.max_clients ? m->o.max_clients : 256;
    while (m->n_clients < max) {
        int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                mlog(m, "accept: %s", strerror(errno));
            return;
        }
        if (rb_mux_add_client(m, fd) < 0)
            return;
    }
}

/* ---- VM down ---- */

static void go_down(rb_mux *m)
{
    if (m->state == RB_MUX_DOWN)
        return;
    snprintf(m->why, sizeof m->why, "%s", m->vm.why[0] ? m->vm.why : "VM connection ended");
    char t[300];
    snprintf(t, sizeof t, "VM connection lost: %s", m->why);
    drop_all_channels(m, t);
    for (mux_client *c = m->clients; c; c = c->next) {
        if (c->gone)
            continue;
        uint8_t f[PROTO_HDR_SIZE + 4 + 300];
        if (c->conn.ready)
            rb_conn_send(&c->conn, f, proto_enc_goodbye(f, sizeof f, t));
        rb_conn_flush(&c->conn); /* best effort: the client learns why */
        c->gone = true;
    }
    reap_clients(m);
    m->state = RB_MUX_DOWN;
    if (!m->down_reported && m->o.on_down) {
        m->down_reported = true;
        m->o.on_down(m->o.ctx, m->why);
    }
}

/* ---- public API ---- */

rb_mux *rb_mux_new(int vm_fd, int listen_fd, const rb_mux_opts *o, char *err, size_t errlen)
{
    rb_mux *m = calloc(1, sizeof *m);
    mux_chan *ch = calloc(PROTO_MAX_CHANNELS + 1, sizeof *ch);
    if (!m || !ch) {
        free(m);
        free(ch);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->o = *o;
    m->ch = ch;
    m->next_id = 1;
    m->listen_fd = listen_fd;
    snprintf(m->agent, sizeof m->agent, "%s", o->agent ? o->agent : "revm mux 0.1");
    rb_conn_cfg cfg = {.features = PROTO_F_EXEC | PROTO_F_PTY, .max_frame = o->max_frame,
                       .window = o->window, .agent = m->agent,
                       .ping_interval_ms = RB_PING_INTERVAL_MS};
    if (rb_conn_init(&m->vm, vm_fd, RB_HOST, &cfg, &vm_ops, m) < 0) {
        free(m->ch);
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (o->vm_params) {
        m->vm.p = *o->vm_params;
        m->vm.ready = true;
        m->vm.rd.limit = m->vm.cfg.max_frame;
        m->state = RB_MUX_READY;
    } else {
        rb_conn_hello(&m->vm);
        m->next_hello = rb_now_ms() + RB_HELLO_RETRY_MS;
        if (o->handshake_timeout_ms > 0)
            m->hs_deadline = rb_now_ms() + o->handshake_timeout_ms;
    }
    return m;
}

void rb_mux_free(rb_mux *m)
{
    if (!m)
        return;
    for (mux_client *c = m->clients; c; c = c->next)
        c->gone = true;
    reap_clients(m);
    for (uint32_t id = 1; id <= PROTO_MAX_CHANNELS; id++)
        rb_buf_free(&m->ch[id].held);
    rb_conn_destroy(&m->vm);
    if (m->listen_fd >= 0)
        close(m->listen_fd);
    free(m->ch);
    free(m->slots);
    free(m);
}

enum rb_mux_state rb_mux_state(const rb_mux *m) { return m->state; }
const char *rb_mux_why(const rb_mux *m) { return m->state == RB_MUX_DOWN ? m->why : ""; }
size_t rb_mux_clients(const rb_mux *m) { return m->n_clients; }
size_t rb_mux_channels(const rb_mux *m) { return m->n_open; }
size_t rb_mux_pollfd_count(const rb_mux *m) { return 2 + m->n_clients; }

size_t rb_mux_pollfds(rb_mux *m, struct pollfd *fds, size_t cap, int *timeout_ms)
{
    *timeout_ms = -1;
    if (m->state == RB_MUX_DOWN)
        return 0;
    size_t need = rb_mux_pollfd_count(m);
    if (m->n_slots < need) {
        void *p = realloc(m->slots, need * sizeof *m->slots);
        if (!p)
            return 0;
        m->slots = p;
        m->n_slots = need;
    }
    int64_t now = rb_now_ms();
    *timeout_ms = rb_conn_tick(&m->vm, now);
    if (m->state == RB_MUX_HANDSHAKE) {
        /* Repeat HELLO until the guest answers: virtio-serial drops what is written before
         * the guest daemon opens its port. */
        if (now >= m->next_hello) {
            rb_conn_hello(&m->vm);
            m->next_hello = now + RB_HELLO_RETRY_MS;
        }
        int left = (int)(m->next_hello - now);
        if (m->hs_deadline) {
            int dl = m->hs_deadline > now ? (int)(m->hs_deadline - now) : 0;
            if (dl < left)
                left = dl;
        }
        if (*timeout_ms < 0 || left < *timeout_ms)
            *timeout_ms = left;
    }
    size_t n = 0;
    size_t vm_q = rb_conn_queued(&m->vm);
    if (n < cap) {
        fds[n] = (struct pollfd){.fd = m->vm.fd, .events = POLLIN | (vm_q ? POLLOUT : 0)};
        m->slots[n].kind = SLOT_VM;
        m->slots[n++].cl = NULL;
    }
    if (m->state != RB_MUX_READY)
        return n;
    size_t max = m->o.max_clients ? m->o.max_clients : 256;
    if (m->listen_fd >= 0 && m->n_clients < max && n < cap) {
        fds[n] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
        m->slots[n].kind = SLOT_LISTEN;
        m->slots[n++].cl = NULL;
    }
    for (mux_client *c = m->clients; c && n < cap; c = c->next) {
        short ev = 0;
        if (vm_q < VM_OUT_HIGH && rb_conn_queued(&c->conn) < CL_OUT_HIGH)
            ev |= POLLIN;
        if (rb_conn_want_write(&c->conn))
            ev |= POLLOUT;
        fds[n] = (struct pollfd){.fd = c->conn.fd, .events = ev};
        m->slots[n].kind = SLOT_CLIENT;
        m->slots[n++].cl = c;
    }
    return n;
}

int rb_mux_step(rb_mux *m, const struct pollfd *fds, size_t n)
{
    if (m->state == RB_MUX_DOWN)
        return m->state;
    for (size_t i = 0; i < n && i < m->n_slots && !m->vm.dead; i++) {
        short re = fds[i].revents;
        if (!re)
            continue;
        switch (m->slots[i].kind) {
        case SLOT_VM:
            if (re & POLLOUT)
                rb_conn_flush(&m->vm);
            if (re & (POLLIN | POLLHUP | POLLERR))
                rb_conn_on_readable(&m->vm);
            break;
        case SLOT_LISTEN:
            accept_clients(m);
            break;
        case SLOT_CLIENT: {
            mux_client *c = m->slots[i].cl;
            if (c->gone)
                break;
            if (re & POLLOUT)
                rb_conn_flush(&c->conn);
            if (re & (POLLIN | POLLHUP | POLLERR)) {
                if (re & POLLIN)
                    rb_conn_on_readable(&c->conn);
                else
                    rb_conn_fail(&c->conn, "client hung up");
            }
            break;
        }
        }
    }
    /* Flush every queue once per step: replies generated above go out in one write each. */
    for (mux_client *c = m->clients; c; c = c->next)
        if (!c->gone && rb_conn_want_write(&c->conn))
            rb_conn_flush(&c->conn);
    reap_clients(m);
    rb_conn_flush(&m->vm);
    if (rb_conn_queued(&m->vm) > VM_OUT_FAIL)
        rb_conn_fail(&m->vm, "VM does not read its bridge stream (%u MiB queued)", VM_OUT_FAIL >> 20);
    if (!m->vm.dead && m->state == RB_MUX_HANDSHAKE && m->hs_deadline && rb_now_ms() >= m->hs_deadline)
        rb_conn_fail(&m->vm, "no HELLO from the VM within %d ms", m->o.handshake_timeout_ms);
    if (m->vm.dead)
        go_down(m);
    return m->state;
}

int rb_mux_run(int vm_fd, int listen_fd, const rb_mux_opts *o, char *why, size_t why_cap)
{
    char err[256];
    rb_mux *m = rb_mux_new(vm_fd, listen_fd, o, err, sizeof err);
    if (!m) {
        snprintf(why, why_cap, "%s", err);
        close(vm_fd);
        if (listen_fd >= 0)
            close(listen_fd);
        return -1;
    }
    struct pollfd *fds = NULL;
    size_t cap = 0;
    int rc = -1;
    for (;;) {
        size_t need = rb_mux_pollfd_count(m) + 1;
        if (need > cap) {
            struct pollfd *p = realloc(fds, need * sizeof *p);
            if (!p) {
                snprintf(why, why_cap, "out of memory");
                break;
            }
            fds = p;
            cap = need;
        }
        int timeout;
        size_t n = rb_mux_pollfds(m, fds, cap - 1, &timeout);
        fds[n] = (struct pollfd){.fd = o->stop_fd, .events = POLLIN};
        if (poll(fds, n + 1, timeout) < 0 && errno != EINTR) {
            snprintf(why, why_cap, "poll: %s", strerror(errno));
            break;
        }
        if (o->stop_fd >= 0 && (fds[n].revents & (POLLIN | POLLHUP))) {
            snprintf(why, why_cap, "stopped");
            rc = 0;
            break;
        }
        if (rb_mux_step(m, fds, n) == RB_MUX_DOWN) {
            snprintf(why, why_cap, "%s", rb_mux_why(m));
            break;
        }
    }
    free(fds);
    rb_mux_free(m);
    return rc;
}
