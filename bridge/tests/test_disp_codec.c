/* Display service records (PROTOCOL.md, Display service): round trips, every bound of the
 * decoders the host runs on guest input, and the guest's trimming of what a driver reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "revm-guestd/disp.h"
#include "proto.h"

static proto_disp_conn sample(uint32_t id, const char *name, unsigned nmodes)
{
    proto_disp_conn c;
    memset(&c, 0, sizeof c);
    c.id = id;
    c.connected = 1;
    strcpy(c.name, name);
    c.cur_w = 1024, c.cur_h = 768, c.cur_refresh = 60;
    c.nmodes = (uint8_t)nmodes;
    for (unsigned i = 0; i < nmodes; i++)
        c.modes[i] = (proto_disp_mode){(uint16_t)(640 + i), (uint16_t)(480 + i), 60, i == 0};
    return c;
}

static void conns_round_trip(void **st)
{
    (void)st;
    proto_disp_conn in[3] = {sample(31, "Virtual-1", 64), sample(32, "HDMI-A-1", 0), sample(40, "x", 1)};
    in[1].connected = 0;
    in[1].cur_w = in[1].cur_h = in[1].cur_refresh = 0;
    uint8_t buf[PROTO_DISP_MAX_EVENT];
    size_t n = proto_disp_enc_conns(buf, sizeof buf, in, 3);
    assert_true(n > 0);
    proto_disp_conn out[PROTO_DISP_MAX_CONNS];
    size_t k;
    const char *why = NULL;
    assert_true(proto_disp_dec_conns(buf, n, out, PROTO_DISP_MAX_CONNS, &k, &why));
    assert_int_equal(k, 3);
    assert_memory_equal(&out[0], &in[0], sizeof in[0]);
    assert_string_equal(out[1].name, "HDMI-A-1");
    assert_int_equal(out[1].connected, 0);
    assert_int_equal(out[2].modes[0].flags, PROTO_DISP_MODE_PREFERRED);
    /* The largest legal list fits the guest-to-host bound. */
    proto_disp_conn big[PROTO_DISP_MAX_CONNS];
    for (unsigned i = 0; i < PROTO_DISP_MAX_CONNS; i++)
        big[i] = sample(i + 1, "abcdefghijabcdefghijabcdefghij12", PROTO_DISP_MAX_MODES);
    n = proto_disp_enc_conns(buf, sizeof buf, big, PROTO_DISP_MAX_CONNS);
    assert_true(n > 0 && n + PROTO_REC_MIN <= PROTO_DISP_MAX_EVENT);
    assert_true(proto_disp_dec_conns(buf, n, out, PROTO_DISP_MAX_CONNS, &k, NULL));
    assert_int_equal(k, PROTO_DISP_MAX_CONNS);
    /* Every truncation of a valid list is refused. */
    for (size_t cut = 0; cut < n; cut++)
        assert_false(proto_disp_dec_conns(buf, cut, out, PROTO_DISP_MAX_CONNS, &k, NULL));
    /* ... and a trailing byte too. */
    buf[n] = 0;
    assert_false(proto_disp_dec_conns(buf, n + 1, out, PROTO_DISP_MAX_CONNS, &k, &why));
    assert_string_equal(why, "trailing bytes");
}

/* Hand-written hostile lists: each one must be refused with its reason. */
static size_t one_conn(uint8_t *b, uint8_t count, const char *name, uint32_t namelen, uint8_t connected,
                       uint16_t cw, uint16_t ch, uint8_t nmodes, uint16_t mw, uint16_t mh,
                       uint16_t mr, uint8_t mf)
{
    proto_wr w;
    proto_wr_init(&w, b, 4096);
    proto_wr_u8(&w, count);
    proto_wr_u32(&w, 7);
    proto_wr_u8(&w, connected);
    proto_wr_u32(&w, namelen);
    proto_wr_bytes(&w, name, namelen);
    proto_wr_u16(&w, cw);
    proto_wr_u16(&w, ch);
    proto_wr_u16(&w, cw || ch ? 60 : 0);
    proto_wr_u8(&w, nmodes);
    for (unsigned i = 0; i < nmodes && i < 70; i++) {
        proto_wr_u16(&w, mw);
        proto_wr_u16(&w, mh);
        proto_wr_u16(&w, mr);
        proto_wr_u8(&w, mf);
    }
    return w.len;
}

