/* The multiplexer: client HELLO answered locally from the VM's parameters, channel ids
 * renumbered, end-to-end credit (including a client whose window is smaller than the mux's),
 * cleanup when a client disconnects, VM faults confined to their channel, and a clear end
 * for every client when the VM connection drops. */
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
#include "rb_mux.h"
#include "rb_unix.h"

#define MAX_CL 4

typedef struct fixture {
    rb_mux *m;
    fakepeer vm;
    char dir[64], path[128];
    rb_client *cl[MAX_CL];
    fakepeer raw; /* a hand-driven client */
    bool raw_used;
    bool ready_seen;
    char down_why[256];
    int devnull;
} fixture;

static void on_ready(void *ctx, const rb_params *p)
{
    fixture *f = ctx;
    (void)p;
    f->ready_seen = true;
}
static void on_down(void *ctx, const char *why)
{
    fixture *f = ctx;
    snprintf(f->down_why, sizeof f->down_why, "%s", why);
}

static void pump(void *ctx)
{
    fixture *f = ctx;
    struct pollfd fds[64];
    int timeout;
    size_t n = rb_mux_pollfds(f->m, fds, 64, &timeout);
    if (n && poll(fds, n, 0) >= 0)
        rb_mux_step(f->m, fds, n);
    for (int i = 0; i < MAX_CL; i++) {
        if (!f->cl[i])
            continue;
        n = rb_client_pollfds(f->cl[i], fds, 64, &timeout);
        if (poll(fds, n, 0) > 0)
            rb_client_step(f->cl[i], fds, n);
    }
}

static fixture *setup(uint32_t mux_window)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/rbmux.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/m.sock", f->dir);
    char err[256];
    int lfd = rb_unix_listen(f->path, err, sizeof err);
    assert_true(lfd >= 0);
    int sv[2];
    assert_int_equal(rb_socketpair(sv), 0);
    rb_mux_opts o = {.window = mux_window, .stop_fd = -1, .on_ready = on_ready,
                     .on_down = on_down, .ctx = f};
    f->m = rb_mux_new(sv[0], lfd, &o, err, sizeof err);
    assert_non_null(f->m);
    fp_init(&f->vm, sv[1], pump, f);
    assert_true(fp_guest_hello(&f->vm, 65536, 65536));
    for (int i = 0; i < 100 && !f->ready_seen; i++)
        pump(f);
    assert_true(f->ready_seen);
    assert_int_equal(rb_mux_state(f->m), RB_MUX_READY);
    f->devnull = open("/dev/null", O_WRONLY);
    return f;
}

static void teardown(fixture *f)
{
    for (int i = 0; i < MAX_CL; i++)
        rb_client_free(f->cl[i]);
    if (f->raw_used)
        close(f->raw.fd);
    rb_mux_free(f->m);
    close(f->vm.fd);
    close(f->devnull);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
}

/* A library client through the mux; blocks in its handshake, so pump the mux meanwhile by
 * letting the HELLO sit in the socket: connect, step the mux, then finish. */
static rb_client *connect_client(fixture *f, int i)
{
    char err[256];
    int fd = rb_unix_connect(f->path, err, sizeof err);
    assert_true(fd >= 0);
    f->cl[i] = rb_client_new(fd, NULL, err, sizeof err);
    assert_non_null(f->cl[i]);
    rb_conn *c = rb_client_conn(f->cl[i]);
    rb_conn_hello(c);
    rb_conn_flush(c);
    for (int k = 0; k < 200 && !c->ready; k++) {
        pump(f);
        rb_conn_on_readable(c);
        usleep(500);
    }
    assert_true(c->ready);
    return f->cl[i];
}

static rb_exec *open_exec(fixture *f, int i, int out_fd, uint32_t *vm_chan)
{
    const char *argv[] = {"prog"};
    rb_exec_req r = {.argv = argv, .argc = 1};
    char err[256];
    rb_exec *e = rb_exec_start(f->cl[i], &r, -1, out_fd, f->devnull, err, sizeof err);
    assert_non_null(e);
    proto_hdr h;
    const uint8_t *pl;
    assert_true(fp_recv_skip(&f->vm, &h, &pl));
    assert_int_equal(h.type, PROTO_OPEN);
    *vm_chan = h.chan;
    return e;
}

