/* Window service records (PROTOCOL.md, Window service (service 6)). The host decodes what an
 * untrusted guest agent sends, so every field is checked against its own bound here; the
 * window table (bridge/win/) then checks ids and rectangles against the windows it knows. */
#include "proto.h"

#include <string.h>

static bool dim_ok(uint32_t v)
{
    return v >= 1 && v <= PROTO_WIN_MAX_DIM;
}

/* Strings longer than proto_rd_str's PROTO_MAX_STR (clipboard text) or bounded tighter. */
static void rd_text(proto_rd *r, proto_str *s, uint32_t max)
{
    s->s = "";
    s->n = 0;
    uint32_t len = proto_rd_u32(r);
    if (r->err)
        return;
    if (len > max || len > r->len - r->off) {
        r->err = true;
        return;
    }
    const uint8_t *q = r->p + r->off;
    if (memchr(q, 0, len)) {
        r->err = true;
        return;
    }
    r->off += len;
    s->s = (const char *)q;
    s->n = len;
}

static void wr_text(proto_wr *w, proto_str s, uint32_t max)
{
    if (s.n > max || (s.n && memchr(s.s, 0, s.n))) {
        w->err = true;
        return;
    }
    proto_wr_u32(w, s.n);
    if (s.n)
        proto_wr_bytes(w, s.s, s.n);
}

static bool rect_ok(const proto_win_msg *m)
{
    return m->w >= 1 && m->h >= 1 && (uint32_t)m->w * m->h <= PROTO_WIN_MAX_RECT_PIXELS &&
           (uint32_t)m->x + m->w <= PROTO_WIN_MAX_DIM && (uint32_t)m->y + m->h <= PROTO_WIN_MAX_DIM;
}

size_t proto_win_encode(uint8_t *out, size_t cap, uint32_t tag, const proto_win_msg *m)
{
    if (cap < PROTO_REC_HDR)
        return 0;
    proto_wr w;
    proto_wr_init(&w, out + PROTO_REC_HDR, cap - PROTO_REC_HDR);
    switch (m->type) {
    case PROTO_WIN_READY:
        proto_wr_u16(&w, m->w);
        proto_wr_u16(&w, m->h);
        wr_text(&w, m->s1, PROTO_WIN_MAX_DISPLAY);
        break;
    case PROTO_WIN_CREATE:
    case PROTO_WIN_GEOMETRY:
        if (!dim_ok(m->w) || !dim_ok(m->h))
            return 0;
        proto_wr_u32(&w, m->id);
        proto_wr_u32(&w, (uint32_t)m->x);
        proto_wr_u32(&w, (uint32_t)m->y);
        proto_wr_u16(&w, m->w);
        proto_wr_u16(&w, m->h);
        if (m->type == PROTO_WIN_CREATE) {
            proto_wr_u8(&w, m->flags);
            proto_wr_u32(&w, m->aux);
        }
        break;
    case PROTO_WIN_DESTROY:
    case PROTO_WIN_CLOSE:
    case PROTO_WIN_REFRESH:
        proto_wr_u32(&w, m->id);
        break;
    case PROTO_WIN_MAP:
    case PROTO_WIN_FOCUS:
        proto_wr_u32(&w, m->id);
        proto_wr_u8(&w, m->flags);
        break;
    case PROTO_WIN_TITLE:
        proto_wr_u32(&w, m->id);
        wr_text(&w, m->s1, PROTO_WIN_MAX_TITLE);
        break;
    case PROTO_WIN_CLASS:
        proto_wr_u32(&w, m->id);
        wr_text(&w, m->s1, PROTO_WIN_MAX_CLASS);
        wr_text(&w, m->s2, PROTO_WIN_MAX_CLASS);
        break;
    case PROTO_WIN_TRANSIENT:
        proto_wr_u32(&w, m->id);
        proto_wr_u32(&w, m->aux);
        break;
    case PROTO_WIN_DAMAGE:
        if (!rect_ok(m) || m->flags > PROTO_WIN_ENC_RUNS ||
            (m->flags == PROTO_WIN_ENC_RAW && m->data_len != 4u * m->w * m->h) ||
            m->data_len > 4u * PROTO_WIN_MAX_RECT_PIXELS + 16u)
            return 0;
        proto_wr_u32(&w, m->id);
        proto_wr_u16(&w, (uint16_t)m->x);
        proto_wr_u16(&w, (uint16_t)m->y);
        proto_wr_u16(&w, m->w);
        proto_wr_u16(&w, m->h);
        proto_wr_u8(&w, m->flags);
        proto_wr_u32(&w, m->data_len);
        proto_wr_bytes(&w, m->data, m->data_len);
        break;
    case PROTO_WIN_KEY:
        proto_wr_u32(&w, m->id);
        proto_wr_u8(&w, m->flags);
        proto_wr_u32(&w, m->aux);
        break;
    case PROTO_WIN_POINTER:
        proto_wr_u32(&w, m->id);
        proto_wr_u32(&w, (uint32_t)m->x);
        proto_wr_u32(&w, (uint32_t)m->y);
        proto_wr_u8(&w, m->flags);
        proto_wr_u8(&w, m->down);
        break;
    case PROTO_WIN_RESIZE:
        if (!dim_ok(m->w) || !dim_ok(m->h))
            return 0;
        proto_wr_u32(&w, m->id);
        proto_wr_u16(&w, m->w);
        proto_wr_u16(&w, m->h);
        break;
    case PROTO_WIN_CLIPBOARD:
        wr_text(&w, m->s1, PROTO_WIN_MAX_CLIP);
        break;
    default:
        return 0;
    }
    if (w.err || PROTO_REC_MIN + w.len > PROTO_WIN_MAX_RECORD)
        return 0;
    proto_rec_hdr(out, m->type, tag, w.len);
    return PROTO_REC_HDR + w.len;
}

