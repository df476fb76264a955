/* Wire codec: every message round-trips, every bound is enforced, and payloads that are
 * truncated, oversized or carry trailing bytes are rejected. The frame reader yields the same
 * frames whether bytes arrive all at once, one by one or in random chunks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto.h"

static uint8_t buf[PROTO_HDR_SIZE + PROTO_MAX_FRAME_HARD];

/* Checks the header of an encoded frame and returns its payload. */
static const uint8_t *frame_payload(const uint8_t *f, size_t n, uint32_t chan, uint8_t type,
                                    size_t *plen)
{
    proto_hdr h;
    assert_true(n >= PROTO_HDR_SIZE);
    assert_true(proto_hdr_decode(f, PROTO_MAX_FRAME_HARD, &h));
    assert_int_equal(h.len, n - PROTO_HDR_SIZE);
    assert_int_equal(h.chan, chan);
    assert_int_equal(h.type, type);
    assert_int_equal(h.flags, 0);
    assert_int_equal(f[10], 0);
    assert_int_equal(f[11], 0);
    *plen = h.len;
    return f + PROTO_HDR_SIZE;
}

/* Every strict prefix and every one-byte extension of a valid payload must be rejected. */
typedef bool (*dec_fn)(const uint8_t *p, size_t n, void *out);
static void check_truncations(const uint8_t *p, size_t n, dec_fn dec, void *out)
{
    static uint8_t tmp[PROTO_MAX_FRAME_HARD + 1];
    assert_true(dec(p, n, out));
    for (size_t k = 0; k < n; k++) {
        memcpy(tmp, p, k);
        assert_false(dec(k ? tmp : NULL, k, out));
    }
    memcpy(tmp, p, n);
    tmp[n] = 0;
    assert_false(dec(tmp, n + 1, out));
}

static bool dec_hello_v(const uint8_t *p, size_t n, void *o) { return proto_dec_hello(p, n, o); }
static bool dec_exec_v(const uint8_t *p, size_t n, void *o) { return proto_dec_exec_open(p, n, o); }
static bool dec_exit_v(const uint8_t *p, size_t n, void *o) { return proto_dec_exit(p, n, o); }
static bool dec_u64_v(const uint8_t *p, size_t n, void *o) { return proto_dec_u64(p, n, o); }
static bool dec_sig_v(const uint8_t *p, size_t n, void *o) { return proto_dec_signal(p, n, o); }
static bool dec_ok_v(const uint8_t *p, size_t n, void *o) { return proto_dec_open_ok(p, n, o); }
static bool dec_error_v(const uint8_t *p, size_t n, void *o)
{
    proto_str t;
    return proto_dec_error(p, n, o, &t);
}
static bool dec_goodbye_v(const uint8_t *p, size_t n, void *o) { return proto_dec_goodbye(p, n, o); }
static bool dec_stream_v(const uint8_t *p, size_t n, void *o) { return proto_dec_stream(p, n, o); }
static bool dec_credit_v(const uint8_t *p, size_t n, void *o)
{
    uint32_t b;
    return proto_dec_credit(p, n, o, &b);
}
static bool dec_winsize_v(const uint8_t *p, size_t n, void *o)
{
    uint16_t c;
    return proto_dec_winsize(p, n, o, &c);
}

static proto_str S(const char *s) { return (proto_str){s, (uint32_t)strlen(s)}; }

static void test_header(void **state)
{
    (void)state;
    uint8_t f[PROTO_HDR_SIZE];
    proto_hdr h = {.len = 0x01020304, .chan = 0x80000001u, .type = 0x22, .flags = 0};
    proto_hdr_encode(f, &h);
    static const uint8_t want[] = {4, 3, 2, 1, 1, 0, 0, 0x80, 0x22, 0, 0, 0};
    assert_memory_equal(f, want, sizeof want);
    proto_hdr g;
    assert_false(proto_hdr_decode(f, PROTO_MAX_FRAME_HARD, &g));
    h.len = 4096;
    proto_hdr_encode(f, &h);
    assert_true(proto_hdr_decode(f, 4096, &g));
    assert_int_equal(g.len, 4096);
    assert_int_equal(g.chan, 0x80000001u);
    assert_false(proto_hdr_decode(f, 4095, &g));
    /* flags and rsvd are ignored by receivers */
    f[9] = 0xff;
    f[10] = f[11] = 0xee;
    assert_true(proto_hdr_decode(f, 4096, &g));
    assert_int_equal(g.type, 0x22);
}