/* Skips background frames (CREDIT, EOF, answered CLOSEs of earlier channels) up to type. */
static void expect_type(fakepeer *p, uint8_t type, proto_hdr *h, const uint8_t **pl)
{
    for (;;) {
        assert_true(fp_recv(p, h, pl));
        if (h->type == type)
            return;
    }
}

static void vm_finish(fixture *f, uint32_t chan, int32_t code)
{
    uint8_t fr[64];
    proto_exit x = {.value = code};
    fp_send_frame(&f->vm, fr, proto_enc_exit(fr, sizeof fr, chan, &x));
    fp_send(&f->vm, PROTO_CLOSE, chan, NULL, 0);
}

static void run_until(fixture *f, rb_exec *e)
{
    for (int i = 0; i < 4000 && !rb_exec_done(e); i++) {
        pump(f);
        usleep(250);
    }
    assert_true(rb_exec_done(e));
}

static void test_two_clients(void **state)
{
    (void)state;
    fixture *f = setup(0);
    connect_client(f, 0);
    connect_client(f, 1);
    assert_int_equal(rb_mux_clients(f->m), 2);
    int p0[2], p1[2];
    assert_int_equal(pipe(p0), 0);
    assert_int_equal(pipe(p1), 0);
    uint32_t a, b;
    rb_exec *e0 = open_exec(f, 0, p0[1], &a);
    rb_exec *e1 = open_exec(f, 1, p1[1], &b);
    assert_true(a != b); /* both clients used their id 1: renumbered */
    fp_send_u32(&f->vm, PROTO_OPEN_OK, a, 10);
    fp_send_u32(&f->vm, PROTO_OPEN_OK, b, 11);
    fp_send_data(&f->vm, b, PROTO_STDOUT, "BBB", 3);
    fp_send_data(&f->vm, a, PROTO_STDOUT, "A", 1);
    vm_finish(f, a, 3);
    vm_finish(f, b, 4);
    run_until(f, e0);
    run_until(f, e1);
    assert_int_equal(rb_exec_result(e0)->exit_code, 3);
    assert_int_equal(rb_exec_result(e1)->exit_code, 4);
    assert_int_equal(rb_exec_result(e0)->pid, 10);
    char buf[8] = {0};
    assert_int_equal(read(p0[0], buf, sizeof buf), 1);
    assert_string_equal(buf, "A");
    assert_int_equal(read(p1[0], buf, sizeof buf), 3);
    assert_memory_equal(buf, "BBB", 3);
    /* the VM got its CLOSEs answered, and the channels are gone */
    int closes = 0;
    proto_hdr h;
    const uint8_t *pl;
    while (closes < 2 && fp_recv(&f->vm, &h, &pl))
        closes += h.type == PROTO_CLOSE;
    assert_int_equal(closes, 2);
    for (int i = 0; i < 100 && rb_mux_channels(f->m); i++)
        pump(f);
    assert_int_equal(rb_mux_channels(f->m), 0);
    close(p0[0]), close(p0[1]), close(p1[0]), close(p1[1]);
    teardown(f);
}

/* A raw client announcing a 4096-byte window while the mux grants the VM 65536: the mux
 * holds the difference and still delivers everything in order, within the client's credit. */
