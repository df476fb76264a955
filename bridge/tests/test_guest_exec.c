/* revm-guestd over a socketpair (the sanitizer build, build/tests/bin/revm-guestd --fd 3):
 * exit statuses, separated output, stdin, errors, PTY, signals, flow control and many
 * concurrent channels. The daemon is driven by raw frames (test_guest_client.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_guest_client.h"

static pid_t daemon_pid;
static tc_conn *C;
static uint32_t next_chan = 1;

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    C = tc_spawn_fd(&daemon_pid);
    tc_hello(C);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tc_free(C);
    /* the connection closing ends an --fd daemon by itself */
    int st = -1;
    for (int i = 0; i < 500 && waitpid(daemon_pid, &st, WNOHANG) == 0; i++)
        usleep(10000);
    if (waitpid(daemon_pid, &st, WNOHANG) == 0 && tc_stop(daemon_pid) != 0)
        fail_msg("daemon did not exit after its connection closed");
    return 0;
}

static void run_sh(const char *script, const char *in, tc_result *r)
{
    tc_exec e = {.argv = {"sh", "-c", script}};
    tc_run(C, next_chan++, &e, in, r);
}

static void expect_exit(const char *script, int how, int value)
{
    tc_result r;
    run_sh(script, NULL, &r);
    assert_true(r.opened);
    assert_true(r.got_exit);
    assert_true(r.got_close);
    assert_int_equal(r.exit.how, how);
    assert_int_equal(r.exit.value, value);
    tc_result_free(&r);
}

static void test_exit_codes(void **state)
{
    (void)state;
    expect_exit("exit 0", 0, 0);
    expect_exit("exit 1", 0, 1);
    expect_exit("exit 42", 0, 42);
    expect_exit("kill -9 $$", 1, 9);
    expect_exit("kill -15 $$", 1, 15);
}

static void test_streams_separated(void **state)
{
    (void)state;
    tc_result r;
    run_sh("echo out1; echo err1 >&2; echo out2; echo err2 >&2", NULL, &r);
    assert_string_equal(r.out, "out1\nout2\n");
    assert_string_equal(r.err, "err1\nerr2\n");
    assert_true(r.eof_out && r.eof_err);
    assert_int_equal(r.exit.value, 0);
    tc_result_free(&r);
}

static void test_stdin_eof(void **state)
{
    (void)state;
    tc_result r;
    tc_exec e = {.argv = {"cat"}};
    tc_run(C, next_chan++, &e, "hello\nworld", &r);
    assert_string_equal(r.out, "hello\nworld");
    assert_int_equal(r.exit.value, 0);
    tc_result_free(&r);
    /* EOF alone: wc sees an empty input and ends */
    e = (tc_exec){.argv = {"wc", "-c"}};
    tc_run(C, next_chan++, &e, NULL, &r);
    assert_int_equal(atoi(r.out), 0);
    tc_result_free(&r);
}

/* More than the guest's window in, more than our window out: both credits must flow. */
static void test_flow_control_roundtrip(void **state)
{
    (void)state;
    size_t n = 3u << 20;
    uint8_t *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (uint8_t)(i * 2654435761u >> 13);
    tc_result r;
    tc_exec e = {.argv = {"cat"}};
    tc_run_ex(C, next_chan++, &e, in, n, true, &r);
    assert_int_equal(r.out_len, n);
    assert_memory_equal(r.out, in, n);
    assert_int_equal(r.exit.value, 0);
    tc_result_free(&r);
    free(in);
}

/* A program that does not read its stdin: the rest is swallowed and credited back. */
static void test_stdin_not_read(void **state)
{
    (void)state;
    size_t n = 1u << 20;
    uint8_t *in = calloc(1, n);
    tc_result r;
    tc_exec e = {.argv = {"true"}};
    tc_run_ex(C, next_chan++, &e, in, n, true, &r);
    assert_true(r.got_exit);
    assert_int_equal(r.exit.value, 0);
    tc_result_free(&r);
    free(in);
}

