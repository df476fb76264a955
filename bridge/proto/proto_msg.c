/* Typed message encoders and decoders (PROTOCOL.md, Control channel, Channels, Exec service).
 * Decoders accept a payload only when every field is within its bound and every byte is
 * consumed: trailing bytes are as malformed as missing ones. */
#include "proto.h"

#include <string.h>

/* ---- encoding: reserve the header, write the payload, then fill the header in ---- */

static void frame_begin(proto_wr *w, uint8_t *out, size_t cap)
{
    proto_wr_init(w, out, cap);
    uint8_t zero[PROTO_HDR_SIZE] = {0};
    proto_wr_bytes(w, zero, sizeof zero);
}

static size_t frame_end(proto_wr *w, uint32_t chan, uint8_t type)
{
    if (w->err || w->len - PROTO_HDR_SIZE > PROTO_MAX_FRAME_HARD)
        return 0;
    proto_hdr h = {.len = (uint32_t)(w->len - PROTO_HDR_SIZE), .chan = chan, .type = type};
    proto_hdr_encode(w->p, &h);
    return w->len;
}

static void wr_pstr(proto_wr *w, proto_str s)
{
    proto_wr_str(w, s.n ? s.s : "", s.n);
}

size_t proto_enc_hello(uint8_t *out, size_t cap, const proto_hello *m)
{
    proto_wr w;
    frame_begin(&w, out, cap);
    proto_wr_u32(&w, PROTO_MAGIC);
    proto_wr_u16(&w, m->version_min);
    proto_wr_u16(&w, m->version_max);
    proto_wr_u32(&w, m->features);
    proto_wr_u32(&w, m->max_frame);
    proto_wr_u32(&w, m->window);
    wr_pstr(&w, m->agent);
    return frame_end(&w, 0, PROTO_HELLO);
}

size_t proto_enc_u64(uint8_t *out, size_t cap, uint8_t type, uint64_t v)
{
    proto_wr w;
    frame_begin(&w, out, cap);
    proto_wr_u64(&w, v);
    return frame_end(&w, 0, type);
}

size_t proto_enc_error(uint8_t *out, size_t cap, uint8_t type, uint32_t chan, uint32_t code,
                       const char *text)
{
    proto_wr w;
    frame_begin(&w, out, cap);
    proto_wr_u32(&w, code);
    if (!text)
        text = "";
    /* Error texts are for humans: cut an over-long one rather than send nothing. */
    size_t n = strnlen(text, PROTO_MAX_STR);
    proto_wr_str(&w, text, n);
    return frame_end(&w, chan, type);
}

size_t proto_enc_empty(uint8_t *out, size_t cap, uint8_t type, uint32_t chan)
{
    proto_wr w;
    frame_begin(&w, out, cap);
    return frame_end(&w, chan, type);
}

size_t proto_enc_exec_open(uint8_t *out, size_t cap, uint32_t chan, const proto_exec_open *m)
{
    proto_wr w;
    if (m->argc > PROTO_MAX_ARGS || m->envc > PROTO_MAX_ARGS)
        return 0;
    frame_begin(&w, out, cap);
    proto_wr_u16(&w, PROTO_SVC_EXEC);
    proto_wr_u32(&w, m->flags);
    proto_wr_u16(&w, m->rows);
    proto_wr_u16(&w, m->cols);
    wr_pstr(&w, m->user);
    wr_pstr(&w, m->cwd);
    proto_wr_u32(&w, m->argc);
    for (uint32_t i = 0; i < m->argc; i++)
        wr_pstr(&w, m->argv[i]);
    proto_wr_u32(&w, m->envc);
    for (uint32_t i = 0; i < m->envc; i++)
        wr_pstr(&w, m->env[i]);
    return frame_end(&w, chan, PROTO_OPEN);
}

size_t proto_enc_open_ok(uint8_t *out, size_t cap, uint32_t chan, uint32_t pid)
{
    proto_wr w;
    frame_begin(&w, out, cap);
    proto_wr_u32(&w, pid);
    return frame_end(&w, chan, PROTO_OPEN_OK);
}

size_t proto_enc_data_hdr(uint8_t *out, uint32_t chan, uint8_t stream, uint32_t n)
{
    proto_hdr h = {.len = n + 1, .chan = chan, .type = PROTO_DATA};
    proto_hdr_encode(out, &h);
    out[PROTO_HDR_SIZE] = stream;
    return PROTO_HDR_SIZE + 1;
}

size_t proto_enc_stream(uint8_t *out, size_t cap, uint8_t type, uint32_t chan, uint8_t stream)
{
    proto_wr w;
    frame_begin(&w, out, cap);
    proto_wr_u8(&w, stream);
    return frame_end(&w, chan, type);
}

size_t proto_enc_credit(uint8_t *out, size_t cap, uint32_t chan, uint8_t stream, uint32_t bytes)
{
    proto_wr w;
    frame_begin(&w, out, cap);
    proto_wr_u8(&w, stream);
    proto_wr_u32(&w, bytes);
    return frame_end(&w, chan, PROTO_CREDIT);
}

size_t proto_enc_winsize(uint8_t *out, size_t cap, uint32_t chan, uint16_t rows, uint16_t cols)
{
    proto_wr w;
    frame_begin(&w, out, cap);
    proto_wr_u16(&w, rows);
    proto_wr_u16(&w, cols);
    return frame_end(&w, chan, PROTO_WINSIZE);
}