static void test_small_client_window(void **state)
{
    (void)state;
    fixture *f = setup(65536);
    char err[256];
    int fd = rb_unix_connect(f->path, err, sizeof err);
    assert_true(fd >= 0);
    fp_init(&f->raw, fd, pump, f);
    f->raw_used = true;
    proto_hello ch = {.version_min = 1, .version_max = 1, .features = 3, .max_frame = 1u << 20,
                      .window = 4096, .agent = {"raw", 3}};
    uint8_t fr[256];
    fp_send_frame(&f->raw, fr, proto_enc_hello(fr, sizeof fr, &ch));
    proto_hdr h;
    const uint8_t *pl;
    assert_true(fp_recv(&f->raw, &h, &pl));
    assert_int_equal(h.type, PROTO_HELLO);
    proto_hello ans;
    assert_true(proto_dec_hello(pl, h.len, &ans));
    assert_int_equal(ans.window, 65536);     /* the VM's window: stdin credit passes through */
    assert_int_equal(ans.max_frame, 65536);  /* the VM link's negotiated frame size */
    assert_memory_equal(ans.agent.s, "fake guest", 10);
    /* open */
    static const uint8_t open_req[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                       1, 0, 0, 0, 1, 0, 0, 0, 'x', 0, 0, 0, 0};
    fp_send(&f->raw, PROTO_OPEN, 7, open_req, sizeof open_req);
    assert_true(fp_recv_skip(&f->vm, &h, &pl));
    assert_int_equal(h.type, PROTO_OPEN);
    uint32_t vc = h.chan;
    fp_send_u32(&f->vm, PROTO_OPEN_OK, vc, 5);
    static uint8_t data[20000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 31);
    fp_send_data(&f->vm, vc, PROTO_STDOUT, data, sizeof data);
    vm_finish(f, vc, 0);
    size_t got = 0, outstanding = 0;
    static uint8_t rcv[20000];
    bool closed = false, exited = false;
    while (!closed) {
        assert_true(fp_recv(&f->raw, &h, &pl));
        assert_int_equal(h.chan, 7);
        if (h.type == PROTO_DATA) {
            assert_false(exited); /* EXIT never overtakes held output */
            uint8_t s;
            const uint8_t *d;
            size_t dn;
            assert_true(proto_dec_data(pl, h.len, &s, &d, &dn));
            memcpy(rcv + got, d, dn);
            got += dn;
            outstanding += dn;
            assert_true(outstanding <= 4096); /* never beyond the client's credit */
            if (outstanding == 4096 || got == sizeof data) {
                fp_send_frame(&f->raw, fr, proto_enc_credit(fr, sizeof fr, 7, PROTO_STDOUT,
                                                            (uint32_t)outstanding));
                outstanding = 0;
            }
        } else if (h.type == PROTO_EXIT) {
            exited = true;
        } else if (h.type == PROTO_CLOSE) {
            closed = true;
        }
    }
    assert_int_equal(got, sizeof data);
    assert_memory_equal(rcv, data, sizeof data);
    fp_send(&f->raw, PROTO_CLOSE, 7, NULL, 0);
    for (int i = 0; i < 100 && rb_mux_channels(f->m); i++)
        pump(f);
    assert_int_equal(rb_mux_channels(f->m), 0);
    /* client faults: DATA on an output stream -> EPROTO to the client, CLOSE to the VM */
    fp_send(&f->raw, PROTO_OPEN, 8, open_req, sizeof open_req);
    expect_type(&f->vm, PROTO_OPEN, &h, &pl);
    vc = h.chan;
    fp_send_data(&f->raw, 8, PROTO_STDOUT, "x", 1);
    expect_type(&f->raw, PROTO_CH_ERROR, &h, &pl);
    expect_type(&f->vm, PROTO_CLOSE, &h, &pl);
    assert_int_equal(h.chan, vc);
    teardown(f);
}

static void test_client_disconnect(void **state)
{
    (void)state;
    fixture *f = setup(0);
    connect_client(f, 0);
    uint32_t vc;
    open_exec(f, 0, f->devnull, &vc);
    fp_send_u32(&f->vm, PROTO_OPEN_OK, vc, 1);
    for (int i = 0; i < 20; i++)
        pump(f);
    rb_client_free(f->cl[0]);
    f->cl[0] = NULL;
    proto_hdr h;
    const uint8_t *pl;
    expect_type(&f->vm, PROTO_CLOSE, &h, &pl);
    assert_int_equal(h.chan, vc);
    fp_send_data(&f->vm, vc, PROTO_STDOUT, "late", 4); /* in flight: dropped quietly */
    fp_send(&f->vm, PROTO_CLOSE, vc, NULL, 0);
    for (int i = 0; i < 100 && (rb_mux_channels(f->m) || rb_mux_clients(f->m)); i++)
        pump(f);
    assert_int_equal(rb_mux_channels(f->m), 0);
    assert_int_equal(rb_mux_clients(f->m), 0);
    teardown(f);
}

