/* Variant data files: the parser (keys, lists, limits, errors with line numbers),
 * install specs, name validation, and the three shipped variant files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "variant.h"

static int parse(const char *text, variant *v, mk_err *err)
{
    return variant_parse(text, strlen(text), "t.ini", v, err);
}

static void test_minimal(void **state)
{
    (void)state;
    variant v;
    mk_err err;
    assert_int_equal(parse("[variant]\nname = x\nhostname = h\n", &v, &err), 0);
    assert_string_equal(v.name, "x");
    assert_string_equal(v.hostname, "h");
    assert_int_equal(v.console_baud, 115200); /* defaults */
    assert_true(v.lock_root);
    assert_int_equal(v.keep.n, 0);
    variant_free(&v);
}

static void test_lists_multiline_and_repeated(void **state)
{
    (void)state;
    const char *text = "[variant]\nname = d\nhostname = revm-d\n"
                       "[modules]\ninitramfs = virtio_pci virtio_blk\n\tbtrfs\n"
                       "rootfs = kernel/drivers/usb/ ext4\n"
                       "[rootfs]\n; comment\nkeep = /etc /usr/bin/*\n  /usr/lib/*.so*\n"
                       "keep = /dev\ndrop = /usr/share/doc\n"
                       "[services]\nenable = revm-probe agetty-ttyS0\n"
                       "[files]\ninstall = files/sv/p/run:/etc/sv/p/run:0755\n"
                       "[console]\ntty = hvc0\nbaud = 9600\n[accounts]\nlock_root = no\n";
    variant v;
    mk_err err;
    assert_int_equal(parse(text, &v, &err), 0);
    assert_int_equal(v.initramfs_modules.n, 3);
    assert_string_equal(v.initramfs_modules.v[2], "btrfs");
    assert_int_equal(v.rootfs_modules.n, 2);
    assert_string_equal(v.rootfs_modules.v[0], "kernel/drivers/usb/");
    assert_int_equal(v.keep.n, 4);
    assert_string_equal(v.keep.v[2], "/usr/lib/*.so*");
    assert_string_equal(v.keep.v[3], "/dev");
    assert_int_equal(v.drop.n, 1);
    assert_int_equal(v.enable.n, 2);
    assert_int_equal(v.install.n, 1);
    assert_string_equal(v.console_tty, "hvc0");
    assert_int_equal(v.console_baud, 9600);
    assert_false(v.lock_root);
    variant_free(&v);
}

/* Each bad file fails with one line naming the file and, where known, the line. */
static void expect_error(const char *text, const char *needle)
{
    variant v;
    mk_err err = {{0}};
    assert_int_equal(parse(text, &v, &err), -1);
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' lacks '%s'", err.msg, needle);
    assert_null(strchr(err.msg, '\n'));
    assert_ptr_equal(v.keep.v, NULL); /* freed */
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("[variant]\nname = x\nhostname = h\nbogus = 1\n", "t.ini:4: unknown key 'bogus'");
    expect_error("[variant]\nname = x\n", "needs name and hostname");
    expect_error("[variant]\nname = X\nhostname = h\n", "not a valid variant name");
    expect_error("[variant]\nname = x\nname = y\nhostname = h\n", "given twice");
    expect_error("[variant]\nname = x\nhostname = h h\n", "not a valid host name");
    expect_error("[variant]\nname = x\nhostname = h\n[rootfs]\nkeep = etc\n", "absolute path");
    expect_error("[variant]\nname = x\nhostname = h\n[rootfs]\nkeep = /usr/../etc\n", "'..'");
    expect_error("[variant]\nname = x\nhostname = h\n[modules]\ninitramfs = a/b\n",
                 "kernel module name");
    expect_error("[variant]\nname = x\nhostname = h\n[modules]\nrootfs = /abs/\n", "module name");
    expect_error("[variant]\nname = x\nhostname = h\n[modules]\nrootfs = kernel/../x\n", "'..'");
    expect_error("[variant]\nname = x\nhostname = h\n[services]\nenable = ../x\n", "service name");
    expect_error("[variant]\nname = x\nhostname = h\n[services]\nenable = a;rm\n", "service name");
    expect_error("[variant]\nname = x\nhostname = h\n[files]\ninstall = a:b\n", "absolute DEST");
    expect_error("[variant]\nname = x\nhostname = h\n[files]\ninstall = ../a:/b\n", "relative");
    expect_error("[variant]\nname = x\nhostname = h\n[files]\ninstall = a:/b:999\n", "octal");
    expect_error("[variant]\nname = x\nhostname = h\n[console]\nbaud = fast\n", "baud rate");
    expect_error("[variant]\nname = x\nhostname = h\n[accounts]\nlock_root = maybe\n", "yes or no");
    expect_error("[variant\nname = x\n", "t.ini:1:");
    expect_error("no section = 1\n", "unknown key");
    expect_error("[variant]\nname x\n", "t.ini:2: syntax error");
}

