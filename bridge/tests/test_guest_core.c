/* revm-guestd core without processes: the dispatcher driven in memory through a fake exec
 * backend (what the fuzz target does, with exact expectations), the output queue, and port
 * discovery over a fake /sys/class/virtio-ports tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "revm-guestd/guestd.h"
#include "revm-guestd/port.h"

/* ---- fake backend: every program "starts" with no fds; records signals ---- */
static int spawned, last_sig, killed;
static uint16_t last_rows, last_cols;

static int fk_spawn(void *ctx, const proto_exec_open *req, guest_spawned *out, uint32_t *code,
                    char *text, size_t tcap)
{
    (void)ctx;
    if (req->argc && req->argv[0].n == 4 && !memcmp(req->argv[0].s, "btop", 4)) {
        *code = PROTO_ENOENT;
        snprintf(text, tcap, "no such program in the VM: btop");
        return -1;
    }
    out->pid = 5000 + spawned++;
    out->pty = req->flags & PROTO_EXEC_PTY;
    out->fd[0] = out->fd[1] = out->fd[2] = -1;
    return 0;
}
static void fk_signal(void *ctx, const guest_chan *c, int sig) { (void)ctx, (void)c; last_sig = sig; }
static void fk_kill(void *ctx, pid_t pid, int sig) { (void)ctx, (void)pid, (void)sig; killed++; }
static void fk_winsize(void *ctx, const guest_chan *c, uint16_t r, uint16_t cl)
{
    (void)ctx, (void)c;
    last_rows = r;
    last_cols = cl;
}
static const guest_backend fake = {fk_spawn, fk_signal, fk_kill, fk_winsize, NULL};

static guestd g;

/* Everything the daemon sent since the last call, as frames. */
static uint8_t sent[GUEST_OUTQ_MAX];
static size_t sent_len, sent_off;

static void take_output(void)
{
    sent_len = guest_outq_len(&g.out);
    memcpy(sent, g.out.buf + g.out.head, sent_len);
    guest_outq_clear(&g.out);
    sent_off = 0;
}

static bool next_frame(proto_hdr *h, const uint8_t **p)
{
    if (sent_off == sent_len)
        return false;
    assert_true(proto_hdr_decode(sent + sent_off, PROTO_MAX_FRAME_HARD, h));
    *p = sent + sent_off + PROTO_HDR_SIZE;
    sent_off += PROTO_HDR_SIZE + h->len;
    return true;
}

static void expect(uint32_t chan, uint8_t type)
{
    proto_hdr h;
    const uint8_t *p;
    if (!next_frame(&h, &p))
        fail_msg("expected %s on %u, got nothing", proto_type_name(type), chan);
    if (h.chan != chan || h.type != type)
        fail_msg("expected %s on %u, got %s on %u", proto_type_name(type), chan,
                 proto_type_name(h.type), h.chan);
}

static void expect_code(uint32_t chan, uint8_t type, uint32_t code)
{
    proto_hdr h;
    const uint8_t *p;
    assert_true(next_frame(&h, &p));
    assert_int_equal(h.chan, chan);
    assert_int_equal(h.type, type);
    uint32_t c;
    proto_str t;
    assert_true(proto_dec_error(p, h.len, &c, &t));
    assert_int_equal(c, code);
}

static void expect_nothing(void)
{
    proto_hdr h;
    const uint8_t *p;
    if (next_frame(&h, &p))
        fail_msg("unexpected %s on %u", proto_type_name(h.type), h.chan);
}

static void in(const uint8_t *f, size_t n)
{
    assert_int_equal(guest_input(&g, f, n), 0);
    take_output();
}
#define IN(enc_call)                                                                           \
    do {                                                                                       \
        uint8_t f_[PROTO_HDR_SIZE + 256];                                                      \
        in(f_, enc_call);                                                                      \
    } while (0)
#define F f_, sizeof f_

static void hello(void)
{
    proto_hello h = {1, 1, PROTO_F_EXEC | PROTO_F_PTY, 65536, 65536, {"t", 1}};
    IN(proto_enc_hello(F, &h));
    expect(0, PROTO_HELLO);
    expect_nothing();
}

