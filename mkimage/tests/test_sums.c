/* Checksum-list parsing: Void's BSD style, GNU sha256sum style (text, binary,
 * escaped names), openssl's "SHA256(f)= hex", and hostile or confusing lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sums.h"

#define H1 "27b2945ea7e2ca2a6ab123ce6f284b255adea2182820da25483d700ffe16e7c2"
#define H2 "3f48e6673ac5907a897d913c97eb96edbfb230162731b4016562c51b3b8f1876"
#define ROOTFS "void-x86_64-musl-ROOTFS-20250202.tar.xz"

static int lookup(const char *text, const char *name, char out[65], mk_err *err)
{
    return sums_lookup(text, strlen(text), name, out, err);
}

static void expect(const char *text, const char *name, const char *want)
{
    char out[65] = "";
    mk_err err = {""};
    assert_int_equal(lookup(text, name, out, &err), 0);
    assert_string_equal(out, want);
}

static void expect_missing(const char *text, const char *name)
{
    char out[65] = "unchanged";
    mk_err err = {""};
    assert_int_equal(lookup(text, name, out, &err), -1);
    assert_string_equal(out, "unchanged");
    char want[256];
    snprintf(want, sizeof want, "%s: no SHA-256 entry in the checksum list", name);
    assert_string_equal(err.msg, want);
}

static void test_bsd_style(void **state)
{
    (void)state;
    const char *void_list = "SHA256 (void-x86_64-ROOTFS-20250202.tar.xz) = " H2 "\n"
                            "SHA256 (" ROOTFS ") = " H1 "\n"
                            "SHA256 (void-live-x86_64-20250202-base.iso) = " H2 "\n";
    expect(void_list, ROOTFS, H1);
    expect(void_list, "void-x86_64-ROOTFS-20250202.tar.xz", H2);
    expect("SHA256(" ROOTFS ")= " H1 "\n", ROOTFS, H1);      /* openssl dgst */
    expect("SHA256 (" ROOTFS ") = " H1, ROOTFS, H1);         /* no final newline */
    expect("SHA256 (" ROOTFS ") = " H1 "\r\n", ROOTFS, H1);  /* CRLF */
    expect("SHA256 (" ROOTFS ") = " H1 "  \t\n", ROOTFS, H1); /* trailing blanks */
    expect("SHA256 (./" ROOTFS ") = " H1 "\n", ROOTFS, H1);
    /* A name containing the separator itself. */
    expect("SHA256 (odd) = name) = " H2 "\n", "odd) = name", H2);
}

static void test_gnu_style(void **state)
{
    (void)state;
    expect(H1 "  " ROOTFS "\n", ROOTFS, H1);
    expect(H1 " *" ROOTFS "\n", ROOTFS, H1);
    expect(H1 "  ./" ROOTFS "\n", ROOTFS, H1);
    expect(H1 "  a b.tar\n", "a b.tar", H1);
    /* Escaped names: sha256sum writes "\HEX  NAME" with \\ and \n escapes. */
    expect("\\" H1 "  back\\\\slash\n", "back\\slash", H1);
    expect("\\" H1 "  new\\nline\n", "new\nline", H1);
    expect_missing("\\" H1 "  bad\\xescape\n", "bad\\xescape");
}

static void test_case_and_mixed(void **state)
{
    (void)state;
    char upper[] = H1;
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    char text[256];
    snprintf(text, sizeof text, "SHA256 (%s) = %s\n", ROOTFS, upper);
    expect(text, ROOTFS, H1); /* always reported lowercase */
    expect("# comment\n\nSHA512 (" ROOTFS ") = " H2 H2 "\n" H2 "  other\n"
           "SHA256 (" ROOTFS ") = " H1 "\n",
           ROOTFS, H1);
    /* The same digest listed twice (both styles) is fine. */
    expect("SHA256 (" ROOTFS ") = " H1 "\n" H1 "  " ROOTFS "\n", ROOTFS, H1);
}

static void test_no_false_matches(void **state)
{
    (void)state;
    const char *list = "SHA256 (" ROOTFS ".sig) = " H2 "\n"
                       "SHA256 (x" ROOTFS ") = " H2 "\n"
                       "SHA256 (dir/" ROOTFS ") = " H2 "\n"
                       H2 "  " ROOTFS "2\n";
    expect_missing(list, ROOTFS);
    expect_missing("", ROOTFS);
    expect_missing("SHA256 (" ROOTFS ") = " H1 "0\n", ROOTFS);          /* 65 digits */
    expect_missing("SHA256 (" ROOTFS ") = " "0123456789abcdef\n", ROOTFS); /* short */
    expect_missing("SHA256 (" ROOTFS ") = g" H1 "\n", ROOTFS);
    expect_missing("SHA256 () = " H1 "\n", "");
    expect_missing("SHA1 (" ROOTFS ") = " H1 "\n", ROOTFS);
    expect_missing(H1 "\t" ROOTFS "\n", ROOTFS);
    expect_missing(H1 ROOTFS "\n", ROOTFS);
}

static void test_conflicting_entries(void **state)
{
    (void)state;
    char out[65];
    mk_err err = {""};
    const char *list = "SHA256 (" ROOTFS ") = " H1 "\nSHA256 (" ROOTFS ") = " H2 "\n";
    assert_int_equal(lookup(list, ROOTFS, out, &err), -1);
    assert_string_equal(err.msg, ROOTFS ": conflicting SHA-256 entries in the checksum list");
}

static void test_length_is_respected(void **state)
{
    (void)state;
    /* Text is not NUL-terminated: only len bytes may be read. */
    const char full[] = "SHA256 (" ROOTFS ") = " H1 "\n";
    size_t len = strlen(full);
    char *exact = malloc(len);
    memcpy(exact, full, len);
    char out[65];
    mk_err err = {""};
    assert_int_equal(sums_lookup(exact, len, ROOTFS, out, &err), 0);
    assert_string_equal(out, H1);
    assert_int_equal(sums_lookup(exact, len - 2, ROOTFS, out, &err), -1); /* cut digest */
    free(exact);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bsd_style),          cmocka_unit_test(test_gnu_style),
        cmocka_unit_test(test_case_and_mixed),     cmocka_unit_test(test_no_false_matches),
        cmocka_unit_test(test_conflicting_entries), cmocka_unit_test(test_length_is_respected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
