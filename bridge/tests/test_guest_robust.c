/* revm-guestd under hostile or broken hosts (sanitizer build, --listen on a unix socket):
 * every fault of PROTOCOL.md's Errors table gets its reply, oversized frames close only the
 * connection, and the daemon keeps serving new connections, HELLO resets and reconnects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_guest_client.h"

#include <termios.h>

static pid_t daemon_pid;
static char dir[64], sock[100];
static tc_conn *C;
static uint32_t next_chan = 1;

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/revm-guestd-test-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(sock, sizeof sock, "%.60s/bridge.sock", dir);
    daemon_pid = tc_spawn_listen(sock);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int st = tc_stop(daemon_pid);
    unlink(sock);
    rmdir(dir);
    return st == 0 ? 0 : -1; /* SIGTERM ends it cleanly */
}

static int setup(void **state)
{
    (void)state;
    C = tc_connect(sock);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tc_free(C);
    C = NULL;
    assert_true(tc_alive(daemon_pid));
    return 0;
}

static void expect_frame(uint32_t chan, uint8_t type)
{
    tc_recv(C);
    if (C->h.chan != chan || C->h.type != type)
        fail_msg("expected %s on %u, got %s on %u", proto_type_name(type), chan,
                 proto_type_name(C->h.type), C->h.chan);
}

static void expect_error(uint8_t type, uint32_t chan, uint32_t code)
{
    do
        tc_recv(C);
    while (C->h.type == PROTO_CREDIT || C->h.type == PROTO_OPEN_OK); /* in-flight noise */
    if (C->h.chan != chan || C->h.type != type)
        fail_msg("expected %s on %u, got %s on %u", proto_type_name(type), chan,
                 proto_type_name(C->h.type), C->h.chan);
    uint32_t got;
    proto_str t;
    assert_true(proto_dec_error(C->pl, C->h.len, &got, &t));
    if (got != code)
        fail_msg("expected code %u, got %u (%.*s)", code, got, (int)t.n, t.s);
}

/* The connection still works: PING gets its PONG. */
static void expect_alive(void)
{
    TC_SEND(C, proto_enc_u64(TCF, PROTO_PING, 0x1234567890abcdefull));
    expect_frame(0, PROTO_PONG);
    uint64_t v;
    assert_true(proto_dec_u64(C->pl, C->h.len, &v));
    assert_true(v == 0x1234567890abcdefull);
}

static void expect_echo(void)
{
    tc_result r;
    tc_exec e = {.argv = {"echo", "still here"}};
    tc_run(C, next_chan++, &e, NULL, &r);
    assert_string_equal(r.out, "still here\n");
    assert_int_equal(r.exit.value, 0);
    tc_result_free(&r);
}

static void raw(const void *p, size_t n)
{
    tc_write(C, p, n);
}

static void test_handshake_errors(void **state)
{
    (void)state;
    /* anything before HELLO */
    TC_SEND(C, proto_enc_u64(TCF, PROTO_PING, 1));
    expect_error(PROTO_ERROR, 0, PROTO_EPROTO);
    tc_exec e = {.argv = {"true"}};
    tc_open(C, 5, &e);
    expect_error(PROTO_ERROR, 0, PROTO_EPROTO);
    /* bad magic */
    uint8_t f[256];
    proto_hello h = {1, 1, 3, 65536, 65536, {"x", 1}};
    size_t n = proto_enc_hello(f, sizeof f, &h);
    f[PROTO_HDR_SIZE] ^= 0xff;
    raw(f, n);
    expect_error(PROTO_ERROR, 0, PROTO_EINVAL);
    /* trailing byte */
    n = proto_enc_hello(f, sizeof f, &h);
    f[0]++;
    f[n] = 0;
    raw(f, n + 1);
    expect_error(PROTO_ERROR, 0, PROTO_EINVAL);
    /* no common version */
    tc_hello_ex(C, 2, 9);
    expect_error(PROTO_ERROR, 0, PROTO_EPROTONOSUPPORT);
    /* and then a good one */
    tc_hello(C);
    expect_alive();
    expect_echo();
}

