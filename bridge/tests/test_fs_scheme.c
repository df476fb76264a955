/* The filesystem service as a Redox scheme (fs/fsc_scheme.c), driven by the scheme harness
 * with real request packets, over the real guest helper serving a temporary directory:
 * open/read/write/create, getdents, fstat, rename, unlink, the uid checks the scheme makes
 * for Redox callers, and paths that try to leave the volume. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fsc_scheme.h"
#include "rb_svc.h"
#include "scheme_harness.h"

static char dir[256], vol[300];
static rb_svc *svc;
static fsc *c;
static scheme_harness *h;

static char *test_bin(const char *name)
{
    const char *b = getenv("BUILD");
    static char p[4096];
    snprintf(p, sizeof p, "%s/tests/bin/%s", b ? b : "build", name);
    return p;
}

static void put(const char *rel, const char *text, mode_t mode)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", vol, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(p, mode);
}

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/revm-test-fss.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(vol, sizeof vol, "%s/vol", dir);
    mkdir(vol, 0755);
    char p[600];
    snprintf(p, sizeof p, "%s/outside", dir);
    FILE *f = fopen(p, "w");
    fputs("secret", f);
    fclose(f);
    put("hello.txt", "hello", 0644);
    put("private", "root only", 0600);
    snprintf(p, sizeof p, "%s/sub", vol);
    mkdir(p, 0755);
    put("sub/a", "A", 0644);
    snprintf(p, sizeof p, "%s/etc", vol);
    symlink("/etc", p); /* absolute: resolved at the volume root, where etc is this link */
    snprintf(p, sizeof p, "%s/shared", vol);
    mkdir(p, 0777);
    chmod(p, 0777);
    char err[256];
    char *argv[] = {test_bin("revm-guestd"), "--service", "fs", vol, NULL};
    svc = rb_svc_spawn_local(argv, NULL, err, sizeof err);
    if (!svc)
        return -1;
    c = fsc_new(rb_svc_fd(svc), false, 10000, err, sizeof err);
    if (!c)
        return -1;
    h = scheme_harness_new("ext4.test", &fsc_scheme_ops, c, 0);
    return h ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    scheme_harness_free(h);
    fsc_free(c);
    rb_svc_close(svc);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#define RD scheme_h_flags(SCHEME_OPEN_READ, 0)

