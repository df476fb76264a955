/* Exec sessions (rb_client): the OPEN request, output written locally with credit returned
 * only after delivery, stdin sent only within the guest's credit, exit codes, and every
 * guest fault answered per PROTOCOL.md without harm to the host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_fakepeer.h"
#include "rb_client.h"

typedef struct fixture {
    rb_client *c;
    fakepeer g;
    int in[2], out[2], err[2];
} fixture;

static void pump(void *ctx)
{
    rb_client *c = ctx;
    struct pollfd fds[16];
    int timeout;
    size_t n = rb_client_pollfds(c, fds, 16, &timeout);
    if (poll(fds, n, 0) > 0)
        rb_client_step(c, fds, n);
}

static fixture *setup(uint32_t guest_window, uint32_t host_window)
{
    fixture *f = calloc(1, sizeof *f);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    char err[256];
    rb_conn_cfg cfg = {.features = 3, .window = host_window, .agent = "test"};
    f->c = rb_client_new(sv[0], &cfg, err, sizeof err);
    assert_non_null(f->c);
    fp_init(&f->g, sv[1], pump, f->c);
    proto_hello g = {.version_min = 1, .version_max = 1, .features = 3, .max_frame = 65536,
                     .window = guest_window, .agent = {"g", 1}};
    uint8_t fr[128];
    fp_send_frame(&f->g, fr, proto_enc_hello(fr, sizeof fr, &g));
    assert_int_equal(rb_client_handshake(f->c, 2000, err, sizeof err), 0);
    proto_hdr h;
    const uint8_t *pl;
    assert_true(fp_recv(&f->g, &h, &pl));
    assert_int_equal(h.type, PROTO_HELLO);
    assert_int_equal(pipe(f->in), 0);
    assert_int_equal(pipe(f->out), 0);
    assert_int_equal(pipe(f->err), 0);
    for (int i = 0; i < 2; i++) {
        fcntl(f->out[i], F_SETFL, O_NONBLOCK);
        fcntl(f->err[i], F_SETFL, O_NONBLOCK);
    }
    return f;
}

static void teardown(fixture *f)
{
    rb_client_free(f->c);
    close(f->g.fd);
    int *fds[] = {f->in, f->out, f->err};
    for (int i = 0; i < 3; i++) {
        if (fds[i][0] >= 0)
            close(fds[i][0]);
        if (fds[i][1] >= 0)
            close(fds[i][1]);
    }
    free(f);
}

static rb_exec *start(fixture *f, const char *prog, uint32_t *chan)
{
    const char *argv[] = {prog, "arg one", ""};
    const char *env[] = {"A=1"};
    rb_exec_req r = {.argv = argv, .argc = 3, .env = env, .envc = 1, .cwd = "/tmp",
                     .pty = true, .rows = 33, .cols = 111};
    char err[256];
    rb_exec *e = rb_exec_start(f->c, &r, f->in[0], f->out[1], f->err[1], err, sizeof err);
    assert_non_null(e);
    proto_hdr h;
    const uint8_t *pl;
    assert_true(fp_recv(&f->g, &h, &pl));
    assert_int_equal(h.type, PROTO_OPEN);
    uint16_t svc;
    assert_true(proto_dec_open_service(pl, h.len, &svc));
    assert_int_equal(svc, PROTO_SVC_EXEC);
    static proto_exec_open m;
    assert_true(proto_dec_exec_open(pl + 2, h.len - 2, &m));
    assert_int_equal(m.argc, 3);
    assert_memory_equal(m.argv[0].s, prog, strlen(prog));
    assert_int_equal(m.argv[1].n, 7);
    assert_int_equal(m.argv[2].n, 0);
    assert_int_equal(m.envc, 1);
    assert_int_equal(m.flags & PROTO_EXEC_PTY, PROTO_EXEC_PTY);
    assert_int_equal(m.rows, 33);
    assert_int_equal(m.cols, 111);
    *chan = h.chan;
    return e;
}

static void send_exit(fixture *f, uint32_t chan, uint8_t how, int32_t v)
{
    uint8_t fr[64];
    proto_exit x = {.how = how, .value = v};
    fp_send_frame(&f->g, fr, proto_enc_exit(fr, sizeof fr, chan, &x));
}

static void run_until_done(fixture *f, rb_exec *e)
{
    for (int i = 0; i < 5000 && !rb_exec_done(e); i++) {
        pump(f->c);
        usleep(200);
    }
    assert_true(rb_exec_done(e));
}

static uint32_t expect_cherr(fixture *f, uint32_t chan)
{
    proto_hdr h;
    const uint8_t *pl;
    assert_true(fp_recv_skip(&f->g, &h, &pl));
    assert_int_equal(h.type, PROTO_CH_ERROR);
    assert_int_equal(h.chan, chan);
    uint32_t code;
    proto_str t;
    assert_true(proto_dec_error(pl, h.len, &code, &t));
    return code;
}

static void test_session(void **state)
{
    (void)state;
    fixture *f = setup(65536, 0);
    uint32_t ch;
    rb_exec *e = start(f, "prog", &ch);
    fp_send_u32(&f->g, PROTO_OPEN_OK, ch, 99);
    fp_send_data(&f->g, ch, PROTO_STDOUT, "out", 3);
    fp_send_data(&f->g, ch, PROTO_STDERR, "err", 3);
    fp_send(&f->g, PROTO_EOF, ch, "\x01", 1);
    fp_send(&f->g, PROTO_EOF, ch, "\x02", 1);
    send_exit(f, ch, 0, 42);
    fp_send(&f->g, PROTO_CLOSE, ch, NULL, 0);
    run_until_done(f, e);
    const rb_exec_status *st = rb_exec_result(e);
    assert_int_equal(st->exit_code, 42);
    assert_int_equal(st->pid, 99);
    assert_int_equal(st->error, 0);
    char buf[16] = {0};
    assert_int_equal(read(f->out[0], buf, sizeof buf), 3);
    assert_string_equal(buf, "out");
    memset(buf, 0, sizeof buf);
    assert_int_equal(read(f->err[0], buf, sizeof buf), 3);
    assert_string_equal(buf, "err");
    /* Credit came back for what was delivered, and the CLOSE was answered. */
    uint32_t credited = 0;
    proto_hdr h;
    const uint8_t *pl;
    bool closed = false;
    while (!closed && fp_recv(&f->g, &h, &pl)) {
        uint8_t s;
        uint32_t k;
        if (h.type == PROTO_CREDIT && proto_dec_credit(pl, h.len, &s, &k))
            credited += k;
        closed = h.type == PROTO_CLOSE;
    }
    assert_true(closed);
    assert_int_equal(credited, 6);
    teardown(f);
}