static void open_exec(uint32_t chan, uint32_t flags, const char *prog)
{
    static proto_exec_open m;
    memset(&m, 0, sizeof m);
    m.flags = flags;
    m.argc = 1;
    m.argv[0] = (proto_str){prog, (uint32_t)strlen(prog)};
    static uint8_t f[4096];
    in(f, proto_enc_exec_open(f, sizeof f, chan, &m));
}

static int setup(void **state)
{
    (void)state;
    guest_log_quiet = true;
    spawned = last_sig = killed = 0;
    assert_int_equal(guest_init(&g, &fake, "core test", -1), 0);
    g.now = 1000;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    guest_fini(&g);
    return 0;
}

static void expect_exit(uint32_t chan, int how, int value, int core)
{
    proto_hdr h;
    const uint8_t *p;
    assert_true(next_frame(&h, &p));
    assert_int_equal(h.chan, chan);
    assert_int_equal(h.type, PROTO_EXIT);
    proto_exit e;
    assert_true(proto_dec_exit(p, h.len, &e));
    assert_int_equal(e.how, how);
    assert_int_equal(e.value, value);
    assert_int_equal(e.core_dumped, core);
}

static void test_exit_reporting(void **state)
{
    (void)state;
    hello();
    struct { int status, how, value, core; } cases[] = {
        {0, 0, 0, 0}, {1 << 8, 0, 1, 0}, {42 << 8, 0, 42, 0}, {255 << 8, 0, 255, 0},
        {SIGKILL, 1, 9, 0}, {SIGSEGV | 0x80, 1, 11, 1}, {SIGINT, 1, 2, 0},
    };
    for (uint32_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        open_exec(i + 1, 0, "prog");
        expect(i + 1, PROTO_OPEN_OK);
        /* no output fds: EXIT and CLOSE as soon as the child is reaped */
        guest_child_exited(&g, 5000 + (pid_t)i, cases[i].status);
        take_output();
        expect_exit(i + 1, cases[i].how, cases[i].value, cases[i].core);
        expect(i + 1, PROTO_CLOSE);
        expect_nothing();
        /* frames in flight before the host saw our CLOSE are ignored; its CLOSE frees the id */
        IN(proto_enc_credit(F, i + 1, 1, 5));
        expect_nothing();
        IN(proto_enc_empty(F, PROTO_CLOSE, i + 1));
        expect_nothing();
        IN(proto_enc_stream(F, PROTO_EOF, i + 1, 0));
        expect_code(i + 1, PROTO_CH_ERROR, PROTO_EBADF);
    }
    assert_int_equal(g.nopen, 0);
    assert_int_equal(guest_live_children(&g), 0);
}

static void test_signals_winsize(void **state)
{
    (void)state;
    hello();
    open_exec(3, PROTO_EXEC_PTY, "top");
    expect(3, PROTO_OPEN_OK);
    IN(proto_enc_signal(F, 3, 2));
    assert_int_equal(last_sig, 2);
    IN(proto_enc_signal(F, 3, 999)); /* not a signal: ignored, channel stays */
    assert_int_equal(last_sig, 2);
    expect_nothing();
    IN(proto_enc_winsize(F, 3, 40, 100));
    expect_nothing();
    /* the fake has no PTY fd, so the core does not call winsize; CLOSE kills */
    IN(proto_enc_empty(F, PROTO_CLOSE, 3));
    expect(3, PROTO_CLOSE);
    assert_int_equal(killed, 1); /* SIGHUP */
    g.now += GUEST_KILL_GRACE_MS;
    guest_tick(&g);
    assert_int_equal(killed, 2); /* SIGKILL */
    guest_child_exited(&g, 5000, SIGKILL);
    assert_int_equal(guest_live_children(&g), 0);
}