static void read_and_stat(void **st)
{
    (void)st;
    scheme_h_set_caller(h, 0, 0, 1);
    int64_t fd = scheme_h_open(h, "hello.txt", RD);
    assert_true(fd > 0);
    assert_int_equal(scheme_h_last_fd_flags(h) & SCHEME_FD_POSITIONED, SCHEME_FD_POSITIONED);
    char buf[32];
    assert_int_equal(scheme_h_read(h, fd, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(scheme_h_read(h, fd, buf, sizeof buf, 3), 2);
    scheme_stat s;
    assert_int_equal(scheme_h_fstat(h, fd, &s), 0);
    assert_int_equal(s.size, 5);
    assert_int_equal(s.mode & SCHEME_MODE_TYPE, SCHEME_MODE_FILE);
    assert_int_equal(s.mode & 0777, 0644);
    assert_int_equal(scheme_h_fsize(h, fd), 5);
    scheme_statvfs v;
    assert_int_equal(scheme_h_fstatvfs(h, fd, &v), 0);
    assert_true(v.bsize > 0 && v.blocks > 0);
    scheme_h_close(h, fd);
    /* a directory relative to an open directory */
    int64_t d = scheme_h_open(h, "sub", RD | scheme_h_flags(SCHEME_OPEN_DIRECTORY, 0));
    assert_true(d > 0);
    fd = scheme_h_openat(h, (uint64_t)d, "a", RD);
    assert_true(fd > 0);
    assert_int_equal(scheme_h_read(h, fd, buf, sizeof buf, 0), 1);
    scheme_h_close(h, fd);
    scheme_h_close(h, d);
    assert_int_equal(scheme_h_open(h, "hello.txt", RD | scheme_h_flags(SCHEME_OPEN_DIRECTORY, 0)), -ENOTDIR);
    assert_int_equal(scheme_h_open(h, "missing", RD), -ENOENT);
}

static void listing(void **st)
{
    (void)st;
    scheme_h_set_caller(h, 0, 0, 1);
    scheme_h_dirent ents[16];
    int64_t n = scheme_h_readdir(h, scheme_h_root(h), 4096, ents, 16);
    assert_int_equal(n, 5); /* hello.txt private sub etc shared; never ../outside */
    int64_t d = scheme_h_open(h, "sub", RD);
    n = scheme_h_readdir(h, (uint64_t)d, 64, ents, 16); /* tiny buffer: one entry per call */
    assert_int_equal(n, 1);
    assert_string_equal(ents[0].name, "a");
    assert_int_equal(ents[0].kind, SCHEME_DT_REG);
    scheme_h_close(h, d);
}

static void no_escape(void **st)
{
    (void)st;
    scheme_h_set_caller(h, 0, 0, 1);
    /* the scheme layer clamps ".." at the root; the adapter resolves links in the volume */
    assert_int_equal(scheme_h_open(h, "../outside", RD), -ENOENT);
    /* clamped to the volume's etc/passwd: etc is the volume's own link */
    assert_int_equal(scheme_h_open(h, "../../../../etc/passwd", RD), -ELOOP);
    assert_int_equal(scheme_h_open(h, "etc/passwd", RD), -ELOOP); /* etc -> /etc -> itself */
    int64_t fd = scheme_h_open(h, "etc", scheme_h_flags(SCHEME_OPEN_STAT | SCHEME_OPEN_NOFOLLOW, 0));
    assert_true(fd > 0);
    scheme_stat s;
    assert_int_equal(scheme_h_fstat(h, fd, &s), 0);
    assert_int_equal(s.mode & SCHEME_MODE_TYPE, SCHEME_MODE_SYMLINK);
    scheme_h_close(h, fd);
}

static void create_write_rename_unlink(void **st)
{
    (void)st;
    scheme_h_set_caller(h, 1000, 1000, 7);
    uint64_t fl = scheme_h_flags(SCHEME_OPEN_READ | SCHEME_OPEN_WRITE | SCHEME_OPEN_CREATE, 0640);
    int64_t fd = scheme_h_open(h, "shared/mine", fl);
    assert_true(fd > 0);
    assert_int_equal(scheme_h_write(h, fd, "0123456789", 10, 0), 10);
    assert_int_equal(scheme_h_ftruncate(h, fd, 4), 0);
    char buf[16];
    assert_int_equal(scheme_h_read(h, fd, buf, sizeof buf, 0), 4);
    scheme_stat s;
    assert_int_equal(scheme_h_fstat(h, fd, &s), 0);
    assert_int_equal(s.uid, 1000); /* created with the caller's ids */
    assert_int_equal(s.mode & 0777, 0640);
    assert_int_equal(scheme_h_fchmod(h, fd, 0600), 0);
    assert_int_equal(scheme_h_fchown(h, fd, 0, 0), -EPERM);
    scheme_timespec t[2] = {{1000, 5}, {2000, 6}};
    assert_int_equal(scheme_h_futimens(h, fd, t, 2), 0);
    assert_int_equal(scheme_h_fstat(h, fd, &s), 0);
    assert_int_equal(s.mtime, 2000);
    assert_int_equal(s.mtime_nsec, 6);
    assert_int_equal(scheme_h_frename(h, fd, "shared/renamed"), 0);
    char path[256];
    assert_true(scheme_h_fpath(h, fd, path, sizeof path) > 0);
    assert_non_null(strstr(path, "shared/renamed"));
    scheme_h_close(h, fd);
    assert_int_equal(scheme_h_open(h, "shared/renamed", scheme_h_flags(SCHEME_OPEN_CREATE | SCHEME_OPEN_EXCL | SCHEME_OPEN_WRITE, 0600)), -EEXIST);
    assert_int_equal(scheme_h_unlinkat(h, scheme_h_root(h), "shared/renamed", 0), 0);
    assert_int_equal(scheme_h_open(h, "shared/renamed", RD), -ENOENT);
    /* mkdir through open(O_CREAT|O_DIRECTORY), rmdir through unlinkat */
    fd = scheme_h_open(h, "shared/d", scheme_h_flags(SCHEME_OPEN_CREATE | SCHEME_OPEN_DIRECTORY | SCHEME_OPEN_READ, 0755));
    assert_true(fd > 0);
    scheme_h_close(h, fd);
    assert_int_equal(scheme_h_unlinkat(h, scheme_h_root(h), "shared/d", SCHEME_RAW_AT_REMOVEDIR), 0);
}

static void uid_checks(void **st)
{
    (void)st;
    scheme_h_set_caller(h, 1000, 1000, 7);
    assert_int_equal(scheme_h_open(h, "private", RD), -EACCES);
    assert_int_equal(scheme_h_open(h, "hello.txt", scheme_h_flags(SCHEME_OPEN_WRITE, 0)), -EACCES);
    assert_int_equal(scheme_h_open(h, "newfile", scheme_h_flags(SCHEME_OPEN_WRITE | SCHEME_OPEN_CREATE, 0644)), -EACCES);
    assert_int_equal(scheme_h_unlinkat(h, scheme_h_root(h), "hello.txt", 0), -EACCES);
    int64_t fd = scheme_h_open(h, "hello.txt", RD);
    assert_true(fd > 0);
    assert_int_equal(scheme_h_fchmod(h, fd, 0777), -EPERM);
    scheme_h_close(h, fd);
    scheme_h_set_caller(h, 0, 0, 1);
    fd = scheme_h_open(h, "private", RD);
    assert_true(fd > 0);
    scheme_h_close(h, fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_and_stat),
        cmocka_unit_test(listing),
        cmocka_unit_test(no_escape),
        cmocka_unit_test(create_write_rename_unlink),
        cmocka_unit_test(uid_checks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
