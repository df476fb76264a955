/* The per-variant JSON report: valid JSON (checked with python3's parser when
 * available), escaping of odd bytes in paths, every stage present; and the summary
 * table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "report.h"

static variant_report sample(changelog *log)
{
    changelog_add(log, "/etc/hostname");
    changelog_add(log, "/odd \"name\"\\\n\xff");
    changelog_add(log, "/etc/hostname"); /* duplicate: recorded once */
    variant_report r = {
        .variant = "app", .hostname = "revm-app", .rootfs_url = "http://h/x.tar.xz",
        .rootfs_sha256 = "ab", .rootfs_blake3 = "cd", .kernel_version = "6.1", .fs = "btrfs",
        .seed = "ef", .files = 3, .entries = 9, .staged_bytes = 1234, .qcow2_bytes = 99,
        .qcow2_sha256 = "0123456789abcdef0123", .changes = log,
    };
    r.seconds[STAGE_DISK] = 1.5;
    return r;
}

static void test_json(void **state)
{
    (void)state;
    changelog log = {0};
    variant_report r = sample(&log);
    assert_int_equal(log.n, 2);
    char *j = report_json(&r);
    assert_non_null(j);
    assert_non_null(strstr(j, "\"variant\": \"app\""));
    assert_non_null(strstr(j, "\"disk\": 1.500"));
    for (int s = 0; s < STAGE_COUNT; s++)
        assert_non_null(strstr(j, report_stage_name(s)));
    assert_non_null(strstr(j, "\"/odd \\\"name\\\"\\\\\\u000a\\u00ff\""));
    assert_non_null(strstr(j, "\"kernel_package\": null")); /* --kernel: no package */
    r.kernel_pkg_name = "linux6.12";
    r.kernel_pkg_version = "6.12.11_1";
    r.kernel_pkg_url = "http://h/linux6.12-6.12.11_1.x86_64-musl.xbps";
    r.kernel_pkg_sha256 = "aa";
    r.kernel_pkg_blake3 = "bb";
    r.kernel_pkg_key = "60:ae";
    char *jk = report_json(&r);
    assert_non_null(jk);
    assert_non_null(strstr(jk, "\"kernel_package\": {\"name\": \"linux6.12\", \"version\": "
                               "\"6.12.11_1\", \"source\": \"http://h/linux6.12-6.12.11_1."
                               "x86_64-musl.xbps\", \"sha256\": \"aa\", \"blake3\": \"bb\", "
                               "\"signed_by\": \"60:ae\"}"));
    free(jk);
    const char *build = getenv("BUILD");
    char path[4096];
    snprintf(path, sizeof path, "%s/tmp/test_report.%d.json", build ? build : "/tmp", (int)getpid());
    mk_err err;
    assert_int_equal(report_write(path, &r, &err), 0); /* with the package: valid JSON too */
    if (system("command -v python3 >/dev/null 2>&1") == 0) {
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "python3 -c 'import json,sys; json.load(open(sys.argv[1]))' '%s'",
                 path);
        assert_int_equal(system(cmd), 0);
    }
    unlink(path);
    free(j);
    changelog_free(&log);
}

static void test_table(void **state)
{
    (void)state;
    changelog log = {0};
    variant_report r[2] = {sample(&log), sample(&log)};
    r[1].variant = "driver";
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    report_print_table(f, r, 2);
    fclose(f);
    assert_non_null(strstr(buf, "variant"));
    assert_non_null(strstr(buf, "app "));
    assert_non_null(strstr(buf, "driver "));
    assert_non_null(strstr(buf, "1.2 KiB"));
    assert_non_null(strstr(buf, "0123456789abcdef "));
    free(buf);
    changelog_free(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_json), cmocka_unit_test(test_table)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
