/* revm started through a Redox launcher entry (a symlink revm-<vm>-<id> beside its .argv
 * file) runs the arguments from that file; other names are left alone; a malformed file is
 * an error, never a partial argv. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "revm/launch_argv.h"

static char dir[64];

static void write_file(const char *name, const void *p, size_t n)
{
    char path[200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(p, 1, n, f);
    fclose(f);
}

static void multicall(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/revm-argv-XXXXXX");
    assert_non_null(mkdtemp(dir));
    const char args[] = "-t\0--vm\0app\0--\0btop\0--utf-force";
    write_file("revm-app-btop.argv", args, sizeof args);
    char a0[200];
    snprintf(a0, sizeof a0, "%s/revm-app-btop", dir);
    char *v[] = {a0, "extra", NULL};
    char **argv = v;
    int argc = 2;
    assert_int_equal(cli_launch_argv(&argc, &argv), 0);
    assert_int_equal(argc, 8);
    assert_string_equal(argv[0], a0);
    assert_string_equal(argv[1], "-t");
    assert_string_equal(argv[4], "--");
    assert_string_equal(argv[5], "btop");
    assert_string_equal(argv[6], "--utf-force");
    assert_string_equal(argv[7], "extra");
    assert_null(argv[8]);
    free(argv); /* revm keeps it for its lifetime */

    /* not a launcher name, or no .argv file: unchanged */
    char *w[] = {"/usr/bin/revm", "ls", NULL};
    argv = w;
    argc = 2;
    assert_int_equal(cli_launch_argv(&argc, &argv), 0);
    assert_ptr_equal(argv, w);
    snprintf(a0, sizeof a0, "%s/revm-other", dir);
    char *x[] = {a0, NULL};
    argv = x;
    argc = 1;
    assert_int_equal(cli_launch_argv(&argc, &argv), 0);
    assert_ptr_equal(argv, x);

    /* malformed: not NUL-terminated, empty */
    write_file("revm-bad.argv", "btop", 4);
    snprintf(a0, sizeof a0, "%s/revm-bad", dir);
    char *y[] = {a0, NULL};
    argv = y;
    argc = 1;
    assert_int_equal(cli_launch_argv(&argc, &argv), -1);
    write_file("revm-bad.argv", "", 0);
    assert_int_equal(cli_launch_argv(&argc, &argv), -1);

    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(multicall)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
