/* One protocol connection over a byte stream (PROTOCOL.md, Frames and Control channel):
 * framing with a fixed-size reader (a hostile peer cannot make it allocate), an output queue,
 * the HELLO handshake, PING keepalive and every control-channel rule. Channel frames
 * (chan != 0) are handed to the owner's callback: the exec client (rb_client.h) and the
 * multiplexer (rb_mux.h) both sit on top of this.
 *
 * Non-blocking and poll-driven: the owner polls rb_conn_fd() for POLLIN (and POLLOUT while
 * rb_conn_want_write()), calls rb_conn_on_readable / rb_conn_flush, and rb_conn_tick for
 * keepalive. Faults of the peer that end the connection set dead and a one-line why. */
#ifndef BRIDGE_LIBREVM_RB_CONN_H
#define BRIDGE_LIBREVM_RB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "rb_buf.h"

/* RB_HOST speaks HELLO first (towards a VM). RB_ANSWER answers a peer's HELLO: what the
 * multiplexer does towards its clients, which speak to it as if it were the guest. */
typedef enum rb_role { RB_HOST = 0, RB_ANSWER = 1 } rb_role;

#define RB_PING_INTERVAL_MS 5000 /* idle time before a keepalive PING */
#define RB_PING_MISSES 3         /* unanswered PINGs that make a connection dead */

typedef struct rb_conn_cfg {
    uint16_t version_min, version_max; /* 0 = PROTO_VERSION */
    uint32_t features;                 /* what we offer */
    uint32_t max_frame;                /* largest payload we accept; 0 = default */
    uint32_t window;                   /* credit we grant per channel and stream; 0 = default */
    const char *agent;                 /* our self-description */
    int ping_interval_ms;              /* 0 = no keepalive from this side */
} rb_conn_cfg;

/* What the handshake settled. */
typedef struct rb_params {
    uint16_t version;
    uint32_t features;
    uint32_t max_frame;   /* largest payload we may send */
    uint32_t peer_window; /* initial send credit per channel stream (peer's window) */
    uint32_t my_window;   /* initial receive credit we granted (our window) */
    char agent[256];      /* the peer's self-description, cut to fit */
} rb_params;

typedef struct rb_conn_ops {
    /* A frame on a channel (chan != 0), after the handshake. payload is valid only during
     * the call. The callback may send but must not destroy the connection. */
    void (*frame)(void *ctx, const proto_hdr *h, const uint8_t *payload);
    /* Handshake done (reset = the peer started a new session: drop every channel). */
    void (*ready)(void *ctx, bool reset);
    /* A fault of the peer that did not end the connection (logged by the owner). */
    void (*log)(void *ctx, const char *msg);
} rb_conn_ops;

typedef struct rb_conn {
    int fd;
    bool is_sock;
    rb_role role;
    rb_conn_cfg cfg;
    char my_agent[256];
    bool ready;
    bool dead;
    unsigned hellos_unanswered; /* RB_HOST: our HELLOs the peer has not answered yet */
    char why[256];
    rb_params p;
    proto_reader rd;
    uint8_t *rdbuf;
    uint8_t *in;
    size_t in_cap;
    rb_buf out;
    int64_t last_rx_ms, ping_sent_ms;
    int missed;
    bool ping_out;
    uint64_t cookie;
    uint64_t rx_bytes, tx_bytes;
    const rb_conn_ops *ops;
    void *ctx;
} rb_conn;

int64_t rb_now_ms(void);

/* Takes ownership of fd (made non-blocking, closed by rb_conn_destroy). -1 on ENOMEM. */
int rb_conn_init(rb_conn *c, int fd, rb_role role, const rb_conn_cfg *cfg,
                 const rb_conn_ops *ops, void *ctx);
void rb_conn_destroy(rb_conn *c);
/* RB_HOST: queue our HELLO (also used to reset a session). May be repeated until the peer
 * answers (virtio-serial drops what is written before the guest opens its port): each answer
 * to one of our HELLOs is expected, only an unsolicited one counts as the peer's reset. */
#define RB_HELLO_RETRY_MS 1000
void rb_conn_hello(rb_conn *c);

/* Reads what is available and dispatches every whole frame. Returns -1 once dead. */
int rb_conn_on_readable(rb_conn *c);
/* Writes queued output; -1 once dead. */
int rb_conn_flush(rb_conn *c);
static inline bool rb_conn_want_write(const rb_conn *c) { return rb_buf_len(&c->out) > 0; }
static inline size_t rb_conn_queued(const rb_conn *c) { return rb_buf_len(&c->out); }
/* Keepalive: sends PINGs, declares the connection dead after RB_PING_MISSES. Returns the
 * milliseconds until it wants to be called again, or -1. */
int rb_conn_tick(rb_conn *c, int64_t now_ms);

/* Marks the connection dead with a reason (first reason wins). */
void rb_conn_fail(rb_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rb_conn_logf(rb_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Queue a whole encoded frame. */
void rb_conn_send(rb_conn *c, const uint8_t *frame, size_t n);
/* DATA, split to the negotiated frame size; written straight from data when nothing is
 * queued (header and bytes in one writev, no copy). */
void rb_conn_send_data(rb_conn *c, uint32_t chan, uint8_t stream, const void *data, size_t n);
void rb_conn_send_credit(rb_conn *c, uint32_t chan, uint8_t stream, uint32_t bytes);
void rb_conn_send_stream(rb_conn *c, uint8_t type, uint32_t chan, uint8_t stream); /* EOF */
void rb_conn_send_empty(rb_conn *c, uint8_t type, uint32_t chan);                  /* CLOSE */
void rb_conn_send_cherr(rb_conn *c, uint32_t chan, uint32_t code, const char *text);
void rb_conn_send_error(rb_conn *c, uint32_t code, const char *text); /* ERROR on chan 0 */
/* The one answer the host gives the VM for a frame on a channel it does not have open:
 * CLOSE and CH_ERROR are never answered (no loops), an OPEN is refused (the host offers the
 * guest no services), anything else gets CH_ERROR EBADF. True when the frame deserves a log
 * line (a frame the VM should not have sent). */
bool rb_conn_reject_stray(rb_conn *c, const proto_hdr *h);

/* Blocks (polling fd and stop_fd) until the handshake completes. RB_HOST sends HELLO first,
 * and again every RB_HELLO_RETRY_MS until answered.
 * Returns 0, or -1 with c->why set (timeout, stop_fd readable, peer refused or vanished).
 * timeout_ms < 0 waits forever. */
int rb_conn_handshake(rb_conn *c, int stop_fd, int timeout_ms);

#endif
