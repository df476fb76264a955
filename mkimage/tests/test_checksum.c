/* hash_file: SHA-256 and BLAKE3 in one pass, checked against known digests and
 * against the sha256sum and b3sum commands; digest string validation. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "checksum.h"

static char path[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    const char *build = getenv("BUILD");
    char dir[PATH_MAX - 64]; /* leaves room for the file name */
    snprintf(dir, sizeof dir, "%s/tmp", build ? build : "/tmp");
    mkdir(dir, 0755); /* may exist already */
    snprintf(path, sizeof path, "%s/test_checksum.%ld", dir, (long)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static void write_file(const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void command_digest(const char *tool, char out[65])
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "%s '%s'", tool, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[256] = "";
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_equal(pclose(p), 0);
    memcpy(out, line, 64);
    out[64] = 0;
}

static void test_known_digests(void **state)
{
    (void)state;
    char sha[65], b3[65];
    mk_err err = {""};
    write_file("", 0);
    assert_int_equal(hash_file(path, sha, b3, &err), 0);
    assert_string_equal(sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_string_equal(b3, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
    write_file("abc", 3);
    assert_int_equal(hash_file(path, sha, b3, &err), 0);
    assert_string_equal(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(b3, "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
    /* Either digest may be skipped. */
    assert_int_equal(hash_file(path, NULL, b3, &err), 0);
    assert_int_equal(hash_file(path, sha, NULL, &err), 0);
}

static void test_matches_tools_on_large_file(void **state)
{
    (void)state;
    if (system("command -v b3sum >/dev/null && command -v sha256sum >/dev/null") != 0)
        skip();
    /* Larger than the read buffer and not a multiple of it or of a chunk, */
    size_t n = (9u << 20) + 12345; /* also above the threaded-hashing threshold */
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    write_file(buf, n);
    free(buf);
    char sha[65], b3[65], want_sha[65], want_b3[65];
    mk_err err = {""};
    assert_int_equal(hash_file(path, sha, b3, &err), 0);
    command_digest("sha256sum", want_sha);
    command_digest("b3sum", want_b3);
    assert_string_equal(sha, want_sha);
    assert_string_equal(b3, want_b3);
}

static void test_errors(void **state)
{
    (void)state;
    char sha[65], b3[65];
    mk_err err = {""};
    assert_int_equal(hash_file("/nonexistent/x.tar.xz", sha, b3, &err), -1);
    assert_string_equal(err.msg, "/nonexistent/x.tar.xz: cannot open: No such file or directory");
    assert_int_equal(hash_file("/", sha, b3, &err), -1);
    assert_string_equal(err.msg, "/: not a regular file");
}

static void test_normalize(void **state)
{
    (void)state;
    char out[65] = "";
    assert_true(sha256_hex_normalize(
        "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", out));
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    strcpy(out, "unchanged");
    assert_false(sha256_hex_normalize("", out));
    assert_false(sha256_hex_normalize("ba7816bf", out));
    assert_false(sha256_hex_normalize(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0", out));
    assert_false(sha256_hex_normalize(
        "ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", out));
    assert_false(sha256_hex_normalize(
        " a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", out));
    assert_string_equal(out, "unchanged");

    char h[65];
    sha256_hex_of("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_digests),
        cmocka_unit_test(test_matches_tools_on_large_file),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_normalize),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
