/* Tar entry safety rules (tarpath.h): normalization, rejection of absolute paths and
 * "..", the symlink-escape wording, and the symlink set that stops writes through
 * symlinks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tarpath.h"

static void expect_norm(const char *in, const char *want)
{
    char out[TARPATH_MAX + 1];
    tarpath_status s = tarpath_normalize(in, out, sizeof out);
    if (s != TARPATH_OK)
        fail_msg("\"%s\": unexpected %s", in, tarpath_reason(s));
    assert_string_equal(out, want);
}

static void expect_reject(const char *in, tarpath_status want)
{
    char out[TARPATH_MAX + 1];
    tarpath_status s = tarpath_normalize(in, out, sizeof out);
    if (s != want)
        fail_msg("\"%s\": got %s, want %s", in ? in : "(null)", tarpath_reason(s),
                 tarpath_reason(want));
    assert_string_equal(out, "");
}

static void test_normalize(void **state)
{
    (void)state;
    expect_norm("./", "");
    expect_norm(".", "");
    expect_norm("././/./", "");
    expect_norm("./usr/bin/ls", "usr/bin/ls");
    expect_norm("usr//bin///ls/", "usr/bin/ls");
    expect_norm("usr/./bin/./ls", "usr/bin/ls");
    expect_norm("a/.../b", "a/.../b");  /* "..." is an ordinary name */
    expect_norm("..a/b..", "..a/b..");
    expect_norm(".hidden", ".hidden");
    expect_norm("a b/c\tt", "a b/c\tt");
}

static void test_reject(void **state)
{
    (void)state;
    expect_reject(NULL, TARPATH_EMPTY);
    expect_reject("", TARPATH_EMPTY);
    expect_reject("/etc/passwd", TARPATH_ABSOLUTE);
    expect_reject("//etc", TARPATH_ABSOLUTE);
    expect_reject("/", TARPATH_ABSOLUTE);
    expect_reject("..", TARPATH_DOTDOT);
    expect_reject("../x", TARPATH_DOTDOT);
    expect_reject("./../x", TARPATH_DOTDOT);
    expect_reject("a/../b", TARPATH_DOTDOT);   /* even when it stays inside */
    expect_reject("a/b/..", TARPATH_DOTDOT);
    expect_reject("a/../../etc/shadow", TARPATH_DOTDOT);
    expect_reject("a/..//", TARPATH_DOTDOT);
}

static void test_lengths(void **state)
{
    (void)state;
    char name[300], out[TARPATH_MAX + 1];
    memset(name, 'n', 255);
    name[255] = '\0';
    assert_int_equal(tarpath_normalize(name, out, sizeof out), TARPATH_OK);
    name[255] = 'n';
    name[256] = '\0';
    assert_int_equal(tarpath_normalize(name, out, sizeof out), TARPATH_TOO_LONG);

    char *longp = malloc(TARPATH_MAX + 10);
    assert_non_null(longp);
    memset(longp, 'a', TARPATH_MAX + 9);
    for (size_t i = 100; i < TARPATH_MAX + 9; i += 101)
        longp[i] = '/';
    longp[TARPATH_MAX] = '\0';
    assert_int_equal(tarpath_normalize(longp, out, sizeof out), TARPATH_OK); /* exactly the limit */
    longp[TARPATH_MAX] = 'a';
    longp[TARPATH_MAX + 9] = '\0';
    assert_int_equal(tarpath_normalize(longp, out, sizeof out), TARPATH_TOO_LONG);
    /* A small output buffer is never overrun. */
    char small[8];
    assert_int_equal(tarpath_normalize("abcdefghij", small, sizeof small), TARPATH_TOO_LONG);
    assert_int_equal(tarpath_normalize("abcdefg", small, sizeof small), TARPATH_OK);
    assert_string_equal(small, "abcdefg");
    free(longp);
}

static void test_reasons(void **state)
{
    (void)state;
    assert_string_equal(tarpath_reason(TARPATH_ABSOLUTE), "absolute path");
    assert_non_null(strstr(tarpath_reason(TARPATH_DOTDOT), ".."));
}