static void test_vm_fault_confined(void **state)
{
    (void)state;
    fixture *f = setup(0);
    connect_client(f, 0);
    connect_client(f, 1);
    uint32_t a, b;
    rb_exec *e0 = open_exec(f, 0, f->devnull, &a);
    rb_exec *e1 = open_exec(f, 1, f->devnull, &b);
    fp_send_u32(&f->vm, PROTO_OPEN_OK, a, 1);
    fp_send_u32(&f->vm, PROTO_OPEN_OK, b, 2);
    uint8_t fr[64];
    fp_send_frame(&f->vm, fr, proto_enc_credit(fr, sizeof fr, a, 0, 0xffffffffu));
    proto_hdr h;
    const uint8_t *pl;
    assert_true(fp_recv_skip(&f->vm, &h, &pl));
    assert_int_equal(h.type, PROTO_CH_ERROR);
    assert_int_equal(h.chan, a);
    run_until(f, e0);
    assert_int_equal(rb_exec_result(e0)->error, PROTO_EPROTO);
    /* the other channel and the connection are unaffected */
    fp_send(&f->vm, PROTO_DATA, 999, "\x01x", 2);
    assert_true(fp_recv_skip(&f->vm, &h, &pl));
    assert_int_equal(h.type, PROTO_CH_ERROR); /* EBADF for a channel that is not open */
    vm_finish(f, b, 0);
    run_until(f, e1);
    assert_int_equal(rb_exec_result(e1)->exit_code, 0);
    assert_int_equal(rb_mux_state(f->m), RB_MUX_READY);
    teardown(f);
}

static void test_vm_down(void **state)
{
    (void)state;
    fixture *f = setup(0);
    connect_client(f, 0);
    uint32_t vc;
    rb_exec *e = open_exec(f, 0, f->devnull, &vc);
    fp_send_u32(&f->vm, PROTO_OPEN_OK, vc, 1);
    /* a header beyond the limit: the stream cannot be trusted */
    uint8_t hdr[PROTO_HDR_SIZE];
    proto_hdr hh = {.len = 0x7fffffff, .chan = vc, .type = PROTO_DATA};
    proto_hdr_encode(hdr, &hh);
    fp_send_raw(&f->vm, hdr, sizeof hdr);
    run_until(f, e);
    assert_int_equal(rb_mux_state(f->m), RB_MUX_DOWN);
    assert_non_null(strstr(f->down_why, "above the limit"));
    assert_non_null(strstr(rb_exec_result(e)->text, "VM connection lost"));
    teardown(f);
}

/* The first HELLO is lost (virtio-serial before the guest opened its port): the mux repeats
 * it; a guest that saw both answers twice, and the second answer is not taken for a reset. */
static void test_hello_retry(void **state)
{
    (void)state;
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/rbmux.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/m.sock", f->dir);
    char err[256];
    int lfd = rb_unix_listen(f->path, err, sizeof err);
    int sv[2];
    assert_int_equal(rb_socketpair(sv), 0);
    rb_mux_opts o = {.stop_fd = -1, .on_ready = on_ready, .on_down = on_down, .ctx = f};
    f->m = rb_mux_new(sv[0], lfd, &o, err, sizeof err);
    fp_init(&f->vm, sv[1], pump, f);
    f->devnull = open("/dev/null", O_WRONLY);
    proto_hdr h;
    const uint8_t *pl;
    assert_true(fp_recv(&f->vm, &h, &pl)); /* lost */
    assert_int_equal(h.type, PROTO_HELLO);
    assert_true(fp_guest_hello(&f->vm, 65536, 65536)); /* the repeat, about a second later */
    for (int i = 0; i < 100 && !f->ready_seen; i++)
        pump(f);
    assert_true(f->ready_seen);
    connect_client(f, 0);
    uint32_t vc;
    rb_exec *e = open_exec(f, 0, f->devnull, &vc);
    /* the guest also answers the first HELLO late: expected, not a session reset */
    proto_hello g = {.version_min = 1, .version_max = 1, .features = 3, .max_frame = 65536,
                     .window = 65536, .agent = {"fake guest", 10}};
    uint8_t fr[256];
    fp_send_frame(&f->vm, fr, proto_enc_hello(fr, sizeof fr, &g));
    fp_send_u32(&f->vm, PROTO_OPEN_OK, vc, 1);
    vm_finish(f, vc, 7);
    run_until(f, e);
    assert_int_equal(rb_exec_result(e)->exit_code, 7);
    teardown(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_clients),
        cmocka_unit_test(test_small_client_window),
        cmocka_unit_test(test_client_disconnect),
        cmocka_unit_test(test_vm_fault_confined),
        cmocka_unit_test(test_vm_down),
        cmocka_unit_test(test_hello_retry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