static void test_channel_limit(void **state)
{
    (void)state;
    hello();
    for (uint32_t i = 1; i <= PROTO_MAX_CHANNELS; i++) {
        open_exec(i, 0, "p");
        expect(i, PROTO_OPEN_OK);
    }
    open_exec(PROTO_MAX_CHANNELS + 1, 0, "p");
    expect_code(PROTO_MAX_CHANNELS + 1, PROTO_CH_ERROR, PROTO_EAGAIN);
    /* closing one frees an id but the process is still being killed: slots allow it */
    IN(proto_enc_empty(F, PROTO_CLOSE, 1));
    expect(1, PROTO_CLOSE);
    open_exec(PROTO_MAX_CHANNELS + 1, 0, "p");
    expect(PROTO_MAX_CHANNELS + 1, PROTO_OPEN_OK);
    /* a reset ends them all */
    hello();
    assert_int_equal(g.nopen, 0);
}

static void test_spawn_error_and_pty_feature(void **state)
{
    (void)state;
    proto_hello h = {1, 1, PROTO_F_EXEC, 65536, 65536, {"t", 1}}; /* no PTY feature */
    IN(proto_enc_hello(F, &h));
    expect(0, PROTO_HELLO);
    open_exec(1, 0, "btop");
    expect_code(1, PROTO_CH_ERROR, PROTO_ENOENT);
    open_exec(2, PROTO_EXEC_PTY, "top");
    expect_code(2, PROTO_CH_ERROR, PROTO_EOPNOTSUPP);
    expect_nothing();
}

static void test_stdin_credit(void **state)
{
    (void)state;
    hello();
    open_exec(1, 0, "p");
    expect(1, PROTO_OPEN_OK);
    /* fd -1 for stdin: data is swallowed and credited back at once */
    uint8_t f[PROTO_HDR_SIZE + 1 + 10];
    proto_enc_data_hdr(f, 1, 0, 10);
    memset(f + PROTO_HDR_SIZE + 1, 'a', 10);
    in(f, sizeof f);
    expect(1, PROTO_CREDIT);
    expect_nothing();
}

static void test_outq(void **state)
{
    (void)state;
    guest_outq q;
    guest_outq_init(&q, 100);
    assert_true(guest_outq_put(&q, "0123456789", 10));
    assert_null(guest_outq_reserve(&q, 91));
    uint8_t *p = guest_outq_reserve(&q, 90);
    assert_non_null(p);
    guest_outq_commit(&q, 0);
    guest_outq_consume(&q, 4);
    assert_int_equal(guest_outq_len(&q), 6);
    assert_memory_equal(q.buf + q.head, "456789", 6);
    assert_non_null(guest_outq_reserve(&q, 94)); /* compacts */
    assert_memory_equal(q.buf + q.head, "456789", 6);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    assert_int_equal(guest_outq_flush(&q, pfd[1]), 0);
    assert_int_equal(guest_outq_len(&q), 0);
    char b[8];
    assert_int_equal(read(pfd[0], b, sizeof b), 6);
    close(pfd[0]);
    close(pfd[1]);
    guest_outq_trim(&q);
    guest_outq_free(&q);
}

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static void test_port_find(void **state)
{
    (void)state;
    char dir[] = "/tmp/revm-ports-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[256];
    snprintf(p, sizeof p, "%s/vport1p1", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/vport1p1/name", dir);
    write_file(p, "org.redox.probe.0\n");
    snprintf(p, sizeof p, "%s/vport1p2", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/vport1p2/name", dir);
    write_file(p, "org.redox.bridge.0\n");
    char out[256];
    assert_int_equal(guest_port_find(dir, "/dev", GUEST_PORT_NAME, out, sizeof out), 0);
    assert_string_equal(out, "/dev/vport1p2");
    assert_int_equal(guest_port_find(dir, "/dev", "org.redox.probe.0", out, sizeof out), 0);
    assert_string_equal(out, "/dev/vport1p1");
    assert_int_equal(guest_port_find(dir, "/dev", "org.redox.bridge.1", out, sizeof out), -1);
    assert_int_equal(guest_port_find("/nonexistent", "/dev", GUEST_PORT_NAME, out, sizeof out),
                     -1);
    snprintf(p, sizeof p, "%s/vport1p1/name", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/vport1p2/name", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/vport1p1", dir);
    rmdir(p);
    snprintf(p, sizeof p, "%s/vport1p2", dir);
    rmdir(p);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exit_reporting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signals_winsize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spawn_error_and_pty_feature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_credit, setup, teardown),
        cmocka_unit_test(test_outq),
        cmocka_unit_test(test_port_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
