/* Desktop service records (PROTOCOL.md, Desktop service). The host decodes these from an
 * untrusted guest: every length is checked against its bound before anything is used, and the
 * reassembly buffer has a fixed size, so a hostile stream cannot make the host allocate. */
#include "proto.h"

#include <string.h>

bool proto_app_id_ok(const char *s, size_t n)
{
    static const char suffix[] = ".desktop";
    if (n < sizeof suffix || n > PROTO_APP_MAX_ID || s[0] == '.' ||
        memcmp(s + n - (sizeof suffix - 1), suffix, sizeof suffix - 1))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '+' || c == '-'))
            return false;
    }
    return true;
}

static bool icon_ext_ok(proto_str e)
{
    return e.n == 0 || (e.n == 3 && (!memcmp(e.s, "png", 3) || !memcmp(e.s, "svg", 3)));
}

size_t proto_enc_desktop_open(uint8_t *out, size_t cap, uint32_t chan)
{
    proto_wr w;
    proto_wr_init(&w, out, cap);
    uint8_t zero[PROTO_HDR_SIZE] = {0};
    proto_wr_bytes(&w, zero, sizeof zero);
    proto_wr_u16(&w, PROTO_SVC_DESKTOP);
    proto_wr_u32(&w, 0);
    if (w.err)
        return 0;
    proto_hdr h = {.len = (uint32_t)(w.len - PROTO_HDR_SIZE), .chan = chan, .type = PROTO_OPEN};
    proto_hdr_encode(out, &h);
    return w.len;
}

bool proto_dec_desktop_open(const uint8_t *p, size_t n)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    uint32_t flags = proto_rd_u32(&r);
    return proto_rd_done(&r) && flags == 0;
}

size_t proto_enc_app_record(uint8_t *out, size_t cap, const proto_app_event *ev)
{
    proto_wr w;
    proto_wr_init(&w, out, cap);
    proto_wr_u32(&w, 0); /* len, filled in below */
    proto_wr_u8(&w, ev->type);
    switch (ev->type) {
    case PROTO_APP_ADD:
        if (!proto_app_id_ok(ev->id.s, ev->id.n) || ev->text_len > PROTO_APP_MAX_TEXT ||
            ev->icon_len > PROTO_APP_MAX_ICON || !icon_ext_ok(ev->icon_ext) ||
            (ev->icon_ext.n == 0) != (ev->icon_len == 0))
            return 0;
        proto_wr_str(&w, ev->id.s, ev->id.n);
        proto_wr_u32(&w, ev->text_len);
        proto_wr_bytes(&w, ev->text, ev->text_len);
        proto_wr_str(&w, ev->icon_ext.n ? ev->icon_ext.s : "", ev->icon_ext.n);
        proto_wr_u32(&w, ev->icon_len);
        proto_wr_bytes(&w, ev->icon, ev->icon_len);
        break;
    case PROTO_APP_REMOVE:
        if (!proto_app_id_ok(ev->id.s, ev->id.n))
            return 0;
        proto_wr_str(&w, ev->id.s, ev->id.n);
        break;
    case PROTO_APP_SYNC_DONE:
        break;
    default:
        return 0;
    }
    if (w.err || w.len - 4 > PROTO_APP_MAX_RECORD)
        return 0;
    uint32_t len = (uint32_t)(w.len - 4);
    out[0] = (uint8_t)len;
    out[1] = (uint8_t)(len >> 8);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 24);
    return w.len;
}

/* u32 length + bytes, bounded by max; points into the buffer. */
static const uint8_t *rd_blob(proto_rd *r, uint32_t max, uint32_t *n)
{
    *n = proto_rd_u32(r);
    if (r->err || *n > max || *n > r->len - r->off) {
        r->err = true;
        *n = 0;
        return NULL;
    }
    const uint8_t *q = r->p + r->off;
    r->off += *n;
    return q;
}

bool proto_dec_app_record(const uint8_t *p, size_t n, proto_app_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->id.s = ev->icon_ext.s = "";
    if (n < 1 || n > PROTO_APP_MAX_RECORD)
        return false;
    proto_rd r;
    proto_rd_init(&r, p, n);
    ev->type = proto_rd_u8(&r);
    switch (ev->type) {
    case PROTO_APP_ADD:
        proto_rd_str(&r, &ev->id.s, &ev->id.n);
        ev->text = rd_blob(&r, PROTO_APP_MAX_TEXT, &ev->text_len);
        proto_rd_str(&r, &ev->icon_ext.s, &ev->icon_ext.n);
        ev->icon = rd_blob(&r, PROTO_APP_MAX_ICON, &ev->icon_len);
        if (r.err || !icon_ext_ok(ev->icon_ext) || (ev->icon_ext.n == 0) != (ev->icon_len == 0))
            return false;
        break;
    case PROTO_APP_REMOVE:
        proto_rd_str(&r, &ev->id.s, &ev->id.n);
        break;
    case PROTO_APP_SYNC_DONE:
        break;
    default:
        return false;
    }
    if (!proto_rd_done(&r))
        return false;
    return ev->type == PROTO_APP_SYNC_DONE || proto_app_id_ok(ev->id.s, ev->id.n);
}

void proto_app_stream_init(proto_app_stream *s, uint8_t *buf)
{
    s->buf = buf;
    s->have = 0;
}

int proto_app_stream_feed(proto_app_stream *s, const uint8_t *in, size_t n, size_t *used,
                          proto_app_event *ev)
{
    *used = 0;
    /* A record completed by the previous call is consumed now. */
    if (s->have >= 4) {
        uint32_t len = (uint32_t)s->buf[0] | (uint32_t)s->buf[1] << 8 |
                       (uint32_t)s->buf[2] << 16 | (uint32_t)s->buf[3] << 24;
        if (s->have == 4 + (size_t)len)
            s->have = 0;
    }
    while (*used < n) {
        size_t need;
        if (s->have < 4) {
            need = 4 - s->have;
        } else {
            uint32_t len = (uint32_t)s->buf[0] | (uint32_t)s->buf[1] << 8 |
                           (uint32_t)s->buf[2] << 16 | (uint32_t)s->buf[3] << 24;
            if (len < 1 || len > PROTO_APP_MAX_RECORD)
                return PROTO_BAD_FRAME;
            need = 4 + (size_t)len - s->have;
        }
        size_t take = n - *used < need ? n - *used : need;
        memcpy(s->buf + s->have, in + *used, take);
        s->have += take;
        *used += take;
        if (s->have >= 4) {
            uint32_t len = (uint32_t)s->buf[0] | (uint32_t)s->buf[1] << 8 |
                           (uint32_t)s->buf[2] << 16 | (uint32_t)s->buf[3] << 24;
            if (len < 1 || len > PROTO_APP_MAX_RECORD)
                return PROTO_BAD_FRAME;
            if (s->have == 4 + (size_t)len)
                return proto_dec_app_record(s->buf + 4, len, ev) ? PROTO_FRAME : PROTO_BAD_FRAME;
        }
    }
    return PROTO_NEED_MORE;
}