bool proto_win_decode(uint8_t type, const uint8_t *body, size_t n, proto_win_msg *m)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    m->s1 = m->s2 = (proto_str){"", 0};
    proto_rd r;
    proto_rd_init(&r, body, n);
    switch (type) {
    case PROTO_WIN_READY:
        m->w = proto_rd_u16(&r);
        m->h = proto_rd_u16(&r);
        rd_text(&r, &m->s1, PROTO_WIN_MAX_DISPLAY);
        break;
    case PROTO_WIN_CREATE:
    case PROTO_WIN_GEOMETRY:
        m->id = proto_rd_u32(&r);
        m->x = (int32_t)proto_rd_u32(&r);
        m->y = (int32_t)proto_rd_u32(&r);
        m->w = proto_rd_u16(&r);
        m->h = proto_rd_u16(&r);
        if (type == PROTO_WIN_CREATE) {
            m->flags = proto_rd_u8(&r);
            m->aux = proto_rd_u32(&r);
        }
        if (!dim_ok(m->w) || !dim_ok(m->h))
            return false;
        break;
    case PROTO_WIN_DESTROY:
    case PROTO_WIN_CLOSE:
    case PROTO_WIN_REFRESH:
        m->id = proto_rd_u32(&r);
        break;
    case PROTO_WIN_MAP:
    case PROTO_WIN_FOCUS:
        m->id = proto_rd_u32(&r);
        m->flags = proto_rd_u8(&r);
        if (m->flags > 1)
            return false;
        break;
    case PROTO_WIN_TITLE:
        m->id = proto_rd_u32(&r);
        rd_text(&r, &m->s1, PROTO_WIN_MAX_TITLE);
        break;
    case PROTO_WIN_CLASS:
        m->id = proto_rd_u32(&r);
        rd_text(&r, &m->s1, PROTO_WIN_MAX_CLASS);
        rd_text(&r, &m->s2, PROTO_WIN_MAX_CLASS);
        break;
    case PROTO_WIN_TRANSIENT:
        m->id = proto_rd_u32(&r);
        m->aux = proto_rd_u32(&r);
        break;
    case PROTO_WIN_DAMAGE:
        m->id = proto_rd_u32(&r);
        m->x = proto_rd_u16(&r);
        m->y = proto_rd_u16(&r);
        m->w = proto_rd_u16(&r);
        m->h = proto_rd_u16(&r);
        m->flags = proto_rd_u8(&r);
        m->data_len = proto_rd_u32(&r);
        if (r.err || !rect_ok(m) || m->flags > PROTO_WIN_ENC_RUNS ||
            m->data_len != r.len - r.off ||
            (m->flags == PROTO_WIN_ENC_RAW && m->data_len != 4u * m->w * m->h))
            return false;
        m->data = r.p + r.off;
        r.off = r.len;
        break;
    case PROTO_WIN_KEY:
        m->id = proto_rd_u32(&r);
        m->flags = proto_rd_u8(&r);
        m->aux = proto_rd_u32(&r);
        if (m->flags > 1)
            return false;
        break;
    case PROTO_WIN_POINTER:
        m->id = proto_rd_u32(&r);
        m->x = (int32_t)proto_rd_u32(&r);
        m->y = (int32_t)proto_rd_u32(&r);
        m->flags = proto_rd_u8(&r);
        m->down = proto_rd_u8(&r);
        if (m->flags > 7 || m->down > 1)
            return false;
        break;
    case PROTO_WIN_RESIZE:
        m->id = proto_rd_u32(&r);
        m->w = proto_rd_u16(&r);
        m->h = proto_rd_u16(&r);
        if (!dim_ok(m->w) || !dim_ok(m->h))
            return false;
        break;
    case PROTO_WIN_CLIPBOARD:
        rd_text(&r, &m->s1, PROTO_WIN_MAX_CLIP);
        break;
    default:
        return false;
    }
    if (!proto_rd_done(&r))
        return false;
    /* Every record but READY, CLIPBOARD and REFRESH names a window; 0 is never one. */
    return m->id != 0 || type == PROTO_WIN_READY || type == PROTO_WIN_CLIPBOARD ||
           type == PROTO_WIN_REFRESH;
}

