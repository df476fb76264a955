/* Display service records (PROTOCOL.md, Display service). Both ends link this; the host
 * decodes what an untrusted guest sends, so every count, dimension and name is checked before
 * it is stored, and the output arrays are fixed by the caller. */
#include "proto.h"

#include <string.h>

bool proto_disp_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

bool proto_disp_name_ok(const char *s, size_t n)
{
    if (n < 1 || n > PROTO_DISP_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!proto_disp_name_char(s[i]))
            return false;
    return true;
}

static bool dims_ok(uint16_t w, uint16_t h, uint16_t refresh)
{
    return w >= 1 && h >= 1 && w <= PROTO_DISP_MAX_DIM && h <= PROTO_DISP_MAX_DIM &&
           refresh <= PROTO_DISP_MAX_REFRESH;
}

static bool conn_ok(const proto_disp_conn *c)
{
    if (!c->id || c->connected > 1 || c->nmodes > PROTO_DISP_MAX_MODES ||
        !proto_disp_name_ok(c->name, strnlen(c->name, sizeof c->name)))
        return false;
    bool none = c->cur_w == 0 && c->cur_h == 0 && c->cur_refresh == 0;
    if (!none && !dims_ok(c->cur_w, c->cur_h, c->cur_refresh))
        return false;
    for (unsigned i = 0; i < c->nmodes; i++)
        if (!dims_ok(c->modes[i].w, c->modes[i].h, c->modes[i].refresh) ||
            (c->modes[i].flags & ~PROTO_DISP_MODE_PREFERRED))
            return false;
    return true;
}

size_t proto_disp_enc_conns(uint8_t *out, size_t cap, const proto_disp_conn *c, size_t n)
{
    if (n > PROTO_DISP_MAX_CONNS)
        return 0;
    proto_wr w;
    proto_wr_init(&w, out, cap);
    proto_wr_u8(&w, (uint8_t)n);
    for (size_t i = 0; i < n; i++) {
        if (!conn_ok(&c[i]))
            return 0;
        proto_wr_u32(&w, c[i].id);
        proto_wr_u8(&w, c[i].connected);
        proto_wr_str(&w, c[i].name, strlen(c[i].name));
        proto_wr_u16(&w, c[i].cur_w);
        proto_wr_u16(&w, c[i].cur_h);
        proto_wr_u16(&w, c[i].cur_refresh);
        proto_wr_u8(&w, c[i].nmodes);
        for (unsigned k = 0; k < c[i].nmodes; k++) {
            proto_wr_u16(&w, c[i].modes[k].w);
            proto_wr_u16(&w, c[i].modes[k].h);
            proto_wr_u16(&w, c[i].modes[k].refresh);
            proto_wr_u8(&w, c[i].modes[k].flags);
        }
    }
    return w.err ? 0 : w.len;
}

static bool fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return false;
}

bool proto_disp_dec_conns(const uint8_t *p, size_t n, proto_disp_conn *c, size_t max,
                          size_t *count, const char **why)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *count = 0;
    uint8_t k = proto_rd_u8(&r);
    if (r.err)
        return fail(why, "empty body");
    if (k > PROTO_DISP_MAX_CONNS || k > max)
        return fail(why, "too many connectors");
    for (unsigned i = 0; i < k; i++) {
        proto_disp_conn *o = &c[i];
        memset(o, 0, sizeof *o);
        o->id = proto_rd_u32(&r);
        o->connected = proto_rd_u8(&r);
        const char *s;
        uint32_t sn;
        proto_rd_str(&r, &s, &sn);
        if (r.err)
            return fail(why, "truncated connector");
        if (!o->id) /* KMS object ids start at 1; 0 means "none" on the host */
            return fail(why, "connector id 0");
        if (!proto_disp_name_ok(s, sn))
            return fail(why, "connector name empty, too long or not [A-Za-z0-9._-]");
        memcpy(o->name, s, sn);
        o->name[sn] = 0;
        if (o->connected > 1)
            return fail(why, "connected is not 0 or 1");
        o->cur_w = proto_rd_u16(&r);
        o->cur_h = proto_rd_u16(&r);
        o->cur_refresh = proto_rd_u16(&r);
        uint8_t m = proto_rd_u8(&r);
        if (r.err)
            return fail(why, "truncated connector");
        if (m > PROTO_DISP_MAX_MODES)
            return fail(why, "more than 64 modes");
        bool none = o->cur_w == 0 && o->cur_h == 0 && o->cur_refresh == 0;
        if (!none && !dims_ok(o->cur_w, o->cur_h, o->cur_refresh))
            return fail(why, "current mode out of bounds");
        o->nmodes = m;
        for (unsigned j = 0; j < m; j++) {
            proto_disp_mode *md = &o->modes[j];
            md->w = proto_rd_u16(&r);
            md->h = proto_rd_u16(&r);
            md->refresh = proto_rd_u16(&r);
            md->flags = proto_rd_u8(&r);
            if (r.err)
                return fail(why, "truncated mode list");
            if (!dims_ok(md->w, md->h, md->refresh))
                return fail(why, "mode size zero, above 8192 or refresh above 1000");
            if (md->flags & ~PROTO_DISP_MODE_PREFERRED)
                return fail(why, "unknown mode flags");
        }
        *count = i + 1;
    }
    if (!proto_rd_done(&r))
        return fail(why, "trailing bytes");
    return true;
}