static void conns_hostile(void **st)
{
    (void)st;
    uint8_t b[4096];
    proto_disp_conn out[PROTO_DISP_MAX_CONNS];
    size_t k, n;
    const char *why;
    n = one_conn(b, 1, "VGA-1", 5, 1, 1024, 768, 1, 1024, 768, 60, 1);
    assert_true(proto_disp_dec_conns(b, n, out, PROTO_DISP_MAX_CONNS, &k, &why));
    assert_int_equal(out[0].modes[0].w, 1024);
#define REFUSED(expr, reason)                                                              \
    do {                                                                                   \
        n = (expr);                                                                        \
        why = NULL;                                                                        \
        assert_false(proto_disp_dec_conns(b, n, out, PROTO_DISP_MAX_CONNS, &k, &why));     \
        assert_non_null(why);                                                              \
        assert_non_null(strstr(why, reason));                                              \
    } while (0)
    REFUSED(one_conn(b, 17, "VGA-1", 5, 1, 0, 0, 0, 0, 0, 0, 0), "too many connectors");
    REFUSED(one_conn(b, 255, "VGA-1", 5, 1, 0, 0, 0, 0, 0, 0, 0), "too many connectors");
    REFUSED(one_conn(b, 1, "", 0, 1, 0, 0, 0, 0, 0, 0, 0), "name");
    REFUSED(one_conn(b, 1, "abcdefghijabcdefghijabcdefghij123", 33, 1, 0, 0, 0, 0, 0, 0, 0), "name");
    REFUSED(one_conn(b, 1, "a b", 3, 1, 0, 0, 0, 0, 0, 0, 0), "name");
    REFUSED(one_conn(b, 1, "a\nb", 3, 1, 0, 0, 0, 0, 0, 0, 0), "name");
    REFUSED(one_conn(b, 1, "VGA-1", 5, 2, 0, 0, 0, 0, 0, 0, 0), "connected");
    REFUSED(one_conn(b, 1, "VGA-1", 5, 1, 0, 768, 0, 0, 0, 0, 0), "current mode");
    REFUSED(one_conn(b, 1, "VGA-1", 5, 1, 8193, 768, 0, 0, 0, 0, 0), "current mode");
    REFUSED(one_conn(b, 1, "VGA-1", 5, 1, 0, 0, 65, 640, 480, 60, 0), "64 modes");
    REFUSED(one_conn(b, 1, "VGA-1", 5, 1, 0, 0, 1, 0, 480, 60, 0), "mode size");
    REFUSED(one_conn(b, 1, "VGA-1", 5, 1, 0, 0, 1, 640, 0, 60, 0), "mode size");
    REFUSED(one_conn(b, 1, "VGA-1", 5, 1, 0, 0, 1, 65535, 65535, 60, 0), "mode size");
    REFUSED(one_conn(b, 1, "VGA-1", 5, 1, 0, 0, 1, 640, 480, 1001, 0), "refresh");
    REFUSED(one_conn(b, 1, "VGA-1", 5, 1, 0, 0, 1, 640, 480, 60, 2), "flags");
    /* Connector id 0 (KMS ids start at 1; the host uses 0 for "none"). */
    n = one_conn(b, 1, "VGA-1", 5, 1, 0, 0, 0, 0, 0, 0, 0);
    b[1] = 0; /* the id's low byte: 7 -> 0 */
    assert_false(proto_disp_dec_conns(b, n, out, PROTO_DISP_MAX_CONNS, &k, &why));
    assert_string_equal(why, "connector id 0");
    /* A name length far beyond the body. */
    REFUSED(one_conn(b, 1, "VGA-1", 0xffffffffu, 1, 0, 0, 0, 0, 0, 0, 0), "truncated");
    /* A caller with room for fewer connectors than sent. */
    n = one_conn(b, 2, "VGA-1", 5, 1, 0, 0, 0, 0, 0, 0, 0);
    assert_false(proto_disp_dec_conns(b, n, out, 1, &k, NULL));
    assert_false(proto_disp_dec_conns(b, 0, out, 1, &k, NULL));
}

