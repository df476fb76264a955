/* Host connection layer: handshake negotiation, frame limits (a header above the limit ends
 * the connection with a clear reason), control-channel replies per PROTOCOL.md's table,
 * keepalive, DATA splitting, and the output queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_fakepeer.h"
#include "rb_buf.h"
#include "rb_conn.h"

static char last_log[512];
static void tlog(void *ctx, const char *m)
{
    (void)ctx;
    snprintf(last_log, sizeof last_log, "%s", m);
}
static const rb_conn_ops ops = {.log = tlog};

typedef struct fixture {
    rb_conn c;
    fakepeer g;
} fixture;

static void pump(void *ctx)
{
    rb_conn *c = ctx;
    rb_conn_on_readable(c);
    rb_conn_flush(c);
}

static fixture *setup(uint32_t max_frame, uint32_t window, int ping_ms)
{
    fixture *f = calloc(1, sizeof *f);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    rb_conn_cfg cfg = {.features = 3, .max_frame = max_frame, .window = window,
                       .agent = "test host", .ping_interval_ms = ping_ms};
    assert_int_equal(rb_conn_init(&f->c, sv[0], RB_HOST, &cfg, &ops, NULL), 0);
    fp_init(&f->g, sv[1], pump, &f->c);
    return f;
}

static void teardown(fixture *f)
{
    rb_conn_destroy(&f->c);
    close(f->g.fd);
    free(f);
}

/* Guest answers first (into the socket buffer), then the blocking handshake runs. */
static fixture *ready(uint32_t max_frame, uint32_t window, int ping_ms)
{
    fixture *f = setup(max_frame, window, ping_ms);
    proto_hello g = {.version_min = 1, .version_max = 1, .features = 1, .max_frame = 32768,
                     .window = 4096, .agent = {"fake\x01guest", 10}};
    uint8_t fr[256];
    fp_send_frame(&f->g, fr, proto_enc_hello(fr, sizeof fr, &g));
    assert_int_equal(rb_conn_handshake(&f->c, -1, 2000), 0);
    proto_hdr h;
    const uint8_t *pl;
    assert_true(fp_recv(&f->g, &h, &pl));
    assert_int_equal(h.type, PROTO_HELLO);
    proto_hello mine;
    assert_true(proto_dec_hello(pl, h.len, &mine));
    assert_int_equal(mine.max_frame, f->c.cfg.max_frame);
    assert_int_equal(mine.window, f->c.cfg.window);
    return f;
}

static void test_buf(void **state)
{
    (void)state;
    rb_buf b = {0};
    uint8_t data[10000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)i;
    for (int round = 0; round < 50; round++) {
        assert_int_equal(rb_buf_append(&b, data, sizeof data), 0);
        rb_buf_consume(&b, 7000);
    }
    assert_int_equal(rb_buf_len(&b), 50 * 3000);
    assert_true(b.cap <= 4 * 50 * 3000);
    assert_int_equal(rb_buf_data(&b)[0], data[(50 * 7000) % sizeof data]);
    rb_buf_consume(&b, rb_buf_len(&b));
    assert_int_equal(rb_buf_len(&b), 0);
    rb_buf_free(&b);
}

static void test_handshake(void **state)
{
    (void)state;
    fixture *f = ready(65536, 8192, 0);
    assert_true(f->c.ready);
    assert_int_equal(f->c.p.version, 1);
    assert_int_equal(f->c.p.features, 1);          /* AND of both */
    assert_int_equal(f->c.p.max_frame, 32768);     /* the smaller */
    assert_int_equal(f->c.p.peer_window, 4096);
    assert_int_equal(f->c.p.my_window, 8192);
    assert_string_equal(f->c.p.agent, "fake?guest"); /* control characters neutralised */
    assert_int_equal(f->c.rd.limit, 65536);        /* we accept up to our own value */
    teardown(f);
}

static void test_version_mismatch(void **state)
{
    (void)state;
    fixture *f = setup(0, 0, 0);
    proto_hello g = {.version_min = 2, .version_max = 3, .max_frame = 4096, .window = 4096};
    uint8_t fr[256];
    fp_send_frame(&f->g, fr, proto_enc_hello(fr, sizeof fr, &g));
    assert_int_equal(rb_conn_handshake(&f->c, -1, 2000), -1);
    assert_non_null(strstr(f->c.why, "versions 2-3"));
    teardown(f);
}

static void test_handshake_timeout(void **state)
{
    (void)state;
    fixture *f = setup(0, 0, 0);
    assert_int_equal(rb_conn_handshake(&f->c, -1, 50), -1);
    assert_non_null(strstr(f->c.why, "no HELLO"));
    teardown(f);
}

static void test_oversized_header(void **state)
{
    (void)state;
    fixture *f = ready(8192, 8192, 0);
    uint8_t h[PROTO_HDR_SIZE];
    proto_hdr hh = {.len = 8193, .chan = 1, .type = PROTO_DATA};
    proto_hdr_encode(h, &hh);
    fp_send_raw(&f->g, h, sizeof h);
    for (int i = 0; i < 100 && !f->c.dead; i++)
        pump(&f->c);
    assert_true(f->c.dead);
    assert_non_null(strstr(f->c.why, "length 8193, above the limit of 8192"));
    teardown(f);
}

