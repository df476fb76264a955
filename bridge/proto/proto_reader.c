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

static const proto_msg_info messages[256] = {
#define PROTO_X_INFO(n, value, scope, dir) [value] = {#n, scope, dir},
    PROTO_MESSAGES(PROTO_X_INFO)
#undef PROTO_X_INFO
};

const proto_msg_info *proto_msg(uint8_t type)
{
    return messages[type].name ? &messages[type] : NULL;
}

bool proto_msg_allowed(uint8_t type, uint32_t chan, bool from_guest)
{
    const proto_msg_info *m = proto_msg(type);
    if (!m || (m->scope == PROTO_SCOPE_CONTROL) != (chan == 0))
        return false;
    return m->dir == PROTO_DIR_BOTH || m->dir == (from_guest ? PROTO_DIR_TO_HOST : PROTO_DIR_TO_GUEST);
}

const char *proto_type_name(uint8_t type)
{
    const proto_msg_info *m = proto_msg(type);
    return m ? m->name : "unknown";
}