static void test_control_errors(void **state)
{
    (void)state;
    tc_hello(C);
    TC_SEND(C, proto_enc_empty(TCF, 0x7f, 0));
    expect_error(PROTO_ERROR, 0, PROTO_ENOSYS);
    uint8_t shortping[PROTO_HDR_SIZE + 3];
    proto_hdr hh = {.len = 3, .chan = 0, .type = PROTO_PING};
    proto_hdr_encode(shortping, &hh);
    memset(shortping + PROTO_HDR_SIZE, 0, 3);
    raw(shortping, sizeof shortping);
    expect_error(PROTO_ERROR, 0, PROTO_EINVAL);
    /* OPEN_OK, EXIT are not control messages */
    TC_SEND(C, proto_enc_open_ok(TCF, 0, 1));
    expect_error(PROTO_ERROR, 0, PROTO_ENOSYS);
    /* a PONG nobody asked for and an ERROR from the host are accepted silently */
    TC_SEND(C, proto_enc_u64(TCF, PROTO_PONG, 9));
    TC_SEND(C, proto_enc_error(TCF, PROTO_ERROR, 0, PROTO_EIO, "host trouble"));
    expect_alive();
}

static void test_channel_errors(void **state)
{
    (void)state;
    tc_hello(C);
    /* not open */
    TC_SEND(C, proto_enc_stream(TCF, PROTO_EOF, 77, 0));
    expect_error(PROTO_CH_ERROR, 77, PROTO_EBADF);
    tc_data(C, 78, 0, "x", 1);
    expect_error(PROTO_CH_ERROR, 78, PROTO_EBADF);
    /* never answered: CLOSE and CH_ERROR on channels that are not open */
    TC_SEND(C, proto_enc_empty(TCF, PROTO_CLOSE, 79));
    TC_SEND(C, proto_enc_error(TCF, PROTO_CH_ERROR, 80, PROTO_EIO, "x"));
    expect_alive();
    /* guest-range id, unknown service, malformed OPEN, no program */
    tc_exec e = {.argv = {"true"}};
    tc_open(C, 0x80000001u, &e);
    expect_error(PROTO_CH_ERROR, 0x80000001u, PROTO_EPROTO);
    uint8_t f[PROTO_HDR_SIZE + 8];
    proto_hdr h = {.len = 2, .chan = 81, .type = PROTO_OPEN};
    proto_hdr_encode(f, &h);
    f[PROTO_HDR_SIZE] = PROTO_SVC_PACKAGES; /* reserved, offered by no guest */
    f[PROTO_HDR_SIZE + 1] = 0;
    raw(f, PROTO_HDR_SIZE + 2);
    expect_error(PROTO_CH_ERROR, 81, PROTO_EOPNOTSUPP);
    h.len = 5;
    proto_hdr_encode(f, &h);
    f[PROTO_HDR_SIZE] = PROTO_SVC_EXEC;
    raw(f, PROTO_HDR_SIZE + 5);
    expect_error(PROTO_CH_ERROR, 81, PROTO_EPROTO);
    tc_exec none = {0};
    tc_open(C, 82, &none);
    expect_error(PROTO_CH_ERROR, 82, PROTO_EINVAL);
    tc_exec badenv = {.env = {"NOEQUALS"}, .argv = {"true"}};
    tc_open(C, 83, &badenv);
    expect_error(PROTO_CH_ERROR, 83, PROTO_EINVAL);
    expect_alive();
}

/* Opens `sleep 100` on ch and returns its pid. */
static uint32_t open_sleeper(uint32_t ch)
{
    tc_exec e = {.argv = {"sleep", "100"}};
    tc_open(C, ch, &e);
    expect_frame(ch, PROTO_OPEN_OK);
    uint32_t pid;
    assert_true(proto_dec_open_ok(C->pl, C->h.len, &pid));
    return pid;
}

static void expect_gone(uint32_t pid)
{
    for (int i = 0; i < 400 && kill((pid_t)pid, 0) == 0; i++)
        usleep(10000);
    assert_int_not_equal(kill((pid_t)pid, 0), 0);
}