static void test_exit_codes(void **state)
{
    (void)state;
    struct { uint8_t how; int32_t v; int want; } cases[] = {{0, 0, 0}, {0, 1, 1}, {1, 9, 137},
                                                            {1, 2, 130}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture *f = setup(65536, 0);
        uint32_t ch;
        rb_exec *e = start(f, "p", &ch);
        fp_send_u32(&f->g, PROTO_OPEN_OK, ch, 1);
        send_exit(f, ch, cases[i].how, cases[i].v);
        fp_send(&f->g, PROTO_CLOSE, ch, NULL, 0);
        run_until_done(f, e);
        assert_int_equal(rb_exec_result(e)->exit_code, cases[i].want);
        teardown(f);
    }
    fixture *f = setup(65536, 0);
    uint32_t ch;
    rb_exec *e = start(f, "btop", &ch);
    uint8_t fr[128];
    fp_send_frame(&f->g, fr, proto_enc_error(fr, sizeof fr, PROTO_CH_ERROR, ch, PROTO_ENOENT,
                                             "no such program in the VM: btop"));
    run_until_done(f, e);
    assert_int_equal(rb_exec_result(e)->exit_code, 127);
    assert_string_equal(rb_exec_result(e)->text, "no such program in the VM: btop");
    teardown(f);
}

