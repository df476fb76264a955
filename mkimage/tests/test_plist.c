/* The XML plist parser: xbps-shaped documents, entities, base64 data, and malformed
 * or hostile input (every failure explains itself; nothing crashes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plist.h"

/* Parses a copy of text (the parser writes into its buffer). */
static int parse(const char *text, char **buf, plist *p, mk_err *err)
{
    *buf = strdup(text);
    assert_non_null(*buf);
    return plist_parse(*buf, strlen(text), p, err);
}

static void test_xbps_shape(void **state)
{
    (void)state;
    const char *doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<!DOCTYPE plist PUBLIC \"-//Apple Computer//DTD PLIST 1.0//EN\" "
        "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
        "<plist version=\"1.0\">\n<dict>\n"
        "\t<key>linux6.12</key>\n\t<dict>\n"
        "\t\t<key>pkgver</key>\n\t\t<string>linux6.12-6.12.11_1</string>\n"
        "\t\t<key>filename-size</key>\n\t\t<integer>123456</integer>\n"
        "\t\t<key>run_depends</key>\n\t\t<array>\n\t\t\t<string>a&gt;=1</string>\n"
        "\t\t\t<string>b&amp;c&#65;&#x42;</string>\n\t\t</array>\n"
        "\t\t<key>preserve</key>\n\t\t<true/>\n"
        "\t\t<key>empty</key>\n\t\t<string/>\n"
        "\t\t<key>blob</key>\n\t\t<data>aGVs\n bG8=</data>\n"
        "\t</dict>\n<!-- a comment -->\n</dict>\n</plist>\n";
    char *buf;
    plist p;
    mk_err err = {""};
    assert_int_equal(parse(doc, &buf, &p, &err), 0);
    uint32_t d = plist_dict_get(&p, 1, "linux6.12");
    assert_int_not_equal(d, 0);
    assert_string_equal(plist_text(&p, plist_dict_get(&p, d, "pkgver"), PLIST_STRING, NULL),
                        "linux6.12-6.12.11_1");
    uint64_t v = 0;
    assert_int_equal(plist_uint(&p, plist_dict_get(&p, d, "filename-size"), &v), 0);
    assert_true(v == 123456);
    uint32_t arr = plist_dict_get(&p, d, "run_depends");
    assert_int_equal(p.n[arr].type, PLIST_ARRAY);
    uint32_t a0 = p.n[arr].first, a1 = p.n[a0].next;
    assert_string_equal(p.n[a0].text, "a>=1");
    assert_string_equal(p.n[a1].text, "b&cAB");
    assert_int_equal(p.n[a1].next, 0);
    assert_int_equal(p.n[plist_dict_get(&p, d, "preserve")].type, PLIST_TRUE);
    assert_string_equal(plist_text(&p, plist_dict_get(&p, d, "empty"), PLIST_STRING, NULL), "");
    size_t n = 0;
    const char *blob = plist_text(&p, plist_dict_get(&p, d, "blob"), PLIST_DATA, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(blob, "hello", 5);
    /* Wrong type, missing key: no value. */
    assert_null(plist_text(&p, plist_dict_get(&p, d, "pkgver"), PLIST_DATA, NULL));
    assert_int_equal(plist_dict_get(&p, d, "nope"), 0);
    assert_int_equal(plist_uint(&p, plist_dict_get(&p, d, "pkgver"), &v), -1);
    plist_free(&p);
    free(buf);
}

static void test_iteration_and_repeats(void **state)
{
    (void)state;
    char *buf;
    plist p;
    mk_err err = {""};
    assert_int_equal(parse("<dict><key>a</key><integer>1</integer><key>b</key><dict/>"
                           "<key>a</key><integer>0x10</integer></dict>", &buf, &p, &err), 0);
    uint32_t it = 0, k, v, count = 0;
    while (plist_dict_next(&p, 1, &it, &k, &v))
        count++;
    assert_int_equal(count, 3);
    uint64_t x;
    assert_int_equal(plist_uint(&p, plist_dict_get(&p, 1, "a"), &x), 0); /* the last one */
    assert_true(x == 16);
    assert_false(plist_dict_next(&p, plist_dict_get(&p, 1, "b"), &(uint32_t){0}, &k, &v));
    plist_free(&p);
    free(buf);
}

static void expect_bad(const char *doc, const char *needle)
{
    char *buf;
    plist p;
    mk_err err = {""};
    assert_int_equal(parse(doc, &buf, &p, &err), -1);
    if (!strstr(err.msg, needle))
        fail_msg("'%s': error '%s' lacks '%s'", doc, err.msg, needle);
    assert_null(p.n);
    free(buf);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_bad("", "expected an element");
    expect_bad("<dict>", "expected an element");
    expect_bad("<dict><key>a</key></dict>", "unknown or malformed");
    expect_bad("<dict><string>x</string></dict>", "expected a key");
    expect_bad("<string>x</strin>", "expected </string>");
    expect_bad("<string>x", "unterminated text");
    expect_bad("<string>a&bogus;</string>", "invalid character reference");
    expect_bad("<string>&#0;</string>", "invalid character reference");
    expect_bad("<string>&#xD800;</string>", "invalid character reference");
    expect_bad("<string>&#99999999999;</string>", "invalid character reference");
    expect_bad("<data>a=b=</data>", "invalid base64");
    expect_bad("<data>abc</data>", "invalid base64");
    expect_bad("<data>a!cd</data>", "invalid base64");
    expect_bad("<key>a</key>", "key outside a dict");
    expect_bad("<plist><dict/>", "expected </plist>");
    expect_bad("<dict/><dict/>", "trailing data");
    expect_bad("<!-- open", "unterminated comment");
    expect_bad("<true>", "expected </true>");
    expect_bad("<foo/>", "unknown or malformed");
    char nul[] = "<string>a\0b</string>";
    char *buf = malloc(sizeof nul);
    memcpy(buf, nul, sizeof nul);
    plist p;
    mk_err err = {""};
    assert_int_equal(plist_parse(buf, sizeof nul - 1, &p, &err), -1);
    assert_non_null(strstr(err.msg, "NUL"));
    free(buf);
}

static void test_depth_limit(void **state)
{
    (void)state;
    char doc[4096] = "";
    for (int i = 0; i < PLIST_MAX_DEPTH + 5; i++)
        strcat(doc, "<array>");
    expect_bad(doc, "nested too deeply");
    /* At the limit it parses. */
    doc[0] = 0;
    for (int i = 0; i <= PLIST_MAX_DEPTH; i++)
        strcat(doc, "<array>");
    for (int i = 0; i <= PLIST_MAX_DEPTH; i++)
        strcat(doc, "</array>");
    char *buf;
    plist p;
    mk_err err = {""};
    assert_int_equal(parse(doc, &buf, &p, &err), 0);
    plist_free(&p);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xbps_shape),
        cmocka_unit_test(test_iteration_and_repeats),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
