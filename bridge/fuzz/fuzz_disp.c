/* Display service decoding (PROTOCOL.md, Display service), both directions. The first byte
 * picks the chunk size the stream is fed in and (bit 7) the direction:
 * - guest to host (what the host library decodes from an untrusted guest): records through the
 *   reassembler bounded by PROTO_DISP_MAX_EVENT, then CONNECTORS/HOTPLUG, MODE, ERROR;
 * - host to guest (what the helper decodes): SET_MODE and UPDATE with PROTO_DISP_MAX_RECORD.
 * Every decoded value must respect its bound; nothing may crash, hang or read outside. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"

static volatile uint8_t fuzz_disp_sink;

static void check_conns(const proto_rec *r)
{
    proto_disp_conn c[PROTO_DISP_MAX_CONNS];
    size_t n;
    const char *why;
    if (!proto_disp_dec_conns(r->body, r->body_len, c, PROTO_DISP_MAX_CONNS, &n, &why))
        return;
    if (n > PROTO_DISP_MAX_CONNS)
        __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        if (!proto_disp_name_ok(c[i].name, strlen(c[i].name)) || c[i].nmodes > PROTO_DISP_MAX_MODES)
            __builtin_trap();
        for (unsigned k = 0; k < c[i].nmodes; k++)
            if (!c[i].modes[k].w || c[i].modes[k].w > PROTO_DISP_MAX_DIM || !c[i].modes[k].h ||
                c[i].modes[k].h > PROTO_DISP_MAX_DIM)
                __builtin_trap();
    }
    /* What decodes re-encodes to the same bytes. */
    static uint8_t again[PROTO_DISP_MAX_EVENT];
    size_t m = proto_disp_enc_conns(again, sizeof again, c, n);
    if (m != r->body_len || memcmp(again, r->body, m))
        __builtin_trap();
}

static void on_record(const proto_rec *r, bool to_guest)
{
    uint32_t conn, code;
    uint16_t w, h, refresh;
    proto_str msg;
    if (!to_guest) {
        if (r->type == PROTO_DISP_CONNECTORS || r->type == PROTO_DISP_HOTPLUG)
            check_conns(r);
        else if (r->type == PROTO_DISP_MODE && proto_disp_dec_mode(r->body, r->body_len, false, &conn, &w, &h, &refresh) &&
                 (!w || !h || w > PROTO_DISP_MAX_DIM || h > PROTO_DISP_MAX_DIM))
            __builtin_trap();
        else if (r->type == PROTO_DISP_ERROR && proto_disp_dec_error(r->body, r->body_len, &code, &msg) &&
                 msg.n > PROTO_DISP_MAX_MSG)
            __builtin_trap();
        return;
    }
    proto_disp_rect rc;
    const uint8_t *px;
    if (r->type == PROTO_DISP_UPDATE && proto_disp_dec_update(r->body, r->body_len, &rc, &px)) {
        size_t bytes = (size_t)rc.w * rc.h * 4;
        if (px + bytes != r->body + r->body_len || bytes > PROTO_DISP_MAX_PIXELS ||
            (uint32_t)rc.x + rc.w > PROTO_DISP_MAX_DIM || (uint32_t)rc.y + rc.h > PROTO_DISP_MAX_DIM)
            __builtin_trap();
        uint8_t sum = 0;
        for (size_t i = 0; i < bytes; i += 4096)
            sum = (uint8_t)(sum + px[i]); /* every pixel byte is inside the record (ASan) */
        fuzz_disp_sink = sum;
    } else if (r->type == PROTO_DISP_SET_MODE) {
        proto_disp_dec_mode(r->body, r->body_len, true, &conn, &w, &h, &refresh);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[4 + PROTO_DISP_MAX_RECORD];
    if (size < 1)
        return 0;
    bool to_guest = data[0] & 0x80;
    size_t chunk = (size_t)(data[0] & 0x7f) % 64 + 1;
    data++, size--;
    proto_rec_stream s;
    proto_rec_stream_init(&s, buf, to_guest ? PROTO_DISP_MAX_RECORD : PROTO_DISP_MAX_EVENT);
    for (size_t off = 0; off < size;) {
        size_t n = size - off < chunk ? size - off : chunk, used;
        proto_rec r;
        int f = proto_rec_stream_feed(&s, data + off, n, &used, &r);
        if (f == PROTO_BAD_FRAME)
            break;
        if (used == 0 && f != PROTO_FRAME)
            __builtin_trap();
        off += used;
        if (f == PROTO_FRAME)
            on_record(&r, to_guest);
    }
    return 0;
}