/* stdin goes out only within the guest's credit, then EOF. */
static void test_stdin_credit(void **state)
{
    (void)state;
    fixture *f = setup(4096, 0);
    uint32_t ch;
    rb_exec *e = start(f, "cat", &ch);
    static uint8_t data[10000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 13);
    assert_int_equal(write(f->in[1], data, sizeof data), (ssize_t)sizeof data);
    close(f->in[1]);
    f->in[1] = -1;
    fp_send_u32(&f->g, PROTO_OPEN_OK, ch, 1);
    size_t got = 0;
    bool eof = false;
    static uint8_t rcv[10000];
    while (!eof) {
        proto_hdr h;
        const uint8_t *pl;
        size_t before = got;
        while (fp_recv(&f->g, &h, &pl)) {
            if (h.type == PROTO_EOF) {
                eof = true;
                break;
            }
            assert_int_equal(h.type, PROTO_DATA);
            uint8_t s;
            const uint8_t *d;
            size_t dn;
            assert_true(proto_dec_data(pl, h.len, &s, &d, &dn));
            assert_int_equal(s, PROTO_STDIN);
            memcpy(rcv + got, d, dn);
            got += dn;
            if (got - before == 4096)
                break;
        }
        if (eof)
            break;
        /* Nothing more may come before the credit is returned. */
        for (int i = 0; i < 50; i++)
            pump(f->c);
        uint8_t peek[16];
        assert_true(read(f->g.fd, peek, sizeof peek) < 0);
        assert_true(got - before <= 4096);
        uint8_t fr[32];
        fp_send_frame(&f->g, fr, proto_enc_credit(fr, sizeof fr, ch, PROTO_STDIN, (uint32_t)(got - before)));
    }
    assert_int_equal(got, sizeof data);
    assert_memory_equal(rcv, data, sizeof data);
    assert_false(rb_exec_done(e));
    teardown(f);
}

/* Output is credited only once written locally; DATA beyond that is a channel error. */
static void test_output_credit(void **state)
{
    (void)state;
    fixture *f = setup(65536, 8192);
    fcntl(f->out[1], F_SETPIPE_SZ, 4096);
    int cap = fcntl(f->out[1], F_GETPIPE_SZ);
    assert_true(cap == 4096);
    uint32_t ch;
    rb_exec *e = start(f, "yes", &ch);
    fp_send_u32(&f->g, PROTO_OPEN_OK, ch, 1);
    static uint8_t blk[8192];
    memset(blk, 'y', sizeof blk);
    fp_send_data(&f->g, ch, PROTO_STDOUT, blk, 8192);
    uint32_t credited = 0;
    proto_hdr h;
    const uint8_t *pl;
    while (credited < 4096 && fp_recv(&f->g, &h, &pl)) {
        uint8_t s;
        uint32_t k;
        if (h.type == PROTO_CREDIT && proto_dec_credit(pl, h.len, &s, &k))
            credited += k;
    }
    assert_int_equal(credited, 4096); /* only the pipe's worth */
    fp_send_data(&f->g, ch, PROTO_STDOUT, blk, 4096); /* exactly the returned credit: fine */
    for (int i = 0; i < 50; i++)
        pump(f->c);
    assert_false(rb_exec_done(e));
    fp_send_data(&f->g, ch, PROTO_STDOUT, blk, 1); /* one byte too many */
    assert_int_equal(expect_cherr(f, ch), PROTO_EPROTO);
    run_until_done(f, e);
    assert_int_equal(rb_exec_result(e)->exit_code, 255);
    assert_non_null(strstr(rb_exec_result(e)->text, "beyond the credit"));
    teardown(f);
}

static void test_guest_faults(void **state)
{
    (void)state;
    /* data on a channel that is not open: EBADF; CLOSE/CH_ERROR on one: never answered */
    fixture *f = setup(65536, 0);
    fp_send_data(&f->g, 77, PROTO_STDOUT, "x", 1);
    assert_int_equal(expect_cherr(f, 77), PROTO_EBADF);
    fp_send(&f->g, PROTO_CLOSE, 78, NULL, 0);
    fp_send_u32(&f->g, PROTO_CH_ERROR, 79, 5);
    uint8_t fr[64];
    fp_send_frame(&f->g, fr, proto_enc_u64(fr, sizeof fr, PROTO_PING, 1));
    proto_hdr h;
    const uint8_t *pl;
    assert_true(fp_recv(&f->g, &h, &pl));
    assert_int_equal(h.type, PROTO_PONG);
    /* OPEN from the guest: refused */
    fp_send(&f->g, PROTO_OPEN, 0x80000001u, "\x01\x00", 2);
    assert_int_equal(expect_cherr(f, 0x80000001u), PROTO_EOPNOTSUPP);

    /* credit overflow, stream-0 data, repeated EXIT, unknown type: EPROTO, session ends */
    const int ncases = 5;
    for (int i = 0; i < ncases; i++) {
        uint32_t ch;
        rb_exec *e = start(f, "p", &ch);
        fp_send_u32(&f->g, PROTO_OPEN_OK, ch, 1);
        switch (i) {
        case 0: fp_send_frame(&f->g, fr, proto_enc_credit(fr, sizeof fr, ch, 0, 0xffffffffu)); break;
        case 1: fp_send_data(&f->g, ch, PROTO_STDIN, "x", 1); break;
        case 2: send_exit(f, ch, 0, 0); send_exit(f, ch, 0, 0); break;
        case 3: fp_send(&f->g, 0x99, ch, NULL, 0); break;
        case 4: fp_send(&f->g, PROTO_EOF, ch, "\x01", 1); fp_send(&f->g, PROTO_EOF, ch, "\x01", 1); break;
        }
        assert_int_equal(expect_cherr(f, ch), PROTO_EPROTO);
        run_until_done(f, e);
        assert_int_equal(rb_exec_result(e)->error, PROTO_EPROTO);
    }
    assert_false(rb_client_conn(f->c)->dead);
    teardown(f);
}