static void test_prehello_limit(void **state)
{
    (void)state;
    fixture *f = setup(65536, 0, 0);
    uint8_t h[PROTO_HDR_SIZE];
    proto_hdr hh = {.len = PROTO_PREHELLO_MAX_FRAME + 1, .type = PROTO_HELLO};
    proto_hdr_encode(h, &hh);
    fp_send_raw(&f->g, h, sizeof h);
    assert_int_equal(rb_conn_handshake(&f->c, -1, 2000), -1);
    assert_non_null(strstr(f->c.why, "above the limit of 4096"));
    teardown(f);
}

static uint32_t expect_error(fixture *f, uint8_t type)
{
    proto_hdr h;
    const uint8_t *pl;
    assert_true(fp_recv(&f->g, &h, &pl));
    assert_int_equal(h.type, type);
    uint32_t code;
    proto_str t;
    assert_true(proto_dec_error(pl, h.len, &code, &t));
    return code;
}

static void test_control_replies(void **state)
{
    (void)state;
    /* before the handshake: anything but HELLO gets ERROR EPROTO and is dropped */
    fixture *f = setup(0, 0, 0);
    fp_send(&f->g, PROTO_DATA, 1, "\x01x", 2);
    assert_int_equal(expect_error(f, PROTO_ERROR), PROTO_EPROTO);
    teardown(f);

    f = ready(0, 0, 0);
    fp_send(&f->g, 0x7f, 0, "zz", 2);
    assert_int_equal(expect_error(f, PROTO_ERROR), PROTO_ENOSYS);
    fp_send(&f->g, PROTO_PING, 0, "abc", 3);
    assert_int_equal(expect_error(f, PROTO_ERROR), PROTO_EINVAL);
    uint8_t ping[32];
    fp_send_frame(&f->g, ping, proto_enc_u64(ping, sizeof ping, PROTO_PING, 0x1122334455667788ull));
    proto_hdr h;
    const uint8_t *pl;
    uint64_t v;
    assert_true(fp_recv(&f->g, &h, &pl));
    assert_int_equal(h.type, PROTO_PONG);
    assert_true(proto_dec_u64(pl, h.len, &v));
    assert_true(v == 0x1122334455667788ull);
    /* a malformed ERROR is only logged: never answered (no loops) */
    fp_send(&f->g, PROTO_ERROR, 0, "x", 1);
    fp_send_frame(&f->g, ping, proto_enc_u64(ping, sizeof ping, PROTO_PING, 5));
    assert_true(fp_recv(&f->g, &h, &pl));
    assert_int_equal(h.type, PROTO_PONG);
    assert_false(f->c.dead);
    /* GOODBYE ends the connection with the peer's reason */
    uint8_t bye[64];
    fp_send_frame(&f->g, bye, proto_enc_goodbye(bye, sizeof bye, "maintenance"));
    for (int i = 0; i < 100 && !f->c.dead; i++)
        pump(&f->c);
    assert_non_null(strstr(f->c.why, "maintenance"));
    teardown(f);
}

static void test_keepalive(void **state)
{
    (void)state;
    fixture *f = ready(0, 0, 20);
    /* Answered PINGs keep it alive. */
    for (int i = 0; i < 10; i++) {
        usleep(25000);
        rb_conn_tick(&f->c, rb_now_ms());
        rb_conn_flush(&f->c);
        proto_hdr h;
        const uint8_t *pl;
        assert_true(fp_recv(&f->g, &h, &pl));
        assert_int_equal(h.type, PROTO_PING);
        fp_send(&f->g, PROTO_PONG, 0, pl, h.len);
        pump(&f->c);
    }
    assert_false(f->c.dead);
    /* Silence: dead after RB_PING_MISSES unanswered PINGs. */
    for (int i = 0; i < 50 && !f->c.dead; i++) {
        usleep(10000);
        rb_conn_tick(&f->c, rb_now_ms());
        rb_conn_flush(&f->c);
    }
    assert_true(f->c.dead);
    assert_non_null(strstr(f->c.why, "keepalive"));
    teardown(f);
}

static void test_data_split(void **state)
{
    (void)state;
    fixture *f = ready(0, 0, 0);
    f->c.p.max_frame = 4096;
    static uint8_t data[10000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    rb_conn_send_data(&f->c, 5, PROTO_STDIN, data, sizeof data);
    rb_conn_flush(&f->c);
    size_t got = 0;
    while (got < sizeof data) {
        proto_hdr h;
        const uint8_t *pl, *d;
        uint8_t s;
        size_t dn;
        assert_true(fp_recv(&f->g, &h, &pl));
        assert_int_equal(h.type, PROTO_DATA);
        assert_int_equal(h.chan, 5);
        assert_true(h.len <= 4096);
        assert_true(proto_dec_data(pl, h.len, &s, &d, &dn));
        assert_memory_equal(d, data + got, dn);
        got += dn;
    }
    assert_int_equal(got, sizeof data);
    teardown(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_version_mismatch),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_oversized_header),
        cmocka_unit_test(test_prehello_limit),
        cmocka_unit_test(test_control_replies),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_data_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