static void test_flow_violations(void **state)
{
    (void)state;
    tc_hello(C);
    /* duplicate OPEN: refused, the first one is untouched */
    uint32_t ch = next_chan++;
    uint32_t pid = open_sleeper(ch);
    tc_exec e = {.argv = {"true"}};
    tc_open(C, ch, &e);
    expect_error(PROTO_CH_ERROR, ch, PROTO_EBUSY);
    assert_int_equal(kill((pid_t)pid, 0), 0);
    /* credit above the window (we granted TC_WINDOW, it is all still available) */
    TC_SEND(C, proto_enc_credit(TCF, ch, 1, 1));
    expect_error(PROTO_CH_ERROR, ch, PROTO_EPROTO);
    expect_gone(pid);

    /* DATA beyond the credit the guest granted: sleep never reads stdin */
    ch = next_chan++;
    pid = open_sleeper(ch);
    static uint8_t big[200 * 1024];
    tc_data(C, ch, 0, big, sizeof big);
    tc_data(C, ch, 0, big, sizeof big);
    expect_error(PROTO_CH_ERROR, ch, PROTO_EPROTO);
    expect_gone(pid);

    /* wrong direction, double EOF, unknown type */
    ch = next_chan++;
    pid = open_sleeper(ch);
    tc_data(C, ch, 1, "x", 1);
    expect_error(PROTO_CH_ERROR, ch, PROTO_EPROTO);
    ch = next_chan++;
    open_sleeper(ch);
    TC_SEND(C, proto_enc_stream(TCF, PROTO_EOF, ch, 0));
    TC_SEND(C, proto_enc_stream(TCF, PROTO_EOF, ch, 0));
    expect_error(PROTO_CH_ERROR, ch, PROTO_EPROTO);
    ch = next_chan++;
    open_sleeper(ch);
    TC_SEND(C, proto_enc_empty(TCF, 0x77, ch));
    expect_error(PROTO_CH_ERROR, ch, PROTO_EPROTO);
    ch = next_chan++;
    open_sleeper(ch);
    TC_SEND(C, proto_enc_credit(TCF, ch, 0, 5)); /* credit for stdin comes from the guest */
    expect_error(PROTO_CH_ERROR, ch, PROTO_EPROTO);
    ch = next_chan++;
    open_sleeper(ch);
    uint8_t f[PROTO_HDR_SIZE + 3];
    proto_hdr h = {.len = 3, .chan = ch, .type = PROTO_SIGNAL};
    proto_hdr_encode(f, &h);
    memset(f + PROTO_HDR_SIZE, 0, 3);
    raw(f, sizeof f);
    expect_error(PROTO_CH_ERROR, ch, PROTO_EPROTO);
    /* data on the channel that was just closed by the error */
    tc_data(C, ch, 0, "x", 1);
    expect_error(PROTO_CH_ERROR, ch, PROTO_EBADF);
    expect_alive();
    expect_echo();
}

static void expect_closed_by_daemon(void)
{
    assert_int_equal(tc_recv_ms(C, TC_TIMEOUT_MS), 0);
}

static void test_oversized_frame(void **state)
{
    (void)state;
    /* before HELLO the limit is 4096 */
    uint8_t f[PROTO_HDR_SIZE];
    proto_hdr h = {.len = PROTO_PREHELLO_MAX_FRAME + 1, .chan = 0, .type = PROTO_HELLO};
    proto_hdr_encode(f, &h);
    raw(f, sizeof f);
    expect_closed_by_daemon();
    tc_free(C);
    /* after HELLO, anything above the guest's announced max_frame */
    C = tc_connect(sock);
    tc_hello(C);
    uint32_t pid = open_sleeper(next_chan++);
    h = (proto_hdr){.len = 0xfffffff0u, .chan = 1, .type = PROTO_DATA};
    proto_hdr_encode(f, &h);
    raw(f, sizeof f);
    expect_closed_by_daemon();
    expect_gone(pid); /* the connection's programs end with it */
    tc_free(C);
    C = tc_connect(sock);
    tc_hello(C);
    expect_echo();
}

static void test_truncated_then_reconnect(void **state)
{
    (void)state;
    tc_hello(C);
    uint32_t pid = open_sleeper(next_chan++);
    /* half a header, then half a payload, then the host vanishes */
    uint8_t f[64];
    size_t n = proto_enc_signal(f, sizeof f, 1, 2);
    raw(f, 7);
    usleep(50000);
    raw(f + 7, n - 9);
    tc_free(C);
    expect_gone(pid);
    C = tc_connect(sock);
    tc_hello(C);
    expect_echo();
}

static void test_hello_resets_session(void **state)
{
    (void)state;
    tc_hello(C);
    uint32_t ch = next_chan++;
    uint32_t pid = open_sleeper(ch);
    tc_hello(C); /* a reconnecting host that reuses the stream starts clean */
    expect_gone(pid);
    tc_data(C, ch, 0, "x", 1);
    expect_error(PROTO_CH_ERROR, ch, PROTO_EBADF);
    /* the id is free again */
    tc_result r;
    tc_exec e = {.argv = {"echo", "reused"}};
    tc_run(C, ch, &e, NULL, &r);
    assert_string_equal(r.out, "reused\n");
    tc_result_free(&r);
}

