/* The control socket codec (PROTOCOL.md, Control socket): reply classification, the status
 * record's round trip with hostile guest text in it, and a request over a real socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rb_control.h"

static void classify(void **st)
{
    (void)st;
    const char *t;
    assert_int_equal(rb_ctl_classify("ok", &t), RB_CTL_OK);
    assert_string_equal(t, "");
    assert_int_equal(rb_ctl_classify("ok VM app is ready", &t), RB_CTL_OK);
    assert_string_equal(t, "VM app is ready");
    assert_int_equal(rb_ctl_classify("okay", &t), RB_CTL_DATA);
    assert_int_equal(rb_ctl_classify("error: no such VM: x", &t), RB_CTL_ERROR);
    assert_string_equal(t, "no such VM: x");
    assert_int_equal(rb_ctl_classify("info: starting VM app", &t), RB_CTL_INFO);
    assert_string_equal(t, "starting VM app");
    assert_int_equal(rb_ctl_classify("vm=app state=ready", &t), RB_CTL_DATA);
}

static void status_round_trip(void **st)
{
    (void)st;
    rb_ctl_status a = {.uptime_s = 12, .pid = 4242, .memory_mib = 512};
    strcpy(a.vm, "app");
    strcpy(a.state, "ready");
    strcpy(a.accel, "tcg");
    strcpy(a.bridge, "revm-guestd 0.1 (Linux 6.1, \"Debian\" \\ 12)");
    strcpy(a.error, "line\nbreak\x1b[31m");
    char line[RB_CTL_LINE_MAX];
    assert_true(rb_ctl_format_status(&a, line, sizeof line));
    assert_null(strchr(line, '\n'));
    assert_null(strchr(line, '\x1b'));
    rb_ctl_status b;
    assert_true(rb_ctl_parse_status(line, &b));
    assert_string_equal(b.vm, "app");
    assert_string_equal(b.state, "ready");
    assert_int_equal(b.uptime_s, 12);
    assert_int_equal(b.pid, 4242);
    assert_int_equal(b.memory_mib, 512);
    assert_string_equal(b.accel, "tcg");
    assert_string_equal(b.bridge, a.bridge);
    assert_string_equal(b.error, "line?break?[31m");
    /* a stopped VM has no accelerator */
    a.accel[0] = 0;
    assert_true(rb_ctl_format_status(&a, line, sizeof line));
    assert_non_null(strstr(line, "accel=- "));
    assert_true(rb_ctl_parse_status(line, &b));
    assert_string_equal(b.accel, "");
    /* too small a buffer is refused, not cut */
    assert_false(rb_ctl_format_status(&a, line, 40));
}

static void status_malformed(void **st)
{
    (void)st;
    rb_ctl_status s;
    assert_false(rb_ctl_parse_status("", &s));
    assert_false(rb_ctl_parse_status("state=ready", &s));             /* no vm */
    assert_false(rb_ctl_parse_status("vm=app state=ready pid=x", &s));
    assert_false(rb_ctl_parse_status("vm=app state=ready uptime=5", &s)); /* no unit */
    assert_false(rb_ctl_parse_status("vm=app state=ready bridge=\"open", &s));
    assert_false(rb_ctl_parse_status("vm=app state=ready junk", &s));
    assert_true(rb_ctl_parse_status("vm=app state=ready future=\"field\" x=1", &s));
    char big[2048];
    memset(big, 'a', sizeof big);
    memcpy(big, "vm=", 3);
    big[sizeof big - 1] = 0;
    assert_false(rb_ctl_parse_status(big, &s));
}

static int n_data, n_info;
static void on_line(void *ctx, enum rb_ctl_kind kind, const char *text)
{
    (void)ctx, (void)text;
    if (kind == RB_CTL_DATA)
        n_data++;
    if (kind == RB_CTL_INFO)
        n_info++;
}

static void request(void **st)
{
    (void)st;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    const char replies[] = "info: starting VM app\nvm=app state=ready\nok VM app is ready\n";
    assert_int_equal(write(sv[1], replies, sizeof replies - 1), (ssize_t)sizeof replies - 1);
    char final[128];
    assert_int_equal(rb_ctl_request(sv[0], "start app", on_line, NULL, final, sizeof final), 0);
    assert_string_equal(final, "VM app is ready");
    assert_int_equal(n_data, 1);
    assert_int_equal(n_info, 1);
    char req[64];
    ssize_t r = read(sv[1], req, sizeof req);
    assert_int_equal(r, 10);
    assert_memory_equal(req, "start app\n", 10);
    assert_int_equal(write(sv[1], "error: no such VM: x\n", 21), 21);
    assert_int_equal(rb_ctl_request(sv[0], "start x", NULL, NULL, final, sizeof final), -1);
    assert_string_equal(final, "no such VM: x");
    assert_int_equal(rb_ctl_request(sv[0], "two\nlines", NULL, NULL, final, sizeof final), -1);
    close(sv[1]);
    assert_int_equal(rb_ctl_request(sv[0], "status", NULL, NULL, final, sizeof final), -1);
    assert_non_null(strstr(final, "lost the connection"));
    close(sv[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classify), cmocka_unit_test(status_round_trip),
        cmocka_unit_test(status_malformed), cmocka_unit_test(request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