static void test_winsize_signal_close(void **state)
{
    (void)state;
    fixture *f = setup(65536, 0);
    uint32_t ch;
    rb_exec *e = start(f, "p", &ch);
    fp_send_u32(&f->g, PROTO_OPEN_OK, ch, 1);
    for (int i = 0; i < 20; i++)
        pump(f->c);
    rb_exec_winsize(e, 50, 160);
    rb_exec_signal(e, 2);
    rb_exec_close(e);
    pump(f->c);
    proto_hdr h;
    const uint8_t *pl;
    uint16_t r, c;
    uint32_t sig;
    assert_true(fp_recv_skip(&f->g, &h, &pl));
    if (h.type == PROTO_EOF) /* stdin had nothing: EOF may come first */
        assert_true(fp_recv_skip(&f->g, &h, &pl));
    assert_int_equal(h.type, PROTO_WINSIZE);
    assert_true(proto_dec_winsize(pl, h.len, &r, &c));
    assert_int_equal(r, 50);
    assert_int_equal(c, 160);
    assert_true(fp_recv_skip(&f->g, &h, &pl));
    assert_int_equal(h.type, PROTO_SIGNAL);
    assert_true(proto_dec_signal(pl, h.len, &sig));
    assert_int_equal(sig, 2);
    assert_true(fp_recv_skip(&f->g, &h, &pl));
    assert_int_equal(h.type, PROTO_CLOSE);
    /* the guest's answer ends it */
    send_exit(f, ch, 1, 1);
    fp_send(&f->g, PROTO_CLOSE, ch, NULL, 0);
    run_until_done(f, e);
    assert_int_equal(rb_exec_result(e)->exit_code, 129);
    teardown(f);
}

static void test_connection_lost(void **state)
{
    (void)state;
    fixture *f = setup(65536, 0);
    uint32_t ch;
    rb_exec *e = start(f, "p", &ch);
    fp_send_u32(&f->g, PROTO_OPEN_OK, ch, 1);
    close(f->g.fd);
    f->g.fd = socket(AF_UNIX, SOCK_STREAM, 0); /* keep teardown simple */
    run_until_done(f, e);
    assert_int_equal(rb_exec_result(e)->exit_code, 255);
    assert_non_null(strstr(rb_exec_result(e)->text, "VM connection lost"));
    teardown(f);
}

/* A guest that floods PINGs and never reads the PONGs cannot make the host queue without
 * limit: the connection is given up with a reason. */
static void test_ping_flood(void **state)
{
    (void)state;
    fixture *f = setup(65536, 0);
    static uint8_t burst[20 * 4096];
    for (size_t i = 0; i < 4096; i++)
        proto_enc_u64(burst + 20 * i, 20, PROTO_PING, i);
    f->g.pump = NULL; /* the fake guest no longer reads anything */
    rb_conn *c = rb_client_conn(f->c);
    for (int round = 0; round < 400 && !c->dead; round++) {
        size_t off = 0;
        while (off < sizeof burst) {
            ssize_t w = write(f->g.fd, burst + off, sizeof burst - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        pump(f->c);
        pump(f->c);
    }
    assert_true(c->dead);
    assert_non_null(strstr(c->why, "does not read"));
    teardown(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_stdin_credit),
        cmocka_unit_test(test_output_credit),
        cmocka_unit_test(test_guest_faults),
        cmocka_unit_test(test_winsize_signal_close),
        cmocka_unit_test(test_connection_lost),
        cmocka_unit_test(test_ping_flood),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
