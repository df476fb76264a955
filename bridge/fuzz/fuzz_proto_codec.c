/* Every proto_dec_* and the frame reader on arbitrary bytes. Besides "no crash, no overread"
 * it checks that whatever decodes re-encodes to exactly the same payload, so encoder and
 * decoder agree on every field and bound.
 * Input: byte 0 picks the decoder, the rest is the payload; the whole input is also fed to a
 * frame reader in chunks whose sizes come from the input itself. */
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static uint8_t out[PROTO_HDR_SIZE + PROTO_MAX_FRAME_HARD];
static proto_exec_open eo;

/* The re-encoded frame must carry exactly the payload that was decoded. */
static void same(size_t n, const uint8_t *p, size_t pn)
{
    if (n != PROTO_HDR_SIZE + pn || memcmp(out + PROTO_HDR_SIZE, p, pn) != 0)
        abort();
}

static void decode_one(uint8_t which, const uint8_t *p, size_t n)
{
    proto_hello h;
    uint64_t v;
    uint32_t u, code;
    uint16_t r16, c16, svc;
    uint8_t st;
    proto_str s;
    proto_exit e;
    const uint8_t *d;
    size_t dn;
    switch (which % 13) {
    case 0:
        if (proto_dec_hello(p, n, &h))
            same(proto_enc_hello(out, sizeof out, &h), p, n);
        break;
    case 1:
        if (proto_dec_u64(p, n, &v))
            same(proto_enc_u64(out, sizeof out, PROTO_PING, v), p, n);
        break;
    case 2:
        /* the encoder takes a C string, so only texts without NUL can be compared; the
         * decoder already rejects embedded NULs */
        if (proto_dec_error(p, n, &code, &s)) {
            char t[PROTO_MAX_STR + 1];
            memcpy(t, s.s, s.n);
            t[s.n] = 0;
            same(proto_enc_error(out, sizeof out, PROTO_ERROR, 0, code, t), p, n);
        }
        break;
    case 3:
        if (proto_dec_open_service(p, n, &svc) && proto_dec_exec_open(p + 2, n - 2, &eo)) {
            size_t k = proto_enc_exec_open(out, sizeof out, 1, &eo);
            if (svc == PROTO_SVC_EXEC)
                same(k, p, n);
        }
        break;
    case 4:
        if (proto_dec_open_ok(p, n, &u))
            same(proto_enc_open_ok(out, sizeof out, 1, u), p, n);
        break;
    case 5:
        if (proto_dec_data(p, n, &st, &d, &dn) && (dn != n - 1 || d != p + 1))
            abort();
        break;
    case 6:
        if (proto_dec_stream(p, n, &st))
            same(proto_enc_stream(out, sizeof out, PROTO_EOF, 1, st), p, n);
        break;
    case 7:
        if (proto_dec_credit(p, n, &st, &u))
            same(proto_enc_credit(out, sizeof out, 1, st, u), p, n);
        break;
    case 8:
        if (proto_dec_winsize(p, n, &r16, &c16))
            same(proto_enc_winsize(out, sizeof out, 1, r16, c16), p, n);
        break;
    case 9:
        if (proto_dec_signal(p, n, &u))
            same(proto_enc_signal(out, sizeof out, 1, u), p, n);
        break;
    case 10:
        if (proto_dec_exit(p, n, &e))
            same(proto_enc_exit(out, sizeof out, 1, &e), p, n);
        break;
    case 11:
        if (proto_dec_goodbye(p, n, &s)) {
            char t[PROTO_MAX_STR + 1];
            memcpy(t, s.s, s.n);
            t[s.n] = 0;
            same(proto_enc_goodbye(out, sizeof out, t), p, n);
        }
        break;
    default: {
        proto_rd r;
        proto_rd_init(&r, p, n);
        const char *cs;
        uint32_t cn;
        while (!r.err && r.off < r.len) {
            proto_rd_str(&r, &cs, &cn);
            (void)proto_rd_u8(&r);
        }
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* copy so ASan catches any read past the payload */
    uint8_t *p = malloc(size - 1 ? size - 1 : 1);
    memcpy(p, data + 1, size - 1);
    decode_one(data[0], p, size - 1);
    free(p);

    /* the same bytes as a frame stream, chunked by the input's own bytes */
    static uint8_t rbuf[PROTO_HDR_SIZE + 8192];
    proto_reader rd;
    proto_reader_init(&rd, rbuf, 8192);
    size_t off = 0;
    while (off < size) {
        size_t c = (size_t)(data[off] % 64) + 1;
        if (c > size - off)
            c = size - off;
        size_t pos = 0;
        while (pos < c) {
            size_t used;
            proto_hdr h;
            const uint8_t *pl;
            int st = proto_reader_feed(&rd, data + off + pos, c - pos, &used, &h, &pl);
            if (st == PROTO_BAD_FRAME)
                return 0;
            if (used > c - pos || (st == PROTO_NEED_MORE && used != c - pos))
                abort();
            pos += used;
            if (st == PROTO_FRAME) {
                if (h.len > 8192)
                    abort();
                decode_one(h.type, pl, h.len);
            }
        }
        off += c;
    }
    return 0;
}
