/* Frame header and the bounded little-endian payload reader/writer (PROTOCOL.md, Frames).
 * Every primitive checks the remaining length first, so a decoder built from them can never
 * read past a payload, whatever the peer claims. */
#include "proto.h"

#include <string.h>

void proto_hdr_encode(uint8_t out[PROTO_HDR_SIZE], const proto_hdr *h)
{
    proto_wr w;
    proto_wr_init(&w, out, PROTO_HDR_SIZE);
    proto_wr_u32(&w, h->len);
    proto_wr_u32(&w, h->chan);
    proto_wr_u8(&w, h->type);
    proto_wr_u8(&w, h->flags);
    proto_wr_u16(&w, 0);
}

bool proto_hdr_decode(const uint8_t in[PROTO_HDR_SIZE], uint32_t max_frame, proto_hdr *h)
{
    proto_rd r;
    proto_rd_init(&r, in, PROTO_HDR_SIZE);
    h->len = proto_rd_u32(&r);
    h->chan = proto_rd_u32(&r);
    h->type = proto_rd_u8(&r);
    h->flags = proto_rd_u8(&r);
    (void)proto_rd_u16(&r); /* rsvd: ignored by receivers */
    return h->len <= max_frame;
}

/* ---- reader ---- */

void proto_rd_init(proto_rd *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->len = p ? len : 0;
    r->off = 0;
    r->err = false;
}

/* Returns a pointer to n readable bytes, or NULL (and sets err) when fewer remain. Once err is
 * set every later read fails too, so a decoder only has to check at the end. */
static const uint8_t *rd_take(proto_rd *r, size_t n)
{
    if (r->err || r->len - r->off < n) {
        r->err = true;
        return NULL;
    }
    const uint8_t *q = r->p + r->off;
    r->off += n;
    return q;
}

uint8_t proto_rd_u8(proto_rd *r)
{
    const uint8_t *q = rd_take(r, 1);
    return q ? q[0] : 0;
}

uint16_t proto_rd_u16(proto_rd *r)
{
    const uint8_t *q = rd_take(r, 2);
    return q ? (uint16_t)(q[0] | (uint16_t)q[1] << 8) : 0;
}

uint32_t proto_rd_u32(proto_rd *r)
{
    const uint8_t *q = rd_take(r, 4);
    return q ? (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24
             : 0;
}

uint64_t proto_rd_u64(proto_rd *r)
{
    uint64_t lo = proto_rd_u32(r);
    uint64_t hi = proto_rd_u32(r);
    return r->err ? 0 : lo | hi << 32;
}

void proto_rd_str(proto_rd *r, const char **s, uint32_t *n)
{
    *s = "";
    *n = 0;
    uint32_t len = proto_rd_u32(r);
    if (r->err)
        return;
    if (len > PROTO_MAX_STR) {
        r->err = true;
        return;
    }
    const uint8_t *q = rd_take(r, len);
    if (!q)
        return;
    if (memchr(q, 0, len)) {
        r->err = true;
        return;
    }
    *s = (const char *)q;
    *n = len;
}

bool proto_rd_done(const proto_rd *r)
{
    return !r->err && r->off == r->len;
}

/* ---- writer ---- */

void proto_wr_init(proto_wr *w, uint8_t *p, size_t cap)
{
    w->p = p;
    w->cap = p ? cap : 0;
    w->len = 0;
    w->err = false;
}

static uint8_t *wr_take(proto_wr *w, size_t n)
{
    if (w->err || w->cap - w->len < n) {
        w->err = true;
        return NULL;
    }
    uint8_t *q = w->p + w->len;
    w->len += n;
    return q;
}

void proto_wr_u8(proto_wr *w, uint8_t v)
{
    uint8_t *q = wr_take(w, 1);
    if (q)
        q[0] = v;
}

void proto_wr_u16(proto_wr *w, uint16_t v)
{
    uint8_t *q = wr_take(w, 2);
    if (q) {
        q[0] = (uint8_t)v;
        q[1] = (uint8_t)(v >> 8);
    }
}

void proto_wr_u32(proto_wr *w, uint32_t v)
{
    uint8_t *q = wr_take(w, 4);
    if (q)
        for (int i = 0; i < 4; i++)
            q[i] = (uint8_t)(v >> (8 * i));
}

void proto_wr_u64(proto_wr *w, uint64_t v)
{
    proto_wr_u32(w, (uint32_t)v);
    proto_wr_u32(w, (uint32_t)(v >> 32));
}

void proto_wr_bytes(proto_wr *w, const void *p, size_t n)
{
    uint8_t *q = wr_take(w, n);
    if (q && n)
        memcpy(q, p, n);
}

/* Refuses what a receiver would reject (too long, embedded NUL), so a peer never sends a
 * string its counterpart must treat as malformed. */
void proto_wr_str(proto_wr *w, const char *s, size_t n)
{
    if (n > PROTO_MAX_STR || (n && memchr(s, 0, n))) {
        w->err = true;
        return;
    }
    proto_wr_u32(w, (uint32_t)n);
    proto_wr_bytes(w, s, n);
}