static void conns_encoder_refuses_invalid(void **st)
{
    (void)st;
    uint8_t b[PROTO_DISP_MAX_EVENT];
    proto_disp_conn c = sample(1, "ok", 1);
    c.modes[0].w = 0;
    assert_int_equal(proto_disp_enc_conns(b, sizeof b, &c, 1), 0);
    c = sample(1, "bad name", 1);
    assert_int_equal(proto_disp_enc_conns(b, sizeof b, &c, 1), 0);
    c = sample(1, "ok", 1);
    assert_int_equal(proto_disp_enc_conns(b, 10, &c, 1), 0); /* no room */
    proto_disp_conn many[PROTO_DISP_MAX_CONNS + 1];
    for (unsigned i = 0; i <= PROTO_DISP_MAX_CONNS; i++)
        many[i] = sample(i, "a", 0);
    assert_int_equal(proto_disp_enc_conns(b, sizeof b, many, PROTO_DISP_MAX_CONNS + 1), 0);
}

static void mode_records(void **st)
{
    (void)st;
    uint8_t b[16];
    uint32_t conn;
    uint16_t w, h, r;
    size_t n = proto_disp_enc_mode(b, sizeof b, 42, 800, 600, 60);
    assert_int_equal(n, 10);
    assert_true(proto_disp_dec_mode(b, n, false, &conn, &w, &h, &r));
    assert_int_equal(conn, 42);
    assert_int_equal(w, 800);
    assert_int_equal(h, 600);
    assert_int_equal(r, 60);
    assert_false(proto_disp_dec_mode(b, n - 1, false, &conn, &w, &h, &r));
    n = proto_disp_enc_mode(b, sizeof b, 42, 0, 0, 0);
    assert_true(proto_disp_dec_mode(b, n, true, &conn, &w, &h, &r));   /* SET_MODE: preferred */
    assert_false(proto_disp_dec_mode(b, n, false, &conn, &w, &h, &r)); /* MODE: never 0x0 */
    n = proto_disp_enc_mode(b, sizeof b, 42, 8193, 600, 0);
    assert_false(proto_disp_dec_mode(b, n, true, &conn, &w, &h, &r));
    n = proto_disp_enc_mode(b, sizeof b, 42, 0, 600, 0);
    assert_false(proto_disp_dec_mode(b, n, true, &conn, &w, &h, &r));
    n = proto_disp_enc_mode(b, sizeof b, 42, 640, 480, 1001);
    assert_false(proto_disp_dec_mode(b, n, true, &conn, &w, &h, &r));
}

static void update_records(void **st)
{
    (void)st;
    static uint8_t b[PROTO_DISP_UPDATE_HDR + 64 * 4];
    proto_disp_rect in = {3, 10, 20, 8, 8}, out;
    proto_disp_enc_update_hdr(b, &in);
    for (unsigned i = 0; i < 256; i++)
        b[PROTO_DISP_UPDATE_HDR + i] = (uint8_t)i;
    const uint8_t *px;
    assert_true(proto_disp_dec_update(b, sizeof b, &out, &px));
    assert_memory_equal(&in, &out, sizeof in);
    assert_ptr_equal(px, b + PROTO_DISP_UPDATE_HDR);
    assert_false(proto_disp_dec_update(b, sizeof b - 1, &out, &px)); /* short pixels */
    assert_false(proto_disp_dec_update(b, 11, &out, &px));           /* short header */
    proto_disp_rect bad[] = {{3, 0, 0, 0, 8}, {3, 0, 0, 8, 0}, {3, 8190, 0, 4, 1}, {3, 0, 8190, 1, 4},
                             {3, 0, 0, 8192, 8192}, {3, 0xffff, 0xffff, 0xffff, 0xffff}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        proto_disp_enc_update_hdr(b, &bad[i]);
        assert_false(proto_disp_dec_update(b, sizeof b, &out, &px));
    }
    /* Above the pixel bound even when the body would match. */
    proto_disp_rect huge = {1, 0, 0, 2048, 513};
    proto_disp_enc_update_hdr(b, &huge);
    assert_false(proto_disp_dec_update(b, PROTO_DISP_UPDATE_HDR + 2048u * 513u * 4u, &out, &px));
}

