/* cpio newc writer: archives are read back with libarchive and with cpio(1), and
 * the same input must give the same bytes. */
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

#include <archive.h>
#include <archive_entry.h>

#include "cpio.h"
#include "test_support.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return ts_scratch_dir(tmpdir, sizeof tmpdir, "test_cpio");
}

static int teardown(void **state)
{
    (void)state;
    return ts_remove_tree(tmpdir);
}

/* Writes the sample archive used by most tests; with_node adds /dev/console. */
static void write_sample(const char *path, uint32_t mtime, int with_node)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    cpio_writer *w = malloc(sizeof *w);
    assert_non_null(w);
    mk_err err = {{0}};
    cpio_begin(w, fileno(f), mtime, path);
    assert_int_equal(cpio_add_dir(w, "dev", 0755, &err), 0);
    if (with_node)
        assert_int_equal(cpio_add_node(w, "/dev/console", S_IFCHR | 0600, 5, 1, &err), 0);
    assert_int_equal(cpio_add_dir(w, "etc", 0755, &err), 0);
    /* data lengths 0..5 exercise every padding case */
    static const char *const names[] = {"etc/a", "etc/bb", "etc/ccc", "etc/dddd", "etc/eeeee",
                                        "etc/ffffff"};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(cpio_add_file(w, names[i], 0644, "hello", i, &err), 0);
    assert_int_equal(cpio_add_file(w, "init", 04755, "#!/bin/sh\n", 10, &err), 0);
    assert_int_equal(cpio_add_symlink(w, "bin", "usr/bin", &err), 0);
    assert_int_equal(cpio_finish(w, &err), 0);
    assert_int_equal(fclose(f), 0);
    free(w);
}

/* The archive written at path, which must exist. */
static unsigned char *slurp(const char *path, size_t *len)
{
    unsigned char *b = ts_slurp(path, len);
    assert_non_null(b);
    return b;
}

static void test_header_layout(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/layout.cpio", tmpdir);
    write_sample(path, 1234, 1);
    size_t len;
    unsigned char *b = slurp(path, &len);
    assert_true(len > 110);
    assert_int_equal(len % 512, 0);
    assert_memory_equal(b, "070701", 6);
    /* first entry: ino 1, mode 040755, uid 0, gid 0, nlink 2, mtime 0x4d2 */
    assert_memory_equal(b + 6, "00000001000041ED000000000000000000000002000004D2", 48);
    /* name "dev\0" right after the 110-byte header, then padding to 116 */
    assert_memory_equal(b + 110, "dev\0", 4);
    assert_memory_equal(b + 116, "070701", 6);
    /* the trailer is there */
    assert_non_null(memmem(b, len, "TRAILER!!!", 11));
    free(b);
}

static void test_read_back_libarchive(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/la.cpio", tmpdir);
    write_sample(path, 1700000000u, 1);
    struct archive *a = archive_read_new();
    archive_read_support_format_cpio(a);
    assert_int_equal(archive_read_open_filename(a, path, 4096), ARCHIVE_OK);
    struct archive_entry *e;
    int count = 0;
    int64_t last_ino = 0;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        assert_int_equal(archive_entry_uid(e), 0);
        assert_int_equal(archive_entry_gid(e), 0);
        assert_int_equal(archive_entry_mtime(e), 1700000000);
        assert_true(archive_entry_ino64(e) == last_ino + 1);
        last_ino = archive_entry_ino64(e);
        if (strcmp(name, "dev/console") == 0) {
            assert_int_equal(archive_entry_filetype(e), AE_IFCHR);
            assert_int_equal(archive_entry_rdevmajor(e), 5);
            assert_int_equal(archive_entry_rdevminor(e), 1);
        } else if (strcmp(name, "init") == 0) {
            assert_int_equal(archive_entry_filetype(e), AE_IFREG);
            assert_int_equal(archive_entry_perm(e), 04755);
            char buf[32];
            assert_int_equal(archive_read_data(a, buf, sizeof buf), 10);
            assert_memory_equal(buf, "#!/bin/sh\n", 10);
        } else if (strcmp(name, "bin") == 0) {
            assert_int_equal(archive_entry_filetype(e), AE_IFLNK);
            assert_string_equal(archive_entry_symlink(e), "usr/bin");
        } else if (strncmp(name, "etc/", 4) == 0 && strlen(name) > 4) {
            size_t want = strlen(name) - 5;
            assert_int_equal(archive_entry_size(e), want);
            char buf[16];
            assert_int_equal(archive_read_data(a, buf, sizeof buf), (la_ssize_t)want);
            assert_memory_equal(buf, "hello", want);
        }
        count++;
    }
    assert_int_equal(count, 11);
    archive_read_free(a);
}