static void test_goodbye(void **state)
{
    (void)state;
    tc_hello(C);
    uint32_t pid = open_sleeper(next_chan++);
    uint8_t f[64];
    raw(f, proto_enc_goodbye(f, sizeof f, "host shutting down"));
    expect_gone(pid);
    TC_SEND(C, proto_enc_u64(TCF, PROTO_PING, 1));
    expect_error(PROTO_ERROR, 0, PROTO_EPROTO); /* HELLO expected again */
    tc_hello(C);
    expect_echo();
}

static void test_new_connection_replaces_old(void **state)
{
    (void)state;
    tc_hello(C);
    uint32_t pid = open_sleeper(next_chan++);
    tc_conn *old = C;
    C = tc_connect(sock);
    tc_hello(C);
    expect_gone(pid);
    assert_int_equal(tc_recv_ms(old, TC_TIMEOUT_MS), 0); /* the old one was closed */
    tc_free(old);
    expect_echo();
}

static void test_garbage_stream(void **state)
{
    (void)state;
    tc_hello(C);
    /* random small frames of every type on random channels: replies, never a crash */
    srand(7);
    uint8_t f[PROTO_HDR_SIZE + 64];
    for (int i = 0; i < 2000; i++) {
        uint32_t len = (uint32_t)(rand() % 64);
        proto_hdr h = {.len = len, .chan = (uint32_t)(rand() % 4), .type = (uint8_t)rand()};
        if (h.type == PROTO_HELLO || h.type == PROTO_OPEN || h.type == PROTO_GOODBYE)
            h.type = PROTO_PING;
        proto_hdr_encode(f, &h);
        for (uint32_t k = 0; k < len; k++)
            f[PROTO_HDR_SIZE + k] = (uint8_t)rand();
        raw(f, PROTO_HDR_SIZE + len);
    }
    /* drain until our marker PONG comes back */
    TC_SEND(C, proto_enc_u64(TCF, PROTO_PING, 0xabcdef));
    for (;;) {
        tc_recv(C);
        uint64_t v;
        if (C->h.type == PROTO_PONG && proto_dec_u64(C->pl, C->h.len, &v) && v == 0xabcdef)
            break;
    }
    expect_echo();
}

static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* fields after the command name */
    long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) != 2)
        return -1;
    return ut + st;
}

/* --device on a terminal (a PTY standing in for the port): raw bytes pass, and when the host
 * side hangs up for good the daemon ends the session's programs and waits without spinning. */
static void test_device_hangup(void **state)
{
    (void)state;
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(m >= 0);
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    char name[128];
    assert_int_equal(ptsname_r(m, name, sizeof name), 0);
    /* keep a slave fd open until the daemon has its own, so the master never sees a hangup */
    int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(s >= 0);
    struct termios t;
    assert_int_equal(tcgetattr(s, &t), 0);
    cfmakeraw(&t);
    assert_int_equal(tcsetattr(s, TCSANOW, &t), 0);
    pid_t pid = fork();
    if (pid == 0) {
        execl(tc_guestd_path(), "revm-guestd", "--device", name, (char *)NULL);
        _exit(126);
    }
    tc_conn *saved = C;
    C = tc_new(m);
    tc_hello(C);
    close(s);
    expect_echo();
    uint32_t sleeper = open_sleeper(next_chan++);
    tc_free(C); /* closes the master: the slave hangs up for good */
    C = saved;
    expect_gone(sleeper);
    assert_true(tc_alive(pid));
    long before = cpu_ticks(pid);
    usleep(1500000);
    long after = cpu_ticks(pid);
    assert_true(before >= 0 && after >= 0);
    /* 1.5 s of a spinning loop would be ~150 ticks; polling with backoff is ~0 */
    if (after - before > 50)
        fail_msg("daemon used %ld clock ticks in 1.5 s while waiting for the host",
                 after - before);
    assert_int_equal(tc_stop(pid), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handshake_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flow_violations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_then_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hello_resets_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_goodbye, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_connection_replaces_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_stream, setup, teardown),
        cmocka_unit_test(test_device_hangup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