size_t proto_disp_enc_mode(uint8_t *out, size_t cap, uint32_t conn, uint16_t w, uint16_t h,
                           uint16_t refresh)
{
    proto_wr wr;
    proto_wr_init(&wr, out, cap);
    proto_wr_u32(&wr, conn);
    proto_wr_u16(&wr, w);
    proto_wr_u16(&wr, h);
    proto_wr_u16(&wr, refresh);
    return wr.err ? 0 : wr.len;
}

bool proto_disp_dec_mode(const uint8_t *p, size_t n, bool any_size, uint32_t *conn,
                         uint16_t *w, uint16_t *h, uint16_t *refresh)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *conn = proto_rd_u32(&r);
    *w = proto_rd_u16(&r);
    *h = proto_rd_u16(&r);
    *refresh = proto_rd_u16(&r);
    if (!proto_rd_done(&r) || *refresh > PROTO_DISP_MAX_REFRESH)
        return false;
    if (any_size && *w == 0 && *h == 0)
        return true;
    return dims_ok(*w, *h, *refresh);
}

void proto_disp_enc_update_hdr(uint8_t out[PROTO_DISP_UPDATE_HDR], const proto_disp_rect *r)
{
    proto_wr w;
    proto_wr_init(&w, out, PROTO_DISP_UPDATE_HDR);
    proto_wr_u32(&w, r->conn);
    proto_wr_u16(&w, r->x);
    proto_wr_u16(&w, r->y);
    proto_wr_u16(&w, r->w);
    proto_wr_u16(&w, r->h);
}

bool proto_disp_dec_update(const uint8_t *p, size_t n, proto_disp_rect *r,
                           const uint8_t **pixels)
{
    if (n < PROTO_DISP_UPDATE_HDR)
        return false;
    proto_rd rd;
    proto_rd_init(&rd, p, PROTO_DISP_UPDATE_HDR);
    r->conn = proto_rd_u32(&rd);
    r->x = proto_rd_u16(&rd);
    r->y = proto_rd_u16(&rd);
    r->w = proto_rd_u16(&rd);
    r->h = proto_rd_u16(&rd);
    if (r->w < 1 || r->h < 1 || (uint32_t)r->x + r->w > PROTO_DISP_MAX_DIM ||
        (uint32_t)r->y + r->h > PROTO_DISP_MAX_DIM)
        return false;
    uint64_t bytes = (uint64_t)r->w * r->h * 4u;
    if (bytes > PROTO_DISP_MAX_PIXELS || n - PROTO_DISP_UPDATE_HDR != bytes)
        return false;
    *pixels = p + PROTO_DISP_UPDATE_HDR;
    return true;
}

size_t proto_disp_enc_error(uint8_t *out, size_t cap, uint32_t code, const char *msg)
{
    size_t n = strnlen(msg, PROTO_DISP_MAX_MSG);
    proto_wr w;
    proto_wr_init(&w, out, cap);
    proto_wr_u32(&w, code);
    proto_wr_str(&w, msg, n);
    return w.err ? 0 : w.len;
}

bool proto_disp_dec_error(const uint8_t *p, size_t n, uint32_t *code, proto_str *msg)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *code = proto_rd_u32(&r);
    proto_rd_str(&r, &msg->s, &msg->n);
    return proto_rd_done(&r) && msg->n <= PROTO_DISP_MAX_MSG;
}