size_t proto_enc_signal(uint8_t *out, size_t cap, uint32_t chan, uint32_t signo)
{
    proto_wr w;
    frame_begin(&w, out, cap);
    proto_wr_u32(&w, signo);
    return frame_end(&w, chan, PROTO_SIGNAL);
}

size_t proto_enc_exit(uint8_t *out, size_t cap, uint32_t chan, const proto_exit *m)
{
    proto_wr w;
    frame_begin(&w, out, cap);
    proto_wr_u8(&w, m->how);
    proto_wr_u32(&w, (uint32_t)m->value);
    proto_wr_u8(&w, m->core_dumped);
    return frame_end(&w, chan, PROTO_EXIT);
}

/* ---- decoding ---- */

static proto_str rd_pstr(proto_rd *r)
{
    proto_str s;
    proto_rd_str(r, &s.s, &s.n);
    return s;
}

bool proto_dec_hello(const uint8_t *p, size_t n, proto_hello *m)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    uint32_t magic = proto_rd_u32(&r);
    m->version_min = proto_rd_u16(&r);
    m->version_max = proto_rd_u16(&r);
    m->features = proto_rd_u32(&r);
    m->max_frame = proto_rd_u32(&r);
    m->window = proto_rd_u32(&r);
    m->agent = rd_pstr(&r);
    /* A peer that cannot take a pre-HELLO-sized frame could not even receive an OPEN. */
    return proto_rd_done(&r) && magic == PROTO_MAGIC && m->version_min <= m->version_max &&
           m->max_frame >= PROTO_PREHELLO_MAX_FRAME && m->max_frame <= PROTO_MAX_FRAME_HARD &&
           m->window >= PROTO_MIN_WINDOW && m->window <= PROTO_MAX_WINDOW;
}

bool proto_dec_u64(const uint8_t *p, size_t n, uint64_t *v)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *v = proto_rd_u64(&r);
    return proto_rd_done(&r);
}

bool proto_dec_error(const uint8_t *p, size_t n, uint32_t *code, proto_str *text)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *code = proto_rd_u32(&r);
    *text = rd_pstr(&r);
    return proto_rd_done(&r);
}

bool proto_dec_open_service(const uint8_t *p, size_t n, uint16_t *service)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *service = proto_rd_u16(&r);
    return !r.err;
}

bool proto_dec_exec_open(const uint8_t *p, size_t n, proto_exec_open *m)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    m->flags = proto_rd_u32(&r);
    m->rows = proto_rd_u16(&r);
    m->cols = proto_rd_u16(&r);
    m->user = rd_pstr(&r);
    m->cwd = rd_pstr(&r);
    m->argc = proto_rd_u32(&r);
    if (m->argc > PROTO_MAX_ARGS)
        goto bad;
    for (uint32_t i = 0; i < m->argc && !r.err; i++)
        m->argv[i] = rd_pstr(&r);
    m->envc = proto_rd_u32(&r);
    if (m->envc > PROTO_MAX_ARGS)
        goto bad;
    for (uint32_t i = 0; i < m->envc && !r.err; i++)
        m->env[i] = rd_pstr(&r);
    if (proto_rd_done(&r))
        return true;
bad:
    m->argc = m->envc = 0; /* never leave a count that points at unfilled entries */
    return false;
}

bool proto_dec_open_ok(const uint8_t *p, size_t n, uint32_t *pid)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *pid = proto_rd_u32(&r);
    return proto_rd_done(&r);
}

bool proto_dec_data(const uint8_t *p, size_t n, uint8_t *stream, const uint8_t **data, size_t *dn)
{
    if (!p || n < 1 || p[0] > PROTO_STDERR)
        return false;
    *stream = p[0];
    *data = p + 1;
    *dn = n - 1;
    return true;
}

bool proto_dec_stream(const uint8_t *p, size_t n, uint8_t *stream)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *stream = proto_rd_u8(&r);
    return proto_rd_done(&r) && *stream <= PROTO_STDERR;
}

bool proto_dec_credit(const uint8_t *p, size_t n, uint8_t *stream, uint32_t *bytes)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *stream = proto_rd_u8(&r);
    *bytes = proto_rd_u32(&r);
    return proto_rd_done(&r) && *stream <= PROTO_STDERR;
}

bool proto_dec_winsize(const uint8_t *p, size_t n, uint16_t *rows, uint16_t *cols)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *rows = proto_rd_u16(&r);
    *cols = proto_rd_u16(&r);
    return proto_rd_done(&r);
}

bool proto_dec_signal(const uint8_t *p, size_t n, uint32_t *signo)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *signo = proto_rd_u32(&r);
    return proto_rd_done(&r);
}

bool proto_dec_exit(const uint8_t *p, size_t n, proto_exit *m)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    m->how = proto_rd_u8(&r);
    m->value = (int32_t)proto_rd_u32(&r);
    m->core_dumped = proto_rd_u8(&r);
    return proto_rd_done(&r) && m->how <= 1 && m->core_dumped <= 1;
}

size_t proto_enc_goodbye(uint8_t *out, size_t cap, const char *reason)
{
    proto_wr w;
    frame_begin(&w, out, cap);
    if (!reason)
        reason = "";
    proto_wr_str(&w, reason, strnlen(reason, PROTO_MAX_STR));
    return frame_end(&w, 0, PROTO_GOODBYE);
}

bool proto_dec_goodbye(const uint8_t *p, size_t n, proto_str *reason)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *reason = rd_pstr(&r);
    return proto_rd_done(&r);
}