static void test_limits(void **state)
{
    (void)state;
    char line[400];
    memset(line, 'a', sizeof line);
    memcpy(line, "[variant]\nname = ", 17);
    line[sizeof line - 1] = 0;
    expect_error(line, "line longer than");

    variant v;
    mk_err err;
    char nul[] = "[variant]\nname = x\0hostname = h\n";
    assert_int_equal(variant_parse(nul, sizeof nul - 1, "t.ini", &v, &err), -1);
    assert_non_null(strstr(err.msg, "NUL"));

    /* More list items than allowed. */
    size_t cap = 600 * 8 + 100;
    char *big = malloc(cap);
    strcpy(big, "[variant]\nname = x\nhostname = h\n[services]\n");
    for (int i = 0; i < 600; i++)
        strcat(big, i % 20 ? " s" : "\nenable = s");
    assert_int_equal(parse(big, &v, &err), -1);
    assert_non_null(strstr(err.msg, "more than"));
    free(big);

    char *huge = calloc(1, VARIANT_FILE_MAX + 10);
    memset(huge, '\n', VARIANT_FILE_MAX + 5);
    assert_int_equal(variant_parse(huge, VARIANT_FILE_MAX + 5, "t.ini", &v, &err), -1);
    assert_non_null(strstr(err.msg, "larger than"));
    free(huge);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(variant_name_valid("driver"));
    assert_true(variant_name_valid("app-2_x"));
    assert_false(variant_name_valid(""));
    assert_false(variant_name_valid("2app"));
    assert_false(variant_name_valid("../etc/passwd"));
    assert_false(variant_name_valid("App"));
    assert_false(variant_name_valid("a/b"));
    assert_false(variant_name_valid("abcdefghijklmnopqrstuvwxyz0123456"));
    assert_true(variant_name_valid("abcdefghijklmnopqrstuvwxyz01234"));
}

static void test_install_spec(void **state)
{
    (void)state;
    char s[64], d[64];
    unsigned m;
    mk_err err;
    assert_int_equal(install_spec_parse("a/b:/usr/bin/x:0755", s, sizeof s, d, sizeof d, &m, &err), 0);
    assert_string_equal(s, "a/b");
    assert_string_equal(d, "/usr/bin/x");
    assert_int_equal(m, 0755);
    assert_int_equal(install_spec_parse("/host/f:/etc/f", s, sizeof s, d, sizeof d, &m, &err), 0);
    assert_string_equal(s, "/host/f");
    assert_string_equal(d, "/etc/f");
    assert_int_equal(m, 0644);
    assert_int_equal(install_spec_parse("f:/etc/", s, sizeof s, d, sizeof d, &m, &err), -1);
    assert_int_equal(install_spec_parse("f:/etc/../x", s, sizeof s, d, sizeof d, &m, &err), -1);
    assert_int_equal(install_spec_parse(":/x", s, sizeof s, d, sizeof d, &m, &err), -1);
    assert_int_equal(install_spec_parse("f:/x:-1", s, sizeof s, d, sizeof d, &m, &err), -1);
    assert_int_equal(install_spec_parse("f:/x:17777", s, sizeof s, d, sizeof d, &m, &err), -1);
}

/* The variant files shipped in the repository parse and mean what they say. */
static void test_shipped_variants(void **state)
{
    (void)state;
    const char *top = getenv("TOP");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/mkimage/variants", top ? top : "..");
    static const char *const names[] = {"driver", "filesystem", "app"};
    for (size_t i = 0; i < 3; i++) {
        variant v;
        mk_err err = {{0}};
        if (variant_load(dir, names[i], &v, &err) < 0)
            fail_msg("%s", err.msg);
        assert_string_equal(v.name, names[i]);
        assert_true(v.lock_root);
        assert_string_equal(v.console_tty, "ttyS0");
        assert_int_equal(v.console_baud, 115200);
        assert_true(v.initramfs_modules.n >= 4);
        bool probe = false;
        for (size_t k = 0; k < v.enable.n; k++)
            probe |= !strcmp(v.enable.v[k], "revm-probe");
        assert_true(probe);
        variant_free(&v);
    }
    variant v;
    mk_err err;
    assert_int_equal(variant_load(dir, "nosuch", &v, &err), -1);
    assert_non_null(strstr(err.msg, "variant nosuch: unknown"));
    assert_int_equal(variant_load(dir, "../variants/app", &v, &err), -1);
    assert_non_null(strstr(err.msg, "invalid name"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal),     cmocka_unit_test(test_lists_multiline_and_repeated),
        cmocka_unit_test(test_errors),      cmocka_unit_test(test_limits),
        cmocka_unit_test(test_names),       cmocka_unit_test(test_install_spec),
        cmocka_unit_test(test_shipped_variants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
