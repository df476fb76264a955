/* Service channels (PROTOCOL.md, Service channels): the OPEN request of the record services and
 * the record framing both directions use. The host decodes records from an untrusted guest, so
 * the reassembly buffer is fixed by the caller and every length is checked before use. */
#include "proto.h"

#include <string.h>

bool proto_svc_is_record_service(uint16_t service)
{
    return service == PROTO_SVC_FS || service == PROTO_SVC_DEVICE || service == PROTO_SVC_WINDOW ||
           service == PROTO_SVC_DISPLAY;
}

size_t proto_enc_svc_open(uint8_t *out, size_t cap, uint32_t chan, uint16_t service,
                          uint32_t flags, const char *arg, size_t argn)
{
    if (argn > PROTO_SVC_MAX_ARG || (argn && memchr(arg, 0, argn)))
        return 0;
    proto_wr w;
    proto_wr_init(&w, out, cap);
    uint8_t zero[PROTO_HDR_SIZE] = {0};
    proto_wr_bytes(&w, zero, sizeof zero);
    proto_wr_u16(&w, service);
    proto_wr_u32(&w, flags);
    proto_wr_str(&w, argn ? arg : "", argn);
    if (w.err)
        return 0;
    proto_hdr h = {.len = (uint32_t)(w.len - PROTO_HDR_SIZE), .chan = chan, .type = PROTO_OPEN};
    proto_hdr_encode(out, &h);
    return w.len;
}

bool proto_dec_svc_open(const uint8_t *p, size_t n, uint32_t *flags, proto_str *arg)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *flags = proto_rd_u32(&r);
    proto_rd_str(&r, &arg->s, &arg->n);
    return proto_rd_done(&r) && arg->n <= PROTO_SVC_MAX_ARG;
}

static void put_u32(uint8_t *o, uint32_t v)
{
    o[0] = (uint8_t)v, o[1] = (uint8_t)(v >> 8), o[2] = (uint8_t)(v >> 16), o[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void proto_rec_hdr(uint8_t out[PROTO_REC_HDR], uint8_t type, uint32_t tag, size_t body_len)
{
    put_u32(out, (uint32_t)(PROTO_REC_MIN + body_len));
    out[4] = type;
    put_u32(out + 5, tag);
}

void proto_rec_stream_init(proto_rec_stream *s, uint8_t *buf, size_t max_record)
{
    s->buf = buf;
    s->max_record = max_record < PROTO_REC_MIN ? PROTO_REC_MIN : max_record;
    s->have = 0;
}

static void rec_of(proto_rec *rec, const uint8_t *p, uint32_t len)
{
    rec->type = p[4];
    rec->tag = get_u32(p + 5);
    rec->body = p + PROTO_REC_HDR;
    rec->body_len = len - PROTO_REC_MIN;
}

int proto_rec_stream_feed(proto_rec_stream *s, const uint8_t *in, size_t n, size_t *used,
                          proto_rec *rec)
{
    *used = 0;
    /* Fast path: a whole record in `in` and nothing pending: no copy of bulk data. */
    if (s->have == 0 && n >= 4) {
        uint32_t len = get_u32(in);
        if (len < PROTO_REC_MIN || len > s->max_record)
            return PROTO_BAD_FRAME;
        if (n >= 4 + (size_t)len) {
            rec_of(rec, in, len);
            *used = 4 + (size_t)len;
            return PROTO_FRAME;
        }
    }
    while (*used < n) {
        size_t want;
        if (s->have < 4) {
            want = 4 - s->have;
        } else {
            uint32_t len = get_u32(s->buf);
            if (len < PROTO_REC_MIN || len > s->max_record)
                return PROTO_BAD_FRAME;
            want = 4 + (size_t)len - s->have;
        }
        size_t k = n - *used < want ? n - *used : want;
        memcpy(s->buf + s->have, in + *used, k);
        s->have += k;
        *used += k;
        if (s->have >= 4) {
            uint32_t len = get_u32(s->buf);
            if (len < PROTO_REC_MIN || len > s->max_record)
                return PROTO_BAD_FRAME;
            if (s->have == 4 + (size_t)len) {
                s->have = 0;
                rec_of(rec, s->buf, len);
                return PROTO_FRAME;
            }
        }
    }
    return PROTO_NEED_MORE;
}