static void test_not_found(void **state)
{
    (void)state;
    tc_result r;
    tc_exec e = {.argv = {"btop-not-installed"}};
    tc_run(C, next_chan++, &e, NULL, &r);
    assert_false(r.opened);
    assert_int_equal(r.err_code, PROTO_ENOENT);
    assert_string_equal(r.err_text, "no such program in the VM: btop-not-installed");
    /* absolute path, no PATH search */
    e = (tc_exec){.flags = PROTO_EXEC_NOPATH, .argv = {"/nonexistent/prog"}};
    tc_run(C, next_chan++, &e, NULL, &r);
    assert_int_equal(r.err_code, PROTO_ENOENT);
    /* NOPATH: a bare name is not searched */
    e = (tc_exec){.flags = PROTO_EXEC_NOPATH, .argv = {"sh"}};
    tc_run(C, next_chan++, &e, NULL, &r);
    assert_int_equal(r.err_code, PROTO_ENOENT);
    /* not executable */
    char path[] = "/tmp/revm-guestd-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    chmod(path, 0644);
    e = (tc_exec){.argv = {path}};
    tc_run(C, next_chan++, &e, NULL, &r);
    assert_int_equal(r.err_code, PROTO_EACCES); /* no x bit at all: even root may not */
    assert_non_null(strstr(r.err_text, "not executable in the VM"));
    unlink(path);
    /* unknown user */
    e = (tc_exec){.user = "no-such-user-revm", .argv = {"true"}};
    tc_run(C, next_chan++, &e, NULL, &r);
    assert_int_equal(r.err_code, PROTO_ESRCH);
    assert_string_equal(r.err_text, "no such user in the VM: no-such-user-revm");
    /* bad cwd */
    e = (tc_exec){.cwd = "/nonexistent-dir", .argv = {"true"}};
    tc_run(C, next_chan++, &e, NULL, &r);
    assert_int_equal(r.err_code, PROTO_ENOENT);
    /* the connection is still fine */
    expect_exit("exit 7", 0, 7);
}

static void test_env_cwd_user(void **state)
{
    (void)state;
    tc_result r;
    tc_exec e = {.cwd = "/tmp", .env = {"FOO=bar baz", "PATH=/usr/bin:/bin"},
                 .argv = {"sh", "-c", "echo \"$FOO\"; pwd; echo $PATH; test -n \"$HOME\""}};
    tc_run(C, next_chan++, &e, NULL, &r);
    assert_string_equal(r.out, "bar baz\n/tmp\n/usr/bin:/bin\n");
    assert_int_equal(r.exit.value, 0);
    tc_result_free(&r);
    if (geteuid() == 0) {
        e = (tc_exec){.user = "nobody", .argv = {"id", "-un"}};
        tc_run(C, next_chan++, &e, NULL, &r);
        assert_true(r.opened);
        assert_string_equal(r.out, "nobody\n");
        tc_result_free(&r);
    }
}

static void test_login_shell(void **state)
{
    (void)state;
    tc_result r;
    tc_exec e = {.flags = PROTO_EXEC_LOGIN};
    tc_run(C, next_chan++, &e, "echo \"$0\"; exit 3\n", &r);
    assert_true(r.opened);
    assert_non_null(r.out);
    assert_int_equal(r.out[0], '-');
    assert_int_equal(r.exit.value, 3);
    tc_result_free(&r);
}