static void error_records(void **st)
{
    (void)st;
    uint8_t b[PROTO_DISP_MAX_MSG + 16];
    uint32_t code;
    proto_str msg;
    size_t n = proto_disp_enc_error(b, sizeof b, 19, "connector 7 is gone");
    assert_true(proto_disp_dec_error(b, n, &code, &msg));
    assert_int_equal(code, 19);
    assert_int_equal(msg.n, 19);
    char longmsg[600];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = 0;
    n = proto_disp_enc_error(b, sizeof b, 5, longmsg); /* cut at the bound */
    assert_true(proto_disp_dec_error(b, n, &code, &msg));
    assert_int_equal(msg.n, PROTO_DISP_MAX_MSG);
    uint8_t big[PROTO_DISP_MAX_MSG + 32];
    proto_wr w;
    proto_wr_init(&w, big, sizeof big);
    proto_wr_u32(&w, 5);
    proto_wr_str(&w, longmsg, PROTO_DISP_MAX_MSG + 1);
    assert_false(proto_disp_dec_error(big, w.len, &code, &msg));
}

static void guest_trims_modes(void **st)
{
    (void)st;
    proto_disp_mode in[200], out[PROTO_DISP_MAX_MODES];
    for (unsigned i = 0; i < 200; i++)
        in[i] = (proto_disp_mode){(uint16_t)(100 + i), 100, 60, 0};
    in[5] = in[4];                                   /* duplicate */
    in[6] = (proto_disp_mode){0, 100, 60, 0};        /* zero width */
    in[7] = (proto_disp_mode){9000, 100, 60, 0};     /* too wide */
    in[8] = (proto_disp_mode){640, 480, 2000, 0};    /* absurd refresh */
    in[199] = (proto_disp_mode){1920, 1080, 60, PROTO_DISP_MODE_PREFERRED | 0x80};
    size_t k = guest_disp_pick_modes(in, 200, out);
    assert_int_equal(k, PROTO_DISP_MAX_MODES);
    unsigned pref = 0;
    for (size_t i = 0; i < k; i++) {
        assert_true(out[i].w >= 1 && out[i].w <= PROTO_DISP_MAX_DIM && out[i].refresh <= 1000);
        assert_int_equal(out[i].flags & ~PROTO_DISP_MODE_PREFERRED, 0);
        pref += out[i].flags;
        for (size_t j = 0; j < i; j++)
            assert_false(out[i].w == out[j].w && out[i].h == out[j].h && out[i].refresh == out[j].refresh);
    }
    assert_int_equal(pref, 1);
    assert_int_equal(out[k - 1].w, 1920);
    /* What the guest keeps always encodes. */
    proto_disp_conn c;
    memset(&c, 0, sizeof c);
    c.id = 1; /* KMS ids are never 0 */
    guest_disp_sanitize_name("HDMI A/1\n\x7f and a very long tail past thirty-two bytes", c.name);
    assert_int_equal(strlen(c.name), PROTO_DISP_MAX_NAME);
    assert_true(proto_disp_name_ok(c.name, strlen(c.name)));
    assert_memory_equal(c.name, "HDMI_A_1__", 10);
    guest_disp_sanitize_name("", c.name);
    assert_string_equal(c.name, "_");
    c.nmodes = (uint8_t)k;
    memcpy(c.modes, out, k * sizeof out[0]);
    uint8_t b[PROTO_DISP_MAX_EVENT];
    assert_true(proto_disp_enc_conns(b, sizeof b, &c, 1) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conns_round_trip),
        cmocka_unit_test(conns_hostile),
        cmocka_unit_test(conns_encoder_refuses_invalid),
        cmocka_unit_test(mode_records),
        cmocka_unit_test(update_records),
        cmocka_unit_test(error_records),
        cmocka_unit_test(guest_trims_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
