/* cli_capture against the real guest daemon (run on the host on a unix socket): output
 * captured and cut to the buffer, exit codes, and a clear error for a missing program. */
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

#include "revm/cli.h"

static char dir[64], sock[128];
static pid_t guest = -1;

static int start_guest(void **state)
{
    (void)state;
    const char *build = getenv("BUILD");
    char bin[512];
    snprintf(bin, sizeof bin, "%s/tests/bin/revm-guestd", build ? build : "build");
    if (access(bin, X_OK) != 0)
        return 0; /* tests skip themselves */
    snprintf(dir, sizeof dir, "/tmp/rbcap.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(sock, sizeof sock, "%s/g.sock", dir);
    char listen[160];
    snprintf(listen, sizeof listen, "unix:%s", sock);
    guest = fork();
    if (guest == 0) {
        execl(bin, "revm-guestd", "--quiet", "--listen", listen, (char *)NULL);
        _exit(127);
    }
    struct stat st;
    for (int i = 0; i < 200 && stat(sock, &st) != 0; i++)
        usleep(20000);
    return 0;
}

static int stop_guest(void **state)
{
    (void)state;
    if (guest > 0) {
        kill(guest, SIGTERM);
        waitpid(guest, NULL, 0);
        unlink(sock);
        rmdir(dir);
    }
    return 0;
}

static void test_capture(void **state)
{
    (void)state;
    if (guest <= 0)
        skip();
    cli_opts o = {.vm = "app", .socket = sock};
    char out[16], err[256];
    size_t n;
    const char *ok[] = {"sh", "-c", "echo hello; echo noise >&2; exit 3"};
    assert_int_equal(cli_capture(&o, ok, 3, out, sizeof out, &n, err, sizeof err), 3);
    assert_int_equal(n, 6);
    assert_string_equal(out, "hello\n");
    const char *big[] = {"sh", "-c", "echo 0123456789abcdefghij"};
    assert_int_equal(cli_capture(&o, big, 3, out, sizeof out, &n, err, sizeof err), 0);
    assert_int_equal(n, sizeof out - 1);
    assert_string_equal(out, "0123456789abcde");
    const char *missing[] = {"btop"};
    assert_int_equal(cli_capture(&o, missing, 1, out, sizeof out, &n, err, sizeof err), -1);
    assert_string_equal(err, "no such program in the VM: btop");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_capture)};
    return cmocka_run_group_tests(tests, start_guest, stop_guest);
}
