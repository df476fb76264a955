/* Connection level of the guest daemon: handshake, control channel, and routing frames to
 * channels (PROTOCOL.md, Control channel and Errors). */
#include "guestd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int guest_init(guestd *g, const guest_backend *be, const char *agent, int epfd)
{
    memset(g, 0, sizeof *g);
    g->be = *be;
    g->agent = agent;
    g->epfd = epfd;
    g->rdbuf = malloc(PROTO_HDR_SIZE + GUEST_MAX_FRAME);
    if (!g->rdbuf)
        return -1;
    guest_outq_init(&g->out, GUEST_OUTQ_MAX);
    guest_conn_reset(g);
    return 0;
}

void guest_fini(guestd *g)
{
    guest_chan_drop_all(g);
    for (int i = 0; i < g->nslots; i++) {
        guest_chan *c = g->slots[i];
        if (c) {
            free(c->ring);
            free(c);
        }
    }
    g->nslots = 0;
    free(g->rdbuf);
    g->rdbuf = NULL;
    guest_outq_free(&g->out);
}

void guest_conn_reset(guestd *g)
{
    guest_chan_drop_all(g);
    guest_outq_clear(&g->out);
    g->handshaken = false;
    g->overflow = false;
    g->paused = false;
    g->max_frame = PROTO_PREHELLO_MAX_FRAME;
    g->host_window = PROTO_MIN_WINDOW;
    g->features = 0;
    proto_reader_init(&g->rd, g->rdbuf, PROTO_PREHELLO_MAX_FRAME);
}

static void send_hello(guestd *g)
{
    proto_hello me = {.version_min = PROTO_VERSION, .version_max = PROTO_VERSION,
                      .features = PROTO_F_EXEC | PROTO_F_PTY, .max_frame = GUEST_MAX_FRAME,
                      .window = GUEST_WINDOW,
                      .agent = {g->agent, (uint32_t)strnlen(g->agent, 256)}};
    uint8_t f[PROTO_HDR_SIZE + 32 + 256];
    guest_send(g, f, proto_enc_hello(f, sizeof f, &me));
}

static void on_hello(guestd *g, const uint8_t *p, size_t n)
{
    proto_hello peer;
    if (!proto_dec_hello(p, n, &peer)) {
        guest_send_error(g, PROTO_ERROR, 0, PROTO_EINVAL, "malformed HELLO");
        return;
    }
    /* A HELLO after the handshake is a session reset: the host starts clean. Only worth a
     * log line when it ends programs: the host repeats HELLO every second until answered,
     * so a daemon that starts late finds a queue of them. */
    bool repeat = g->handshaken;
    if (repeat) {
        if (g->nopen)
            guest_log("HELLO again: session reset, ending %u channel(s)", g->nopen);
        guest_chan_drop_all(g);
        g->handshaken = false;
    }
    proto_hello me = {.version_min = PROTO_VERSION, .version_max = PROTO_VERSION,
                      .features = PROTO_F_EXEC | PROTO_F_PTY, .max_frame = GUEST_MAX_FRAME};
    uint16_t version;
    uint32_t features, mf;
    if (!proto_negotiate(&me, &peer, &version, &features, &mf)) {
        char t[96];
        snprintf(t, sizeof t, "protocol versions %u-%u not supported (guest speaks %u)",
                 peer.version_min, peer.version_max, PROTO_VERSION);
        guest_send_error(g, PROTO_ERROR, 0, PROTO_EPROTONOSUPPORT, t);
        return;
    }
    g->handshaken = true;
    g->features = features;
    g->max_frame = mf;
    g->host_window = peer.window;
    g->rd.limit = GUEST_MAX_FRAME; /* between frames: safe to widen */
    send_hello(g);
    if (!repeat)
        guest_log("host connected: %.*s", (int)(peer.agent.n > 200 ? 200 : peer.agent.n),
                  peer.agent.s);
}

static void on_control(guestd *g, const proto_hdr *h, const uint8_t *p)
{
    if (h->type == PROTO_HELLO) {
        on_hello(g, p, h->len);
        return;
    }
    if (!g->handshaken) {
        guest_send_error(g, PROTO_ERROR, 0, PROTO_EPROTO, "HELLO expected");
        return;
    }
    uint64_t cookie;
    uint32_t code;
    proto_str text;
    switch (h->type) {
    case PROTO_PING:
        if (!proto_dec_u64(p, h->len, &cookie)) {
            guest_send_error(g, PROTO_ERROR, 0, PROTO_EINVAL, "malformed PING");
            return;
        }
        uint8_t f[PROTO_HDR_SIZE + 8];
        guest_send(g, f, proto_enc_u64(f, sizeof f, PROTO_PONG, cookie));
        return;
    case PROTO_PONG:
        if (!proto_dec_u64(p, h->len, &cookie))
            guest_send_error(g, PROTO_ERROR, 0, PROTO_EINVAL, "malformed PONG");
        return;
    case PROTO_ERROR:
        if (!proto_dec_error(p, h->len, &code, &text))
            guest_send_error(g, PROTO_ERROR, 0, PROTO_EINVAL, "malformed ERROR");
        else
            guest_log("host error %u: %.*s", code, (int)(text.n > 200 ? 200 : text.n), text.s);
        return;
    case PROTO_GOODBYE:
        if (!proto_dec_goodbye(p, h->len, &text)) {
            guest_send_error(g, PROTO_ERROR, 0, PROTO_EINVAL, "malformed GOODBYE");
            return;
        }
        /* The host is leaving: end its programs and wait for the next HELLO. */
        guest_log("host said goodbye: %.*s", (int)(text.n > 200 ? 200 : text.n), text.s);
        guest_chan_drop_all(g);
        g->handshaken = false;
        return;
    default:
        guest_send_error(g, PROTO_ERROR, 0, PROTO_ENOSYS, "unknown control message");
        return;
    }
}

static void on_frame(guestd *g, const proto_hdr *h, const uint8_t *p)
{
    if (h->chan == 0) {
        on_control(g, h, p);
        return;
    }
    if (!g->handshaken) {
        guest_send_error(g, PROTO_ERROR, 0, PROTO_EPROTO, "HELLO expected");
        return;
    }
    guest_chan *c = guest_chan_find(g, h->chan);
    if (h->type == PROTO_OPEN) {
        if (h->chan & PROTO_GUEST_CHAN_BIT)
            guest_send_error(g, PROTO_CH_ERROR, h->chan, PROTO_EPROTO,
                             "channel id reserved for the guest");
        else if (c)
            guest_send_error(g, PROTO_CH_ERROR, h->chan, PROTO_EBUSY, "channel already open");
        else
            guest_chan_open(g, h->chan, p, h->len);
        return;
    }
    if (!c) {
        /* never answer CH_ERROR or CLOSE: two peers must not bounce errors forever */
        if (h->type != PROTO_CH_ERROR && h->type != PROTO_CLOSE)
            guest_send_error(g, PROTO_CH_ERROR, h->chan, PROTO_EBADF, "channel not open");
        return;
    }
    guest_chan_frame(g, c, h, p);
}

int guest_input(guestd *g, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t used;
        proto_hdr h;
        const uint8_t *payload;
        int st = proto_reader_feed(&g->rd, p, n, &used, &h, &payload);
        if (st == PROTO_BAD_FRAME) {
            guest_log("frame from the host exceeds %u bytes: closing the connection",
                      g->rd.limit);
            return -1;
        }
        p += used;
        n -= used;
        if (st == PROTO_FRAME)
            on_frame(g, &h, payload);
        if (g->overflow)
            return -1;
    }
    return 0;
}
