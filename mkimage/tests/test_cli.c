/* The mkimage command line: defaults, "all" expansion, sizes, and one clear error
 * for each kind of bad argument (before any work starts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "void_default.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof *(a)) - 1)

static int parse(char **argv, int argc, cli_opts *o, mk_err *err)
{
    memset(err, 0, sizeof *err);
    return cli_parse(argc, argv, o, err);
}

static void test_defaults_and_all(void **state)
{
    (void)state;
    char *argv[] = {"mkimage", "--kernel", "k", "--out", "o", NULL};
    cli_opts o;
    mk_err err;
    assert_int_equal(parse(argv, ARGC(argv), &o, &err), 0);
    assert_int_equal(o.n_variants, 3);
    assert_string_equal(o.variants[0], "driver");
    assert_string_equal(o.variants[2], "app");
    assert_string_equal(o.rootfs, VOID_DEFAULT_ROOTFS_URL);
    assert_string_equal(o.sha256, VOID_DEFAULT_ROOTFS_SHA256);
    assert_string_equal(o.fs, "btrfs");
    assert_true(o.size == 5ULL << 30);

    char *argv2[] = {"mkimage", "--variant", "app", "--variant=all", "-v", "driver", "--kernel",
                     "k", "--out", "o", "--rootfs", "f.tar.xz", "--size", "512M", "--fs", "ext4",
                     "--install", "a:/b:0755", "--retries", "0", "--stall-timeout", "2", NULL};
    assert_int_equal(parse(argv2, ARGC(argv2), &o, &err), 0);
    assert_int_equal(o.n_variants, 3); /* no duplicates */
    assert_string_equal(o.variants[0], "app");
    assert_null(o.sha256); /* a local file is only hashed */
    assert_true(o.size == 512ULL << 20);
    assert_string_equal(o.fs, "ext4");
    assert_int_equal(o.n_installs, 1);
    assert_true(o.retries < 0);
    assert_int_equal(o.stall_timeout, 2);
}

static void expect(char **argv, int argc, const char *needle)
{
    cli_opts o;
    mk_err err;
    assert_int_equal(parse(argv, argc, &o, &err), -1);
    if (!strstr(err.msg, needle))
        fail_msg("'%s' lacks '%s'", err.msg, needle);
}

static void test_errors(void **state)
{
    (void)state;
    char *a1[] = {"mkimage", "--kernel", "k", NULL};
    expect(a1, ARGC(a1), "--out: required");
    char *a2[] = {"mkimage", "--out", "o", "--kernel-series", "linux/6", NULL};
    expect(a2, ARGC(a2), "--kernel-series linux/6: not a package name");
    char *a3[] = {"mkimage", "--variant", "../x", "--kernel", "k", "--out", "o", NULL};
    expect(a3, ARGC(a3), "invalid name");
    char *a4[] = {"mkimage", "--bogus", "--kernel", "k", "--out", "o", NULL};
    expect(a4, ARGC(a4), "--bogus: unknown option");
    char *a5[] = {"mkimage", "--size", "5X", "--kernel", "k", "--out", "o", NULL};
    expect(a5, ARGC(a5), "--size 5X");
    char *a6[] = {"mkimage", "--fs", "xfs", "--kernel", "k", "--out", "o", NULL};
    expect(a6, ARGC(a6), "expected btrfs or ext4");
    char *a7[] = {"mkimage", "--sha256", "x", "--sha256sums", "y", "--kernel", "k", "--out", "o", NULL};
    expect(a7, ARGC(a7), "give one");
    char *a8[] = {"mkimage", "--signature", "s", "--kernel", "k", "--out", "o", NULL};
    expect(a8, ARGC(a8), "give both");
    char *a9[] = {"mkimage", "--install", "nodest", "--kernel", "k", "--out", "o", NULL};
    expect(a9, ARGC(a9), "SRC:DEST");
    char *a10[] = {"mkimage", "--stall-timeout", "0", "--kernel", "k", "--out", "o", NULL};
    expect(a10, ARGC(a10), "--stall-timeout 0");
    char *a11[] = {"mkimage", "--kernel", "k", "--out", "o", "extra", NULL};
    expect(a11, ARGC(a11), "extra: unexpected argument");
    char *a12[] = {"mkimage", "--kernel", NULL};
    expect(a12, ARGC(a12), "--kernel");
}

/* Without --kernel, the kernel comes from Void's repository (void_repo.h). */
static void test_repo_kernel(void **state)
{
    (void)state;
    cli_opts o;
    mk_err err;
    char *a1[] = {"mkimage", "--out", "o", NULL};
    assert_int_equal(parse(a1, ARGC(a1), &o, &err), 0);
    assert_null(o.kernel);
    assert_string_equal(o.kernel_series, "linux6.12");
    assert_string_equal(o.void_arch, "x86_64-musl");
    assert_non_null(strstr(o.void_repo, "/current/musl"));
    char *a2[] = {"mkimage", "--out", "o", "--void-repo", "http://127.0.0.1:1/r",
                  "--kernel-series", "linux6.1", NULL};
    assert_int_equal(parse(a2, ARGC(a2), &o, &err), 0);
    assert_string_equal(o.void_repo, "http://127.0.0.1:1/r");
    assert_string_equal(o.kernel_series, "linux6.1");
}

static void test_sizes(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(cli_parse_size("5G", &v), 0);
    assert_true(v == 5ULL << 30);
    assert_int_equal(cli_parse_size("1GiB", &v), 0);
    assert_true(v == 1ULL << 30);
    assert_int_equal(cli_parse_size("4096", &v), 0);
    assert_true(v == 4096);
    assert_int_equal(cli_parse_size("-1G", &v), -1);
    assert_int_equal(cli_parse_size("0", &v), -1);
    assert_int_equal(cli_parse_size("99999999999T", &v), -1);
    assert_int_equal(cli_parse_size("G", &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_defaults_and_all),
                                       cmocka_unit_test(test_errors), cmocka_unit_test(test_sizes),
                                       cmocka_unit_test(test_repo_kernel)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