static void test_reader_writer_primitives(void **state)
{
    (void)state;
    uint8_t b[64];
    proto_wr w;
    proto_wr_init(&w, b, sizeof b);
    proto_wr_u8(&w, 0xab);
    proto_wr_u16(&w, 0xbeef);
    proto_wr_u32(&w, 0xdeadbeef);
    proto_wr_u64(&w, 0x0123456789abcdefull);
    proto_wr_str(&w, "hi", 2);
    proto_wr_bytes(&w, "xyz", 3);
    assert_false(w.err);
    proto_rd r;
    proto_rd_init(&r, b, w.len);
    assert_int_equal(proto_rd_u8(&r), 0xab);
    assert_int_equal(proto_rd_u16(&r), 0xbeef);
    assert_int_equal(proto_rd_u32(&r), 0xdeadbeef);
    assert_true(proto_rd_u64(&r) == 0x0123456789abcdefull);
    const char *s;
    uint32_t n;
    proto_rd_str(&r, &s, &n);
    assert_int_equal(n, 2);
    assert_memory_equal(s, "hi", 2);
    assert_false(proto_rd_done(&r));
    proto_rd_u16(&r);
    proto_rd_u8(&r);
    assert_true(proto_rd_done(&r));
    /* overrun: error, zero values, and it sticks */
    assert_int_equal(proto_rd_u32(&r), 0);
    assert_true(r.err);
    assert_false(proto_rd_done(&r));

    /* writer overflow */
    proto_wr_init(&w, b, 3);
    proto_wr_u16(&w, 1);
    proto_wr_u16(&w, 1);
    assert_true(w.err);
    /* writer refuses strings a receiver would reject */
    static char big[PROTO_MAX_STR + 1];
    memset(big, 'a', sizeof big);
    static uint8_t wb[2 * PROTO_MAX_STR];
    proto_wr_init(&w, wb, sizeof wb);
    proto_wr_str(&w, big, PROTO_MAX_STR);
    assert_false(w.err);
    proto_wr_str(&w, big, PROTO_MAX_STR + 1);
    assert_true(w.err);
    proto_wr_init(&w, wb, sizeof wb);
    proto_wr_str(&w, "a\0b", 3);
    assert_true(w.err);

    /* string bounds on the reading side */
    proto_wr_init(&w, wb, sizeof wb);
    proto_wr_u32(&w, PROTO_MAX_STR + 1);
    proto_wr_bytes(&w, big, PROTO_MAX_STR + 1);
    proto_rd_init(&r, wb, w.len);
    proto_rd_str(&r, &s, &n);
    assert_true(r.err);
    assert_int_equal(n, 0);
    uint8_t nul[] = {3, 0, 0, 0, 'a', 0, 'b'};
    proto_rd_init(&r, nul, sizeof nul);
    proto_rd_str(&r, &s, &n);
    assert_true(r.err);
    uint8_t shortstr[] = {5, 0, 0, 0, 'a', 'b'};
    proto_rd_init(&r, shortstr, sizeof shortstr);
    proto_rd_str(&r, &s, &n);
    assert_true(r.err);
    uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 'a'};
    proto_rd_init(&r, huge, sizeof huge);
    proto_rd_str(&r, &s, &n);
    assert_true(r.err);
}