static void test_quote(void **state)
{
    (void)state;
    char q[32];
    assert_string_equal(tarpath_quote("usr/bin/ls", q, sizeof q), "usr/bin/ls");
    assert_string_equal(tarpath_quote("a\nb\"c\\", q, sizeof q), "a\\x0ab\\x22c\\x5c");
    assert_string_equal(tarpath_quote(NULL, q, sizeof q), "(unnamed)");
    char longname[100];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    tarpath_quote(longname, q, sizeof q);
    assert_true(strlen(q) < sizeof q);
    assert_non_null(strstr(q, "..."));
}

static void test_symlink_escapes(void **state)
{
    (void)state;
    assert_true(tarpath_symlink_escapes("l", "/etc"));
    assert_true(tarpath_symlink_escapes("l", ""));
    assert_true(tarpath_symlink_escapes("l", ".."));
    assert_true(tarpath_symlink_escapes("a/l", "../.."));
    assert_true(tarpath_symlink_escapes("a/l", "b/../../../x"));
    assert_false(tarpath_symlink_escapes("a/l", ".."));
    assert_false(tarpath_symlink_escapes("lib", "usr/lib"));
    assert_false(tarpath_symlink_escapes("usr/sbin", "bin"));
    assert_false(tarpath_symlink_escapes("a/b/l", "../../c"));
    assert_false(tarpath_symlink_escapes("l", "."));
    assert_false(tarpath_symlink_escapes("a/l", "./x/../.."));
}

static void test_links_set(void **state)
{
    (void)state;
    tarpath_links s;
    tarpath_links_init(&s);
    char prefix[TARPATH_MAX + 1];
    assert_false(tarpath_links_through(&s, "a/b", prefix, sizeof prefix));
    assert_int_equal(tarpath_links_add(&s, "lib"), 0);
    assert_int_equal(tarpath_links_add(&s, "lib"), 0);
    assert_int_equal(tarpath_links_add(&s, "usr/sbin"), 0);
    assert_true(tarpath_links_has(&s, "lib"));
    assert_false(tarpath_links_has(&s, "li"));
    assert_false(tarpath_links_has(&s, "libx"));

    assert_true(tarpath_links_through(&s, "lib/x", prefix, sizeof prefix));
    assert_string_equal(prefix, "lib");
    assert_false(tarpath_links_through(&s, "lib", prefix, sizeof prefix)); /* the link itself */
    assert_false(tarpath_links_through(&s, "libx/y", prefix, sizeof prefix));
    assert_true(tarpath_links_through(&s, "usr/sbin/a/b", prefix, sizeof prefix));
    assert_string_equal(prefix, "usr/sbin");
    assert_false(tarpath_links_through(&s, "usr/bin/a", prefix, sizeof prefix));

    tarpath_links_remove(&s, "lib");
    tarpath_links_remove(&s, "nothing");
    assert_false(tarpath_links_has(&s, "lib"));
    assert_false(tarpath_links_through(&s, "lib/x", prefix, sizeof prefix));
    assert_true(tarpath_links_has(&s, "usr/sbin"));

    /* Growth, and re-adding after removal (tombstones). */
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "d%d/l", i);
        assert_int_equal(tarpath_links_add(&s, name), 0);
        if (i % 3 == 0)
            tarpath_links_remove(&s, name);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "d%d/l", i);
        assert_int_equal(tarpath_links_has(&s, name), i % 3 != 0);
    }
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 5000; i += 3) {
            snprintf(name, sizeof name, "d%d/l", i);
            assert_int_equal(tarpath_links_add(&s, name), 0);
            tarpath_links_remove(&s, name);
        }
    assert_true(tarpath_links_has(&s, "usr/sbin"));
    assert_true(tarpath_links_through(&s, "d1/l/x", prefix, sizeof prefix));
    assert_string_equal(prefix, "d1/l");
    assert_false(tarpath_links_through(&s, "d3/l/x", prefix, sizeof prefix));
    tarpath_links_free(&s);
    tarpath_links_free(&s); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize),     cmocka_unit_test(test_reject),
        cmocka_unit_test(test_lengths),       cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_symlink_escapes), cmocka_unit_test(test_links_set),
        cmocka_unit_test(test_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