static void test_pty(void **state)
{
    (void)state;
    tc_result r;
    tc_exec e = {.flags = PROTO_EXEC_PTY, .rows = 33, .cols = 101, .argv = {"tty"}};
    tc_run(C, next_chan++, &e, NULL, &r);
    assert_non_null(r.out);
    assert_true(strncmp(r.out, "/dev/pts/", 9) == 0);
    assert_null(r.err);
    assert_int_equal(r.exit.value, 0);
    tc_result_free(&r);

    e = (tc_exec){.flags = PROTO_EXEC_PTY, .rows = 33, .cols = 101, .argv = {"stty", "size"}};
    tc_run(C, next_chan++, &e, NULL, &r);
    assert_string_equal(r.out, "33 101\r\n");
    tc_result_free(&r);

    /* a later WINSIZE is seen by the program */
    uint32_t ch = next_chan++;
    e = (tc_exec){.flags = PROTO_EXEC_PTY, .rows = 24, .cols = 80,
                  .argv = {"sh", "-c", "stty size; read x; stty size"}};
    tc_open(C, ch, &e);
    memset(&r, 0, sizeof r);
    uint32_t credit = 0;
    /* wait for the first size line, then resize and let the script go on */
    while (!r.out || !strstr(r.out, "24 80")) {
        tc_recv(C);
        assert_false(tc_handle(C, ch, &r, &credit));
    }
    TC_SEND(C, proto_enc_winsize(TCF, ch, 50, 132));
    tc_data(C, ch, 0, "\n", 1);
    do
        tc_recv(C);
    while (!tc_handle(C, ch, &r, &credit));
    assert_non_null(strstr(r.out, "50 132"));
    assert_int_equal(r.exit.value, 0);
    tc_result_free(&r);

    /* SIGNAL 2 (Ctrl-C) reaches a sleeping program */
    ch = next_chan++;
    e = (tc_exec){.flags = PROTO_EXEC_PTY, .argv = {"sleep", "100"}};
    tc_open(C, ch, &e);
    memset(&r, 0, sizeof r);
    tc_recv(C);
    assert_false(tc_handle(C, ch, &r, &credit));
    assert_true(r.opened);
    usleep(200000);
    TC_SEND(C, proto_enc_signal(TCF, ch, 2));
    do
        tc_recv(C);
    while (!tc_handle(C, ch, &r, &credit));
    assert_true(r.got_exit);
    assert_int_equal(r.exit.how, 1);
    assert_int_equal(r.exit.value, 2);
    tc_result_free(&r);

    /* `revm shell`: the user's login shell on a PTY */
    e = (tc_exec){.flags = PROTO_EXEC_PTY | PROTO_EXEC_LOGIN, .rows = 24, .cols = 80};
    const char *typed = "echo \"[$0]\"; exit 5\n";
    tc_run_ex(C, next_chan++, &e, typed, strlen(typed), false, &r);
    assert_true(r.opened);
    assert_non_null(r.out);
    assert_non_null(strstr(r.out, "[-")); /* argv[0] prefixed with '-' */
    assert_int_equal(r.exit.how, 0);
    assert_int_equal(r.exit.value, 5);
    tc_result_free(&r);

    /* PTY input: typed line comes back (echo) and reaches the program; EOF ends cat */
    e = (tc_exec){.flags = PROTO_EXEC_PTY, .argv = {"cat"}};
    tc_run(C, next_chan++, &e, "typed\n", &r);
    assert_non_null(r.out);
    assert_non_null(strstr(r.out, "typed"));
    if (r.exit.value != 0)
        fail_msg("cat on a PTY: EXIT how %d value %d, output '%s'", r.exit.how, r.exit.value,
                 r.out);
    assert_int_equal(r.exit.how, 0);
    tc_result_free(&r);
}

static void test_signal_pipes(void **state)
{
    (void)state;
    uint32_t ch = next_chan++, credit = 0;
    tc_exec e = {.argv = {"sleep", "100"}};
    tc_result r = {0};
    tc_open(C, ch, &e);
    tc_recv(C);
    assert_false(tc_handle(C, ch, &r, &credit));
    assert_true(r.opened);
    TC_SEND(C, proto_enc_signal(TCF, ch, 15));
    do
        tc_recv(C);
    while (!tc_handle(C, ch, &r, &credit));
    assert_int_equal(r.exit.how, 1);
    assert_int_equal(r.exit.value, 15);
}

/* Host CLOSE aborts a running program: the guest kills it and answers CLOSE. */
static void test_host_close(void **state)
{
    (void)state;
    uint32_t ch = next_chan++;
    tc_exec e = {.argv = {"sleep", "100"}};
    tc_open(C, ch, &e);
    tc_recv(C);
    assert_int_equal(C->h.type, PROTO_OPEN_OK);
    uint32_t pid;
    assert_true(proto_dec_open_ok(C->pl, C->h.len, &pid));
    TC_SEND(C, proto_enc_empty(TCF, PROTO_CLOSE, ch));
    tc_recv(C);
    assert_int_equal(C->h.type, PROTO_CLOSE);
    assert_int_equal(C->h.chan, ch);
    /* SIGHUP ends sleep; the id can be reused at once */
    for (int i = 0; i < 300 && kill((pid_t)pid, 0) == 0; i++)
        usleep(10000);
    assert_int_not_equal(kill((pid_t)pid, 0), 0);
    tc_result r;
    tc_exec e2 = {.argv = {"echo", "again"}};
    tc_run(C, ch, &e2, NULL, &r);
    assert_string_equal(r.out, "again\n");
    tc_result_free(&r);
}