static void test_hello(void **state)
{
    (void)state;
    proto_hello m = {.version_min = 1, .version_max = 3, .features = PROTO_F_EXEC | PROTO_F_PTY,
                     .max_frame = PROTO_DEFAULT_MAX_FRAME, .window = PROTO_DEFAULT_WINDOW,
                     .agent = S("revm-guestd 0.1 (test)")};
    size_t n = proto_enc_hello(buf, sizeof buf, &m);
    assert_true(n > PROTO_HDR_SIZE);
    size_t pl;
    const uint8_t *p = frame_payload(buf, n, 0, PROTO_HELLO, &pl);
    assert_int_equal(p[0], 0x52); /* "RVMB" little-endian */
    assert_int_equal(p[3], 0x42);
    proto_hello d;
    assert_true(proto_dec_hello(p, pl, &d));
    assert_int_equal(d.version_min, 1);
    assert_int_equal(d.version_max, 3);
    assert_int_equal(d.features, 3);
    assert_int_equal(d.max_frame, PROTO_DEFAULT_MAX_FRAME);
    assert_int_equal(d.window, PROTO_DEFAULT_WINDOW);
    assert_int_equal(d.agent.n, m.agent.n);
    assert_memory_equal(d.agent.s, m.agent.s, m.agent.n);
    check_truncations(p, pl, dec_hello_v, &d);

    /* bounds */
    struct { uint16_t vmin, vmax; uint32_t mf, win; bool ok; } cases[] = {
        {1, 1, PROTO_PREHELLO_MAX_FRAME, PROTO_MIN_WINDOW, true},
        {1, 1, PROTO_MAX_FRAME_HARD, PROTO_MAX_WINDOW, true},
        {2, 1, PROTO_DEFAULT_MAX_FRAME, PROTO_DEFAULT_WINDOW, false},
        {1, 1, PROTO_PREHELLO_MAX_FRAME - 1, PROTO_DEFAULT_WINDOW, false},
        {1, 1, PROTO_MAX_FRAME_HARD + 1, PROTO_DEFAULT_WINDOW, false},
        {1, 1, PROTO_DEFAULT_MAX_FRAME, PROTO_MIN_WINDOW - 1, false},
        {1, 1, PROTO_DEFAULT_MAX_FRAME, PROTO_MAX_WINDOW + 1, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proto_hello c = {.version_min = cases[i].vmin, .version_max = cases[i].vmax,
                         .max_frame = cases[i].mf, .window = cases[i].win};
        n = proto_enc_hello(buf, sizeof buf, &c);
        assert_true(n > 0);
        p = frame_payload(buf, n, 0, PROTO_HELLO, &pl);
        assert_int_equal(proto_dec_hello(p, pl, &d), cases[i].ok);
    }
    /* bad magic */
    n = proto_enc_hello(buf, sizeof buf, &m);
    buf[PROTO_HDR_SIZE] ^= 1;
    assert_false(proto_dec_hello(buf + PROTO_HDR_SIZE, n - PROTO_HDR_SIZE, &d));
    /* does not fit */
    assert_int_equal(proto_enc_hello(buf, PROTO_HDR_SIZE + 10, &m), 0);
}

static void test_negotiate(void **state)
{
    (void)state;
    proto_hello a = {.version_min = 1, .version_max = 3, .features = 3, .max_frame = 65536};
    proto_hello b = {.version_min = 2, .version_max = 5, .features = 1, .max_frame = 8192};
    uint16_t v;
    uint32_t f, mf;
    assert_true(proto_negotiate(&a, &b, &v, &f, &mf));
    assert_int_equal(v, 3);
    assert_int_equal(f, 1);
    assert_int_equal(mf, 8192);
    assert_true(proto_negotiate(&b, &a, &v, &f, &mf));
    assert_int_equal(v, 3);
    proto_hello c = {.version_min = 4, .version_max = 4, .max_frame = 8192};
    assert_false(proto_negotiate(&a, &c, &v, &f, &mf));
    proto_hello d = {.version_min = 1, .version_max = 1, .max_frame = 8192};
    assert_true(proto_negotiate(&a, &d, &v, &f, &mf));
    assert_int_equal(v, 1);
}

static void test_small_messages(void **state)
{
    (void)state;
    size_t n, pl;
    const uint8_t *p;

    n = proto_enc_u64(buf, sizeof buf, PROTO_PING, 0xfeedfacecafebeefull);
    p = frame_payload(buf, n, 0, PROTO_PING, &pl);
    uint64_t v;
    assert_true(proto_dec_u64(p, pl, &v));
    assert_true(v == 0xfeedfacecafebeefull);
    check_truncations(p, pl, dec_u64_v, &v);
    n = proto_enc_u64(buf, sizeof buf, PROTO_PONG, 7);
    frame_payload(buf, n, 0, PROTO_PONG, &pl);

    n = proto_enc_error(buf, sizeof buf, PROTO_CH_ERROR, 9, PROTO_ENOENT,
                        "no such program in the VM: btop");
    p = frame_payload(buf, n, 9, PROTO_CH_ERROR, &pl);
    uint32_t code;
    proto_str t;
    assert_true(proto_dec_error(p, pl, &code, &t));
    assert_int_equal(code, PROTO_ENOENT);
    assert_int_equal(t.n, strlen("no such program in the VM: btop"));
    assert_memory_equal(t.s, "no such program in the VM: btop", t.n);
    check_truncations(p, pl, dec_error_v, &code);
    n = proto_enc_error(buf, sizeof buf, PROTO_ERROR, 0, PROTO_EINVAL, NULL);
    p = frame_payload(buf, n, 0, PROTO_ERROR, &pl);
    assert_true(proto_dec_error(p, pl, &code, &t));
    assert_int_equal(t.n, 0);
    /* an over-long error text is cut to the bound, not dropped */
    static char big[PROTO_MAX_STR + 100];
    memset(big, 'e', sizeof big - 1);
    n = proto_enc_error(buf, sizeof buf, PROTO_ERROR, 0, PROTO_EIO, big);
    p = frame_payload(buf, n, 0, PROTO_ERROR, &pl);
    assert_true(proto_dec_error(p, pl, &code, &t));
    assert_int_equal(t.n, PROTO_MAX_STR);

    n = proto_enc_goodbye(buf, sizeof buf, "shutting down");
    p = frame_payload(buf, n, 0, PROTO_GOODBYE, &pl);
    proto_str r;
    assert_true(proto_dec_goodbye(p, pl, &r));
    assert_memory_equal(r.s, "shutting down", r.n);
    check_truncations(p, pl, dec_goodbye_v, &r);

    n = proto_enc_empty(buf, sizeof buf, PROTO_CLOSE, 77);
    frame_payload(buf, n, 77, PROTO_CLOSE, &pl);
    assert_int_equal(pl, 0);

    n = proto_enc_open_ok(buf, sizeof buf, 5, 4242);
    p = frame_payload(buf, n, 5, PROTO_OPEN_OK, &pl);
    uint32_t pid;
    assert_true(proto_dec_open_ok(p, pl, &pid));
    assert_int_equal(pid, 4242);
    check_truncations(p, pl, dec_ok_v, &pid);

    uint8_t stream;
    n = proto_enc_stream(buf, sizeof buf, PROTO_EOF, 5, PROTO_STDIN);
    p = frame_payload(buf, n, 5, PROTO_EOF, &pl);
    assert_true(proto_dec_stream(p, pl, &stream));
    assert_int_equal(stream, 0);
    check_truncations(p, pl, dec_stream_v, &stream);
    uint8_t bad_stream = 3;
    assert_false(proto_dec_stream(&bad_stream, 1, &stream));

    n = proto_enc_credit(buf, sizeof buf, 5, PROTO_STDERR, 123456);
    p = frame_payload(buf, n, 5, PROTO_CREDIT, &pl);
    uint32_t bytes;
    assert_true(proto_dec_credit(p, pl, &stream, &bytes));
    assert_int_equal(stream, 2);
    assert_int_equal(bytes, 123456);
    check_truncations(p, pl, dec_credit_v, &stream);
    uint8_t badc[] = {3, 1, 0, 0, 0};
    assert_false(proto_dec_credit(badc, sizeof badc, &stream, &bytes));

    n = proto_enc_winsize(buf, sizeof buf, 5, 50, 132);
    p = frame_payload(buf, n, 5, PROTO_WINSIZE, &pl);
    uint16_t rows, cols;
    assert_true(proto_dec_winsize(p, pl, &rows, &cols));
    assert_int_equal(rows, 50);
    assert_int_equal(cols, 132);
    check_truncations(p, pl, dec_winsize_v, &rows);

    n = proto_enc_signal(buf, sizeof buf, 5, 2);
    p = frame_payload(buf, n, 5, PROTO_SIGNAL, &pl);
    uint32_t signo;
    assert_true(proto_dec_signal(p, pl, &signo));
    assert_int_equal(signo, 2);
    check_truncations(p, pl, dec_sig_v, &signo);

    proto_exit e = {.how = 1, .value = 9, .core_dumped = 1}, d;
    n = proto_enc_exit(buf, sizeof buf, 5, &e);
    p = frame_payload(buf, n, 5, PROTO_EXIT, &pl);
    assert_true(proto_dec_exit(p, pl, &d));
    assert_int_equal(d.how, 1);
    assert_int_equal(d.value, 9);
    assert_int_equal(d.core_dumped, 1);
    check_truncations(p, pl, dec_exit_v, &d);
    e = (proto_exit){.how = 0, .value = -1};
    n = proto_enc_exit(buf, sizeof buf, 5, &e);
    p = frame_payload(buf, n, 5, PROTO_EXIT, &pl);
    assert_true(proto_dec_exit(p, pl, &d));
    assert_int_equal(d.value, -1);
    uint8_t badexit[] = {2, 0, 0, 0, 0, 0};
    assert_false(proto_dec_exit(badexit, sizeof badexit, &d));
    uint8_t badcore[] = {0, 0, 0, 0, 0, 2};
    assert_false(proto_dec_exit(badcore, sizeof badcore, &d));

    /* encoders refuse too-small buffers */
    assert_int_equal(proto_enc_signal(buf, PROTO_HDR_SIZE + 3, 5, 2), 0);
    assert_int_equal(proto_enc_empty(buf, PROTO_HDR_SIZE - 1, PROTO_CLOSE, 5), 0);
}

static void test_data(void **state)
{
    (void)state;
    uint8_t f[PROTO_HDR_SIZE + 1 + 5];
    assert_int_equal(proto_enc_data_hdr(f, 3, PROTO_STDOUT, 5), PROTO_HDR_SIZE + 1);
    memcpy(f + PROTO_HDR_SIZE + 1, "hello", 5);
    size_t pl;
    const uint8_t *p = frame_payload(f, sizeof f, 3, PROTO_DATA, &pl);
    uint8_t stream;
    const uint8_t *d;
    size_t dn;
    assert_true(proto_dec_data(p, pl, &stream, &d, &dn));
    assert_int_equal(stream, 1);
    assert_int_equal(dn, 5);
    assert_memory_equal(d, "hello", 5);
    assert_true(proto_dec_data(p, 1, &stream, &d, &dn)); /* empty data is allowed */
    assert_int_equal(dn, 0);
    assert_false(proto_dec_data(p, 0, &stream, &d, &dn));
    uint8_t bad[] = {3, 'x'};
    assert_false(proto_dec_data(bad, sizeof bad, &stream, &d, &dn));
}

static proto_exec_open eo, ed; /* large: keep off the stack */

static void test_exec_open(void **state)
{
    (void)state;
    memset(&eo, 0, sizeof eo);
    eo.flags = PROTO_EXEC_PTY | PROTO_EXEC_NOPATH;
    eo.rows = 24;
    eo.cols = 80;
    eo.user = S("alice");
    eo.cwd = S("/tmp");
    eo.argc = 3;
    eo.argv[0] = S("sh");
    eo.argv[1] = S("-c");
    eo.argv[2] = S("echo hi");
    eo.envc = 1;
    eo.env[0] = S("TERM=xterm");
    size_t n = proto_enc_exec_open(buf, sizeof buf, 11, &eo), pl;
    const uint8_t *p = frame_payload(buf, n, 11, PROTO_OPEN, &pl);
    uint16_t svc;
    assert_true(proto_dec_open_service(p, pl, &svc));
    assert_int_equal(svc, PROTO_SVC_EXEC);
    assert_false(proto_dec_open_service(p, 1, &svc));
    assert_true(proto_dec_exec_open(p + 2, pl - 2, &ed));
    assert_int_equal(ed.flags, eo.flags);
    assert_int_equal(ed.rows, 24);
    assert_int_equal(ed.cols, 80);
    assert_memory_equal(ed.user.s, "alice", 5);
    assert_memory_equal(ed.cwd.s, "/tmp", 4);
    assert_int_equal(ed.argc, 3);
    assert_int_equal(ed.argv[2].n, 7);
    assert_memory_equal(ed.argv[2].s, "echo hi", 7);
    assert_int_equal(ed.envc, 1);
    assert_memory_equal(ed.env[0].s, "TERM=xterm", 10);
    check_truncations(p + 2, pl - 2, dec_exec_v, &ed);

    /* argc = 0 and empty strings are fine (login shell) */
    memset(&eo, 0, sizeof eo);
    eo.flags = PROTO_EXEC_LOGIN;
    n = proto_enc_exec_open(buf, sizeof buf, 1, &eo);
    p = frame_payload(buf, n, 1, PROTO_OPEN, &pl);
    assert_true(proto_dec_exec_open(p + 2, pl - 2, &ed));
    assert_int_equal(ed.argc, 0);

    /* the maximum: 1024 args and 1024 env entries */
    eo.argc = eo.envc = PROTO_MAX_ARGS;
    for (uint32_t i = 0; i < PROTO_MAX_ARGS; i++)
        eo.argv[i] = eo.env[i] = S("A=1");
    n = proto_enc_exec_open(buf, sizeof buf, 1, &eo);
    p = frame_payload(buf, n, 1, PROTO_OPEN, &pl);
    assert_true(proto_dec_exec_open(p + 2, pl - 2, &ed));
    assert_int_equal(ed.argc, PROTO_MAX_ARGS);
    assert_int_equal(ed.envc, PROTO_MAX_ARGS);
    /* one more is refused by the encoder, and by the decoder when forced onto the wire */
    eo.argc = PROTO_MAX_ARGS + 1;
    assert_int_equal(proto_enc_exec_open(buf, sizeof buf, 1, &eo), 0);
    eo.argc = 0;
    eo.envc = 0;
    n = proto_enc_exec_open(buf, sizeof buf, 1, &eo);
    /* argc field sits after service(2) flags(4) rows(2) cols(2) user(4) cwd(4) */
    uint8_t *argc_at = buf + PROTO_HDR_SIZE + 18;
    argc_at[0] = (PROTO_MAX_ARGS + 1) & 0xff;
    argc_at[1] = (PROTO_MAX_ARGS + 1) >> 8;
    assert_false(proto_dec_exec_open(buf + PROTO_HDR_SIZE + 2, n - PROTO_HDR_SIZE - 2, &ed));
    assert_int_equal(ed.argc, 0);
    argc_at[0] = 0xff;
    argc_at[1] = argc_at[2] = argc_at[3] = 0xff;
    assert_false(proto_dec_exec_open(buf + PROTO_HDR_SIZE + 2, n - PROTO_HDR_SIZE - 2, &ed));

    /* too big for the buffer */
    eo.argc = 2;
    static char big[PROTO_MAX_STR];
    memset(big, 'x', sizeof big);
    eo.argv[0] = eo.argv[1] = (proto_str){big, PROTO_MAX_STR};
    assert_int_equal(proto_enc_exec_open(buf, 4096, 1, &eo), 0);
    /* over-long string */
    eo.argc = 1;
    eo.argv[0] = (proto_str){big, PROTO_MAX_STR + 1};
    assert_int_equal(proto_enc_exec_open(buf, sizeof buf, 1, &eo), 0);
}

/* ---- frame reader ---- */

static size_t build_stream(uint8_t *out, size_t cap, size_t *nframes)
{
    size_t n = 0;
    *nframes = 0;
    proto_hello h = {1, 1, 3, 8192, 65536, S("agent")};
    n += proto_enc_hello(out + n, cap - n, &h);
    (*nframes)++;
    n += proto_enc_empty(out + n, cap - n, PROTO_CLOSE, 3);
    (*nframes)++;
    for (int i = 0; i < 20; i++) {
        uint32_t dn = (uint32_t)(i * 397 % 8000);
        n += proto_enc_data_hdr(out + n, (uint32_t)i, PROTO_STDOUT, dn);
        for (uint32_t k = 0; k < dn; k++)
            out[n + k] = (uint8_t)(k * 7 + (uint32_t)i);
        n += dn;
        (*nframes)++;
        n += proto_enc_credit(out + n, cap - n, (uint32_t)i, 1, (uint32_t)i);
        (*nframes)++;
    }
    return n;
}

/* Feeds the stream in chunks chosen by chunk(), re-encodes every frame and compares. */
static void feed_stream(size_t (*chunk)(size_t left))
{
    static uint8_t stream[200000], again[200000], rbuf[PROTO_HDR_SIZE + 8192];
    size_t nframes;
    size_t len = build_stream(stream, sizeof stream, &nframes);
    proto_reader r;
    proto_reader_init(&r, rbuf, 8192);
    size_t off = 0, out = 0, frames = 0;
    while (off < len) {
        size_t c = chunk(len - off);
        size_t pos = 0;
        while (pos < c) {
            size_t used;
            proto_hdr h;
            const uint8_t *pl;
            int st = proto_reader_feed(&r, stream + off + pos, c - pos, &used, &h, &pl);
            assert_int_not_equal(st, PROTO_BAD_FRAME);
            pos += used;
            if (st == PROTO_FRAME) {
                proto_hdr_encode(again + out, &h);
                memcpy(again + out + PROTO_HDR_SIZE, pl, h.len);
                out += PROTO_HDR_SIZE + h.len;
                frames++;
            } else {
                assert_int_equal(pos, c); /* NEED_MORE consumed everything offered */
            }
        }
        off += c;
    }
    assert_int_equal(frames, nframes);
    assert_int_equal(out, len);
    assert_memory_equal(again, stream, len);
}

static size_t chunk_all(size_t left) { return left; }
static size_t chunk_one(size_t left) { (void)left; return 1; }
static size_t chunk_random(size_t left)
{
    size_t c = (size_t)(rand() % 9000) + 1;
    return c < left ? c : left;
}

static void test_reader_whole(void **state) { (void)state; feed_stream(chunk_all); }
static void test_reader_bytewise(void **state) { (void)state; feed_stream(chunk_one); }
static void test_reader_random(void **state)
{
    (void)state;
    srand(12345);
    for (int i = 0; i < 20; i++)
        feed_stream(chunk_random);
}

static void test_reader_oversized(void **state)
{
    (void)state;
    static uint8_t rbuf[PROTO_HDR_SIZE + 4096];
    proto_reader r;
    uint8_t f[PROTO_HDR_SIZE];
    proto_hdr h = {.len = 4097, .chan = 1, .type = PROTO_DATA};
    proto_hdr_encode(f, &h);
    size_t used;
    proto_hdr g;
    const uint8_t *pl;
    /* whole header at once */
    proto_reader_init(&r, rbuf, 4096);
    assert_int_equal(proto_reader_feed(&r, f, sizeof f, &used, &g, &pl), PROTO_BAD_FRAME);
    /* header byte by byte */
    proto_reader_init(&r, rbuf, 4096);
    int st = PROTO_NEED_MORE;
    for (size_t i = 0; i < sizeof f; i++) {
        st = proto_reader_feed(&r, f + i, 1, &used, &g, &pl);
        assert_int_equal(used, 1);
        if (i + 1 < sizeof f)
            assert_int_equal(st, PROTO_NEED_MORE);
    }
    assert_int_equal(st, PROTO_BAD_FRAME);
    /* a huge length never makes the reader wait for gigabytes */
    h.len = 0xffffffffu;
    proto_hdr_encode(f, &h);
    proto_reader_init(&r, rbuf, 4096);
    assert_int_equal(proto_reader_feed(&r, f, sizeof f, &used, &g, &pl), PROTO_BAD_FRAME);
    /* exactly the limit is fine */
    static uint8_t full[PROTO_HDR_SIZE + 4096];
    h.len = 4096;
    proto_hdr_encode(full, &h);
    proto_reader_init(&r, rbuf, 4096);
    assert_int_equal(proto_reader_feed(&r, full, 100, &used, &g, &pl), PROTO_NEED_MORE);
    assert_int_equal(proto_reader_feed(&r, full + 100, sizeof full - 100, &used, &g, &pl),
                     PROTO_FRAME);
    assert_int_equal(g.len, 4096);
    /* the limit is capped at the hard maximum */
    proto_reader_init(&r, rbuf, 0xffffffffu);
    assert_int_equal(r.limit, PROTO_MAX_FRAME_HARD);
    /* truncated frame: stays NEED_MORE, never yields */
    proto_reader_init(&r, rbuf, 4096);
    assert_int_equal(proto_reader_feed(&r, full, sizeof full - 1, &used, &g, &pl),
                     PROTO_NEED_MORE);
    assert_int_equal(used, sizeof full - 1);
    /* zero-length feed */
    assert_int_equal(proto_reader_feed(&r, full, 0, &used, &g, &pl), PROTO_NEED_MORE);
    assert_int_equal(used, 0);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(proto_type_name(PROTO_HELLO), "HELLO");
    assert_string_equal(proto_type_name(PROTO_EXIT), "EXIT");
    assert_string_equal(proto_type_name(PROTO_CREDIT), "CREDIT");
    assert_string_equal(proto_type_name(0x99), "unknown");
    assert_string_equal(proto_type_name(0), "unknown");
}

/* The message table's scope and direction rules. */
static void test_message_rules(void **state)
{
    (void)state;
    assert_true(proto_msg_allowed(PROTO_HELLO, 0, true));
    assert_false(proto_msg_allowed(PROTO_HELLO, 5, false));   /* control type on a channel */
    assert_false(proto_msg_allowed(PROTO_DATA, 0, false));    /* channel type on chan 0 */
    assert_true(proto_msg_allowed(PROTO_DATA, 5, true));
    assert_true(proto_msg_allowed(PROTO_WINSIZE, 5, false));
    assert_false(proto_msg_allowed(PROTO_WINSIZE, 5, true));  /* only the host resizes */
    assert_true(proto_msg_allowed(PROTO_EXIT, 5, true));
    assert_false(proto_msg_allowed(PROTO_EXIT, 5, false));    /* only the guest reports exits */
    assert_false(proto_msg_allowed(0x99, 5, true));
    assert_null(proto_msg(0x99));
    assert_int_equal(proto_msg(PROTO_SIGNAL)->scope, PROTO_SCOPE_EXEC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_reader_writer_primitives),
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_negotiate),
        cmocka_unit_test(test_small_messages),
        cmocka_unit_test(test_data),
        cmocka_unit_test(test_exec_open),
        cmocka_unit_test(test_reader_whole),
        cmocka_unit_test(test_reader_bytewise),
        cmocka_unit_test(test_reader_random),
        cmocka_unit_test(test_reader_oversized),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_message_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