static char *run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    return out;
}

static void test_read_back_cpio_tool(void **state)
{
    (void)state;
    if (system("command -v cpio >/dev/null 2>&1") != 0)
        skip();
    char path[300], cmd[1024];
    snprintf(path, sizeof path, "%s/tool.cpio", tmpdir);
    write_sample(path, 0, 0);
    snprintf(cmd, sizeof cmd, "cpio -t --quiet < '%s'", path);
    assert_string_equal(run(cmd), "dev\netc\netc/a\netc/bb\netc/ccc\netc/dddd\netc/eeeee\n"
                                  "etc/ffffff\ninit\nbin\n");
    snprintf(cmd, sizeof cmd,
             "cd '%s' && mkdir x && cd x && cpio -id --quiet --no-absolute-filenames < ../tool.cpio"
             " && cat etc/eeeee init && readlink bin",
             tmpdir);
    assert_string_equal(run(cmd), "hell#!/bin/sh\nusr/bin\n"); /* etc/eeeee holds 4 bytes */
}

static void test_deterministic(void **state)
{
    (void)state;
    char p1[300], p2[300];
    snprintf(p1, sizeof p1, "%s/d1.cpio", tmpdir);
    snprintf(p2, sizeof p2, "%s/d2.cpio", tmpdir);
    write_sample(p1, 42, 1);
    write_sample(p2, 42, 1);
    size_t l1, l2;
    unsigned char *b1 = slurp(p1, &l1), *b2 = slurp(p2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    free(b1);
    free(b2);
}

static void test_errors(void **state)
{
    (void)state;
    cpio_writer *w = malloc(sizeof *w);
    assert_non_null(w);
    mk_err err = {{0}};
    cpio_begin(w, -1, 0, "bad.cpio");
    assert_int_equal(cpio_add_file(w, "", 0644, "x", 1, &err), -1);
    assert_non_null(strstr(err.msg, "invalid entry name"));
    assert_int_equal(cpio_add_node(w, "dev/x", S_IFREG | 0644, 1, 1, &err), -1);
    assert_int_equal(cpio_add_file(w, "x", 0644, "x", 1, &err), 0); /* buffered */
    assert_int_equal(cpio_finish(w, &err), -1);                      /* fd -1: write fails */
    assert_non_null(strstr(err.msg, "bad.cpio: write"));
    free(w);
}

static void test_large_file_spans_buffer(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/big.cpio", tmpdir);
    size_t n = 200001; /* several times the writer's buffer, odd length */
    unsigned char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 7);
    FILE *f = fopen(path, "wb");
    cpio_writer *w = malloc(sizeof *w);
    mk_err err = {{0}};
    cpio_begin(w, fileno(f), 0, path);
    assert_int_equal(cpio_add_file(w, "big", 0644, data, n, &err), 0);
    assert_int_equal(cpio_finish(w, &err), 0);
    fclose(f);
    free(w);
    struct archive *a = archive_read_new();
    archive_read_support_format_cpio(a);
    assert_int_equal(archive_read_open_filename(a, path, 4096), ARCHIVE_OK);
    struct archive_entry *e;
    assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
    unsigned char *back = malloc(n + 16);
    size_t got = 0;
    la_ssize_t r;
    while ((r = archive_read_data(a, back + got, n + 16 - got)) > 0)
        got += (size_t)r;
    assert_int_equal(got, n);
    assert_memory_equal(back, data, n);
    archive_read_free(a);
    free(back);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_layout),
        cmocka_unit_test(test_read_back_libarchive),
        cmocka_unit_test(test_read_back_cpio_tool),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_large_file_spans_buffer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
