/* Incremental frame reader, version negotiation and type names. */
#include "proto.h"

#include <string.h>

void proto_reader_init(proto_reader *r, uint8_t *buf, uint32_t limit)
{
    r->limit = limit > PROTO_MAX_FRAME_HARD ? PROTO_MAX_FRAME_HARD : limit;
    r->buf = buf;
    r->have = 0;
    r->have_hdr = false;
    memset(&r->hdr, 0, sizeof r->hdr);
}

int proto_reader_feed(proto_reader *r, const uint8_t *in, size_t n, size_t *used, proto_hdr *h,
                      const uint8_t **payload)
{
    size_t off = 0;
    *used = 0;
    /* Fast path: a whole frame already sits in the caller's buffer and nothing is pending,
     * so hand out a pointer into it instead of copying bulk data. */
    if (r->have == 0 && n >= PROTO_HDR_SIZE) {
        proto_hdr hh;
        if (!proto_hdr_decode(in, r->limit, &hh))
            return PROTO_BAD_FRAME;
        if (n - PROTO_HDR_SIZE >= hh.len) {
            *h = hh;
            *payload = in + PROTO_HDR_SIZE;
            *used = PROTO_HDR_SIZE + (size_t)hh.len;
            return PROTO_FRAME;
        }
    }
    if (!r->have_hdr) {
        size_t take = PROTO_HDR_SIZE - r->have;
        if (take > n)
            take = n;
        memcpy(r->buf + r->have, in, take);
        r->have += take;
        off += take;
        if (r->have < PROTO_HDR_SIZE) {
            *used = off;
            return PROTO_NEED_MORE;
        }
        if (!proto_hdr_decode(r->buf, r->limit, &r->hdr)) {
            *used = off;
            return PROTO_BAD_FRAME;
        }
        r->have_hdr = true;
    }
    size_t want = PROTO_HDR_SIZE + (size_t)r->hdr.len - r->have;
    size_t take = n - off < want ? n - off : want;
    if (take)
        memcpy(r->buf + r->have, in + off, take);
    r->have += take;
    off += take;
    *used = off;
    if (r->have < PROTO_HDR_SIZE + (size_t)r->hdr.len)
        return PROTO_NEED_MORE;
    *h = r->hdr;
    *payload = r->buf + PROTO_HDR_SIZE;
    r->have = 0;
    r->have_hdr = false;
    return PROTO_FRAME;
}

bool proto_negotiate(const proto_hello *mine, const proto_hello *peer, uint16_t *version,
                     uint32_t *features, uint32_t *max_frame)
{
    uint16_t lo = mine->version_min > peer->version_min ? mine->version_min : peer->version_min;
    uint16_t hi = mine->version_max < peer->version_max ? mine->version_max : peer->version_max;
    if (lo > hi)
        return false;
    *version = hi;
    *features = mine->features & peer->features;
    uint32_t mf = mine->max_frame < peer->max_frame ? mine->max_frame : peer->max_frame;
    *max_frame = mf > PROTO_MAX_FRAME_HARD ? PROTO_MAX_FRAME_HARD : mf;
    return true;
}

const char *proto_type_name(uint8_t type)
{
    switch (type) {
    case PROTO_HELLO: return "HELLO";
    case PROTO_PING: return "PING";
    case PROTO_PONG: return "PONG";
    case PROTO_ERROR: return "ERROR";
    case PROTO_GOODBYE: return "GOODBYE";
    case PROTO_OPEN: return "OPEN";
    case PROTO_OPEN_OK: return "OPEN_OK";
    case PROTO_CH_ERROR: return "CH_ERROR";
    case PROTO_DATA: return "DATA";
    case PROTO_EOF: return "EOF";
    case PROTO_CREDIT: return "CREDIT";
    case PROTO_CLOSE: return "CLOSE";
    case PROTO_WINSIZE: return "WINSIZE";
    case PROTO_SIGNAL: return "SIGNAL";
    case PROTO_EXIT: return "EXIT";
    default: return "unknown";
    }
}