/* Output of a descendant that keeps the pipe open must not hold the channel forever. */
static void test_background_child(void **state)
{
    (void)state;
    tc_result r;
    run_sh("sleep 30 & echo started", NULL, &r);
    assert_string_equal(r.out, "started\n");
    assert_true(r.got_exit);
    assert_int_equal(r.exit.value, 0);
    tc_result_free(&r);
}

/* 64 concurrent channels, one of which never gets output credit back: the rest finish. */
static void test_concurrent_with_stalled_reader(void **state)
{
    (void)state;
    enum { N = 64 };
    uint32_t base = next_chan;
    next_chan += N;
    tc_exec e = {.argv = {"sh", "-c", "head -c 300000 /dev/zero"}};
    for (int i = 0; i < N; i++)
        tc_open(C, base + (uint32_t)i, &e);
    for (int i = 0; i < N; i++)
        TC_SEND(C, proto_enc_stream(TCF, PROTO_EOF, base + (uint32_t)i, 0));
    size_t got[N] = {0};
    bool done[N] = {0};
    int finished = 0;
    while (finished < N - 1) {
        tc_recv(C);
        uint32_t i = C->h.chan - base;
        assert_true(i < N);
        if (C->h.type == PROTO_DATA) {
            got[i] += C->h.len - 1;
            if (i == 0)
                continue; /* the stalled reader: never gives credit back */
            TC_SEND(C, proto_enc_credit(TCF, C->h.chan, C->pl[0], C->h.len - 1));
        } else if (C->h.type == PROTO_CLOSE) {
            assert_int_not_equal(i, 0);
            assert_int_equal(got[i], 300000);
            TC_SEND(C, proto_enc_empty(TCF, PROTO_CLOSE, C->h.chan));
            done[i] = true;
            finished++;
        }
    }
    assert_false(done[0]);
    assert_int_equal(got[0], TC_WINDOW); /* exactly the credit we granted */
    /* release the stalled one: it completes too */
    TC_SEND(C, proto_enc_credit(TCF, base, 1, TC_WINDOW));
    for (;;) {
        tc_recv(C);
        assert_int_equal(C->h.chan, base);
        if (C->h.type == PROTO_DATA) {
            got[0] += C->h.len - 1;
            TC_SEND(C, proto_enc_credit(TCF, base, 1, C->h.len - 1));
        } else if (C->h.type == PROTO_CLOSE) {
            TC_SEND(C, proto_enc_empty(TCF, PROTO_CLOSE, base));
            break;
        }
    }
    assert_int_equal(got[0], 300000);
}

/* The host stops reading the connection while 40 programs have credit to write (more than
 * the daemon queues for the port): it stops reading them too, then catches up losslessly. */
static void test_port_backpressure(void **state)
{
    (void)state;
    enum { N = 40, SIZE = 1000000 };
    uint32_t base = next_chan;
    next_chan += N;
    tc_exec e = {.argv = {"head", "-c", "1000000", "/dev/zero"}};
    for (int i = 0; i < N; i++) {
        tc_open(C, base + (uint32_t)i, &e);
        TC_SEND(C, proto_enc_stream(TCF, PROTO_EOF, base + (uint32_t)i, 0));
    }
    usleep(1000000); /* not reading: the socket buffer and the daemon's queue fill up */
    size_t got[N] = {0};
    int finished = 0;
    while (finished < N) {
        tc_recv(C);
        uint32_t i = C->h.chan - base;
        assert_true(i < N);
        if (C->h.type == PROTO_DATA) {
            got[i] += C->h.len - 1;
            TC_SEND(C, proto_enc_credit(TCF, C->h.chan, C->pl[0], C->h.len - 1));
        } else if (C->h.type == PROTO_CLOSE) {
            assert_int_equal(got[i], SIZE);
            TC_SEND(C, proto_enc_empty(TCF, PROTO_CLOSE, C->h.chan));
            finished++;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exit_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streams_separated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_eof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flow_control_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_not_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_cwd_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_shell, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signal_pipes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_child, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_with_stalled_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_backpressure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
