/* Test helper for the host library tests: the other end of a socketpair, played by the test
 * (a scripted guest, or a scripted client of the multiplexer). Single-threaded: while the
 * fake peer waits for a frame it keeps "pumping" the code under test through a callback. */
#ifndef BRIDGE_TESTS_HOST_FAKEPEER_H
#define BRIDGE_TESTS_HOST_FAKEPEER_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"
#include "rb_conn.h"

typedef void (*fp_pump_fn)(void *ctx);

typedef struct fakepeer {
    int fd;
    uint8_t buf[PROTO_HDR_SIZE + PROTO_MAX_FRAME_HARD + 65536];
    size_t have;
    size_t consumed; /* bytes of the frame last returned, dropped on the next call */
    fp_pump_fn pump;
    void *pump_ctx;
} fakepeer;

static inline void fp_init(fakepeer *p, int fd, fp_pump_fn pump, void *ctx)
{
    p->fd = fd;
    p->have = 0;
    p->consumed = 0;
    p->pump = pump;
    p->pump_ctx = ctx;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static inline void fp_send_raw(fakepeer *p, const void *b, size_t n)
{
    const uint8_t *q = b;
    while (n) {
        ssize_t w = write(p->fd, q, n);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (p->pump)
                p->pump(p->pump_ctx);
            continue;
        }
        if (w <= 0)
            return;
        q += w;
        n -= (size_t)w;
    }
}

static inline void fp_send(fakepeer *p, uint8_t type, uint32_t chan, const void *pl, size_t n)
{
    uint8_t h[PROTO_HDR_SIZE];
    proto_hdr hh = {.len = (uint32_t)n, .chan = chan, .type = type};
    proto_hdr_encode(h, &hh);
    fp_send_raw(p, h, sizeof h);
    if (n)
        fp_send_raw(p, pl, n);
}

/* A frame whose payload is one little-endian u32 (OPEN_OK's pid, CH_ERROR's code, ...). */
static inline void fp_send_u32(fakepeer *p, uint8_t type, uint32_t chan, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    fp_send(p, type, chan, b, 4);
}

/* A DATA frame: the stream byte, then the bytes. */
static inline void fp_send_data(fakepeer *p, uint32_t chan, uint8_t stream, const void *d,
                                size_t n)
{
    uint8_t *b = malloc(n + 1);
    if (!b)
        abort();
    b[0] = stream;
    memcpy(b + 1, d, n);
    fp_send(p, PROTO_DATA, chan, b, n + 1);
    free(b);
}

static inline void fp_send_frame(fakepeer *p, const uint8_t *f, size_t n) { fp_send_raw(p, f, n); }

/* Next frame, pumping the code under test meanwhile; false after ~5 s or at end of stream.
 * The payload stays valid until the next call. */
static inline bool fp_recv(fakepeer *p, proto_hdr *h, const uint8_t **pl)
{
    if (p->consumed) {
        memmove(p->buf, p->buf + p->consumed, p->have - p->consumed);
        p->have -= p->consumed;
        p->consumed = 0;
    }
    for (int i = 0; i < 5000; i++) {
        if (p->have >= PROTO_HDR_SIZE) {
            proto_hdr_decode(p->buf, UINT32_MAX, h);
            if (p->have >= PROTO_HDR_SIZE + (size_t)h->len) {
                *pl = p->buf + PROTO_HDR_SIZE;
                p->consumed = PROTO_HDR_SIZE + h->len;
                return true;
            }
        }
        ssize_t r = read(p->fd, p->buf + p->have, sizeof p->buf - p->have);
        if (r == 0)
            return false;
        if (r > 0) {
            p->have += (size_t)r;
            continue;
        }
        if (p->pump)
            p->pump(p->pump_ctx);
        struct pollfd pf = {.fd = p->fd, .events = POLLIN};
        poll(&pf, 1, 1);
    }
    return false;
}

/* Next frame that is not a CREDIT/PING (those are common background traffic). */
static inline bool fp_recv_skip(fakepeer *p, proto_hdr *h, const uint8_t **pl)
{
    while (fp_recv(p, h, pl))
        if (h->type != PROTO_CREDIT && h->type != PROTO_PING)
            return true;
    return false;
}

/* Guest side of the handshake: reads the host's HELLO, answers with ours. */
static inline bool fp_guest_hello(fakepeer *p, uint32_t max_frame, uint32_t window)
{
    proto_hdr h;
    const uint8_t *pl;
    if (!fp_recv(p, &h, &pl) || h.type != PROTO_HELLO)
        return false;
    proto_hello g = {.version_min = 1, .version_max = 1, .features = PROTO_F_EXEC | PROTO_F_PTY,
                     .max_frame = max_frame, .window = window, .agent = {"fake guest", 10}};
    uint8_t f[256];
    fp_send_frame(p, f, proto_enc_hello(f, sizeof f, &g));
    return true;
}

#endif
