/* revm's global options: parsing stops at the program so its own options pass through;
 * values, -e checks and usage errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "revm/cli.h"

static int parse(cli_opts *o, bool *help, int argc, const char **argv)
{
    memset(o, 0, sizeof *o);
    return cli_parse(argc, (char **)argv, o, help);
}

static void test_program_options_pass_through(void **state)
{
    (void)state;
    unsetenv("REVM_SOCKET");
    cli_opts o;
    bool help;
    const char *a[] = {"revm", "-t", "--vm", "work", "ls", "-l", "--vm", "x"};
    assert_int_equal(parse(&o, &help, 8, a), 4);
    assert_string_equal(o.vm, "work");
    assert_int_equal(o.pty, CLI_PTY_FORCE);
    assert_null(o.socket);
    const char *b[] = {"revm", "--", "-weird-program"};
    assert_int_equal(parse(&o, &help, 3, b), 2);
    assert_string_equal(o.vm, "app");
}

static void test_values(void **state)
{
    (void)state;
    cli_opts o;
    bool help;
    setenv("REVM_SOCKET", "/env.sock", 1);
    const char *a[] = {"revm", "-T", "--socket=/s.sock", "-e", "A=1", "--env", "B=", "-C", "/tmp",
                       "--user", "bob", "sh"};
    assert_int_equal(parse(&o, &help, 12, a), 11);
    assert_string_equal(o.socket, "/s.sock");
    assert_int_equal(o.pty, CLI_PTY_NO);
    assert_int_equal(o.envc, 2);
    assert_string_equal(o.env[1], "B=");
    assert_string_equal(o.cwd, "/tmp");
    assert_string_equal(o.user, "bob");
    const char *b[] = {"revm", "true"};
    assert_int_equal(parse(&o, &help, 2, b), 1);
    assert_string_equal(o.socket, "/env.sock");
    unsetenv("REVM_SOCKET");
}

static void test_errors(void **state)
{
    (void)state;
    cli_opts o;
    bool help;
    const char *none[] = {"revm"};
    assert_int_equal(parse(&o, &help, 1, none), -1);
    const char *noval[] = {"revm", "--vm"};
    assert_int_equal(parse(&o, &help, 2, noval), -1);
    const char *badvm[] = {"revm", "--vm", "../x", "ls"};
    assert_int_equal(parse(&o, &help, 4, badvm), -1);
    const char *badenv[] = {"revm", "-e", "NOEQUALS", "ls"};
    assert_int_equal(parse(&o, &help, 4, badenv), -1);
    const char *unknown[] = {"revm", "--frobnicate", "ls"};
    assert_int_equal(parse(&o, &help, 3, unknown), -1);
    const char *h[] = {"revm", "--help", "ls"};
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    int r = parse(&o, &help, 3, h);
    fclose(stdout);
    stdout = saved;
    assert_true(help);
    assert_int_equal(r, 3);
}

/* --vm takes the supervisor's profile names only: a name is also a state directory. */
static void test_vm_names(void **state)
{
    (void)state;
    cli_opts o;
    bool help;
    static const char *const good[] = {"app", "driver", "vm-2"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        const char *a[] = {"revm", "--vm", good[i], "ls"};
        assert_int_equal(parse(&o, &help, 4, a), 3);
        assert_string_equal(o.vm, good[i]);
    }
    static const char *const bad[] = {"", ".", "..", "App", "a_b", "-x", "a b",
                                      "a234567890123456789012345678901x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *a[] = {"revm", "--vm", bad[i], "ls"};
        assert_int_equal(parse(&o, &help, 4, a), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_program_options_pass_through),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_vm_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