static void put_px(uint8_t *o, uint32_t v)
{
    o[0] = (uint8_t)v, o[1] = (uint8_t)(v >> 8), o[2] = (uint8_t)(v >> 16), o[3] = (uint8_t)(v >> 24);
}

static uint32_t get_px(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t proto_win_runs_encode(const uint32_t *px, size_t npx, uint8_t *out, size_t cap)
{
    size_t o = 0, i = 0;
    while (i < npx) {
        size_t run = 1;
        while (i + run < npx && run < 129 && px[i + run] == px[i])
            run++;
        if (run >= 2) {
            if (cap - o < 5)
                return 0;
            out[o++] = (uint8_t)(run + 126);
            put_px(out + o, px[i]);
            o += 4;
            i += run;
            continue;
        }
        /* Literals up to the next pair of equal pixels (or 128 of them). */
        size_t lit = 1;
        while (i + lit < npx && lit < 128 && !(i + lit + 1 < npx && px[i + lit] == px[i + lit + 1]))
            lit++;
        if (cap - o < 1 + 4 * lit)
            return 0;
        out[o++] = (uint8_t)(lit - 1);
        for (size_t k = 0; k < lit; k++, o += 4)
            put_px(out + o, px[i + k]);
        i += lit;
    }
    return o;
}

bool proto_win_pixels_decode(uint8_t encoding, const uint8_t *data, size_t n, uint32_t *dst,
                             size_t stride_px, uint16_t w, uint16_t h)
{
    size_t total = (size_t)w * h;
    if (w == 0 || h == 0 || stride_px < w)
        return false;
    if (encoding == PROTO_WIN_ENC_RAW) {
        if (n != 4 * total)
            return false;
        for (size_t row = 0; row < h; row++)
            for (size_t col = 0; col < w; col++)
                dst[row * stride_px + col] = get_px(data + 4 * (row * w + col));
        return true;
    }
    if (encoding != PROTO_WIN_ENC_RUNS)
        return false;
    size_t i = 0, off = 0, row = 0, col = 0;
    while (off < n) {
        uint8_t c = data[off++];
        size_t count = c < 128 ? (size_t)c + 1 : (size_t)c - 126;
        bool literal = c < 128;
        if (count > total - i || n - off < (literal ? 4 * count : 4))
            return false;
        uint32_t v = get_px(data + off);
        for (size_t k = 0; k < count; k++) {
            if (literal)
                v = get_px(data + off + 4 * k);
            dst[row * stride_px + col] = v;
            if (++col == w)
                col = 0, row++;
        }
        off += literal ? 4 * count : 4;
        i += count;
    }
    return i == total;
}
