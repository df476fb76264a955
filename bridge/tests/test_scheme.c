/* The Redox scheme layer (bridge/scheme/): packet layouts, the dispatcher's opcode paths and
 * defaults, the handle table, path resolution and permission checks, driven through real
 * Sqe/Cqe packets by the Linux harness against the in-memory demo scheme. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scheme_abi.h"
#include "scheme_demo.h"
#include "scheme_harness.h"
#include "scheme_loop.h"
#include "scheme_server.h"

#define RD scheme_h_flags(SCHEME_OPEN_READ, 0)
#define RW scheme_h_flags(SCHEME_OPEN_READ | SCHEME_OPEN_WRITE, 0)

typedef struct fixture {
    scheme_demo *d;
    scheme_harness *h;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->d = scheme_demo_new();
    assert_non_null(f->d);
    f->h = scheme_harness_new("demo", scheme_demo_ops(), f->d, 0);
    assert_non_null(f->h);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    scheme_harness_free(f->h);
    /* Freeing the server closed every handle the service gave out. */
    assert_int_equal(scheme_demo_live_handles(f->d), 0);
    scheme_demo_free(f->d);
    free(f);
    return 0;
}

/* ---- raw layouts ---- */

static void test_sqe_cqe_layout(void **state)
{
    (void)state;
    scheme_sqe q = {.opcode = SCHEME_OP_OPENAT, .flags = 1, .rsvd = 0x0203, .tag = 0x04050607,
                    .args = {1, 2, 3, 4, 5, 0x1122334455667788ull}, .caller = 0x99};
    uint8_t raw[SCHEME_SQE_SIZE];
    scheme_sqe_encode(&q, raw);
    assert_int_equal(raw[0], 29);
    assert_int_equal(raw[1], 1);
    assert_int_equal(raw[2], 0x03);
    assert_int_equal(raw[4], 0x07);
    assert_int_equal(raw[7], 0x04);
    assert_int_equal(raw[8], 1);
    assert_int_equal(raw[16], 2);
    assert_int_equal(raw[48], 0x88);    /* args[5] low byte: uid */
    assert_int_equal(raw[56], 0x99);    /* caller */
    scheme_sqe back;
    scheme_sqe_decode(raw, &back);
    assert_memory_equal(&back.args, &q.args, sizeof q.args);
    assert_int_equal(back.tag, q.tag);
    assert_int_equal(back.rsvd, q.rsvd);
    assert_int_equal(back.caller, q.caller);
    assert_int_equal(scheme_sqe_uid(&q), 0x55667788u);
    assert_int_equal(scheme_sqe_gid(&q), 0x11223344u);
    scheme_sqe_set_caller(&q, 7, 8, 9);
    assert_int_equal(q.args[5], (8ull << 32) | 7);
    assert_int_equal(q.caller, 9);

    scheme_cqe c = {.flags = 2, .extra = {1, 2, 3}, .tag = 0xAABBCCDD, .result = (uint64_t)-2};
    uint8_t rc[SCHEME_CQE_SIZE];
    scheme_cqe_encode(&c, rc);
    assert_int_equal(rc[0], 2);
    assert_int_equal(rc[1], 1);
    assert_int_equal(rc[3], 3);
    assert_int_equal(rc[4], 0xDD);
    assert_int_equal(rc[8], 0xFE);
    assert_int_equal(rc[15], 0xFF);
    scheme_cqe cb;
    scheme_cqe_decode(rc, &cb);
    assert_int_equal(cb.result, c.result);
    assert_int_equal(cb.tag, c.tag);
    assert_memory_equal(cb.extra, c.extra, 3);
}

static void test_struct_layouts(void **state)
{
    (void)state;
    scheme_stat st = {.dev = 1, .ino = 2, .mode = 0x81A4, .nlink = 3, .uid = 4, .gid = 5,
                      .size = 6, .blksize = 7, .blocks = 8, .mtime = 9, .mtime_nsec = 10,
                      .atime = 11, .atime_nsec = 12, .ctime = 13, .ctime_nsec = 14};
    uint8_t raw[SCHEME_STAT_SIZE];
    scheme_stat_encode(&st, raw);
    const struct { size_t off; uint8_t v; } at[] = {
        {0, 1}, {8, 2}, {16, 0xA4}, {17, 0x81}, {20, 3}, {24, 4}, {28, 5}, {32, 6}, {40, 7},
        {48, 8}, {56, 9}, {64, 10}, {72, 11}, {80, 12}, {88, 13}, {96, 14}, {18, 0}, {44, 0},
    };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
        assert_int_equal(raw[at[i].off], at[i].v);
    scheme_stat back;
    scheme_stat_decode(raw, &back);
    assert_int_equal(back.dev, 1);
    assert_int_equal(back.mode, 0x81A4);
    assert_int_equal(back.nlink, 3);
    assert_int_equal(back.gid, 5);
    assert_int_equal(back.blksize, 7);
    assert_int_equal(back.blocks, 8);
    assert_int_equal(back.atime_nsec, 12);
    assert_int_equal(back.ctime, 13);
    assert_int_equal(back.ctime_nsec, 14);

    scheme_statvfs v = {.bsize = 4096, .blocks = 10, .bfree = 5, .bavail = 4};
    uint8_t rv[SCHEME_STATVFS_SIZE];
    scheme_statvfs_encode(&v, rv);
    assert_int_equal(rv[1], 0x10);
    assert_int_equal(rv[8], 10);
    assert_int_equal(rv[16], 5);
    assert_int_equal(rv[24], 4);
    scheme_statvfs vb;
    scheme_statvfs_decode(rv, &vb);
    assert_int_equal(vb.bavail, 4);
    assert_int_equal(vb.bsize, 4096);

    scheme_timespec t = {-5, 999999999}, tb;
    uint8_t rt[SCHEME_TIMESPEC_SIZE];
    scheme_timespec_encode(&t, rt);
    assert_int_equal(rt[0], 0xFB);
    scheme_timespec_decode(rt, &tb);
    assert_int_equal(tb.sec, -5);
    assert_int_equal(tb.nsec, 999999999);
}

static void test_dirent_codec(void **state)
{
    (void)state;
    uint8_t buf[64];
    long n = scheme_dirent_encode(buf, sizeof buf, SCHEME_DIRENT_HDR_SIZE, 7, 8,
                                  SCHEME_DT_REG, "abc", 3);
    assert_int_equal(n, 19 + 3 + 1);
    assert_int_equal(buf[0], 7);
    assert_int_equal(buf[8], 8);
    assert_int_equal(buf[16], 23);
    assert_int_equal(buf[17], 0);
    assert_int_equal(buf[18], 8);
    assert_memory_equal(buf + 19, "abc", 4);
    /* Larger header: the extra bytes are zero. */
    memset(buf, 0xEE, sizeof buf);
    n = scheme_dirent_encode(buf, sizeof buf, 24, 1, 2, SCHEME_DT_DIR, "d", 1);
    assert_int_equal(n, 26);
    for (int i = 19; i < 24; i++)
        assert_int_equal(buf[i], 0);
    /* Does not fit / not encodable. */
    assert_int_equal(scheme_dirent_encode(buf, 22, 19, 1, 1, 0, "abc", 3), 0);
    assert_int_equal(scheme_dirent_encode(buf, 64, 18, 1, 1, 0, "abc", 3), -1);
    assert_int_equal(scheme_dirent_encode(buf, 64, 19, 1, 1, 0, "", 0), -1);
    assert_int_equal(scheme_dirent_encode(buf, 64, 19, 1, 1, 0, "a/b", 3), -1);
    assert_int_equal(scheme_dirent_encode(buf, 64, 19, 1, 1, 0, "a\0b", 3), -1);

    /* Decoding rejects lies. */
    n = scheme_dirent_encode(buf, sizeof buf, 19, 7, 8, SCHEME_DT_REG, "abc", 3);
    size_t off = 0;
    scheme_dirent e;
    assert_int_equal(scheme_dirent_decode(buf, (size_t)n, 19, &off, &e), 1);
    assert_int_equal(e.name_len, 3);
    assert_memory_equal(e.name, "abc", 3);
    assert_int_equal(e.next_opaque_id, 8);
    assert_int_equal(scheme_dirent_decode(buf, (size_t)n, 19, &off, &e), 0);
    off = 0;
    assert_int_equal(scheme_dirent_decode(buf, (size_t)n - 1, 19, &off, &e), -1);
    buf[16] = 19;    /* record_len without room for the NUL */
    off = 0;
    assert_int_equal(scheme_dirent_decode(buf, (size_t)n, 19, &off, &e), -1);
    buf[16] = 23;
    buf[22] = 'x';   /* no NUL at the end */
    off = 0;
    assert_int_equal(scheme_dirent_decode(buf, (size_t)n, 19, &off, &e), -1);
}

static void test_errno_and_names(void **state)
{
    (void)state;
    assert_int_equal(scheme_result_encode(5), 5);
    assert_int_equal(scheme_result_encode(-ENOENT), (uint64_t)-2);
    assert_int_equal(scheme_result_decode((uint64_t)-95), -EOPNOTSUPP);
    assert_int_equal(scheme_result_decode((uint64_t)-41), -EAGAIN);
    assert_int_equal(scheme_result_decode(12345), 12345);
    assert_int_equal(scheme_result_encode(-1000), (uint64_t)-EIO);
    assert_int_equal(scheme_errno_to_redox(EOPNOTSUPP), 95);
    assert_int_equal(scheme_errno_to_redox(EAGAIN), 11);
    assert_int_equal(scheme_errno_to_redox(0), EIO);
    assert_int_equal(scheme_errno_to_redox(500), EIO);
    assert_string_equal(scheme_opcode_name(SCHEME_OP_OPENAT), "openat");
    assert_string_equal(scheme_opcode_name(SCHEME_OP_GETDENTS), "getdents");
    assert_string_equal(scheme_opcode_name(SCHEME_OP_DETACH), "detach");
    assert_null(scheme_opcode_name(35));

    uint16_t mode;
    uint64_t raw = scheme_open_flags_encode(SCHEME_OPEN_READ | SCHEME_OPEN_WRITE |
                                                SCHEME_OPEN_CREATE | SCHEME_OPEN_EXCL, 0644);
    assert_int_equal(raw, 0x0A030000ull | 0644);
    assert_int_equal(scheme_open_flags_decode(raw, &mode),
                     SCHEME_OPEN_READ | SCHEME_OPEN_WRITE | SCHEME_OPEN_CREATE |
                         SCHEME_OPEN_EXCL);
    assert_int_equal(mode, 0644);
    assert_true(scheme_unlink_is_dir(SCHEME_RAW_AT_REMOVEDIR));
    assert_false(scheme_unlink_is_dir(0));
}

static void test_path_resolve(void **state)
{
    (void)state;
    char out[SCHEME_PATH_MAX];
    const struct { const char *base, *rel, *want; } t[] = {
        {"", "a/b", "a/b"}, {"", "/a//b/", "a/b"}, {"", "./a/./b/.", "a/b"},
        {"", "a/../b", "b"}, {"", "../../x", "x"}, {"", "..", ""}, {"", "", ""},
        {"dir", "x", "dir/x"}, {"dir", "../x", "x"}, {"dir", "../../../x", "x"},
        {"dir/sub", "..", "dir"}, {"dir", "/x", "x"}, {"dir", "", "dir"},
        {"", "a/b/../../..", ""}, {"", "...", "..."}, {"", "..a/.b", "..a/.b"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        assert_int_equal(scheme_path_resolve(t[i].base, t[i].rel, strlen(t[i].rel), out,
                                             sizeof out), 0);
        assert_string_equal(out, t[i].want);
    }
    assert_int_equal(scheme_path_resolve("", "a\0b", 3, out, sizeof out), -EINVAL);
    assert_int_equal(scheme_path_resolve("", "abcdef", 6, out, 4), -ENAMETOOLONG);
    char *big = malloc(SCHEME_PATH_MAX + 1);
    memset(big, 'a', SCHEME_PATH_MAX);
    assert_int_equal(scheme_path_resolve("", big, SCHEME_PATH_MAX, out, sizeof out),
                     -ENAMETOOLONG);
    free(big);
}

static void test_perm(void **state)
{
    (void)state;
    scheme_caller root = {.uid = 0, .gid = 0}, owner = {.uid = 1000, .gid = 100},
                  grp = {.uid = 1001, .gid = 100}, other = {.uid = 1002, .gid = 200};
    assert_int_equal(scheme_perm_root_only(&root), 0);
    assert_int_equal(scheme_perm_root_only(&owner), -EACCES);
    assert_int_equal(scheme_perm_check(0640, 1000, 100, &owner, SCHEME_PERM_R | SCHEME_PERM_W),
                     0);
    assert_int_equal(scheme_perm_check(0640, 1000, 100, &grp, SCHEME_PERM_R), 0);
    assert_int_equal(scheme_perm_check(0640, 1000, 100, &grp, SCHEME_PERM_W), -EACCES);
    assert_int_equal(scheme_perm_check(0640, 1000, 100, &other, SCHEME_PERM_R), -EACCES);
    assert_int_equal(scheme_perm_check(0000, 1000, 100, &root, SCHEME_PERM_R | SCHEME_PERM_W),
                     0);
    assert_int_equal(scheme_perm_check(0644, 1000, 100, &root, SCHEME_PERM_X), -EACCES);
    assert_int_equal(scheme_perm_check(0744, 1000, 100, &root, SCHEME_PERM_X), 0);
    /* The owner's bits decide even when "other" would allow more (POSIX). */
    assert_int_equal(scheme_perm_check(0007, 1000, 100, &owner, SCHEME_PERM_R), -EACCES);
}

/* ---- through packets, against the demo scheme ---- */

static void test_open_read_write_close(void **state)
{
    fixture *f = *state;
    int64_t fd = scheme_h_open(f->h, "hello.txt", RD);
    assert_true(fd > 0);
    assert_int_equal(scheme_h_last_fd_flags(f->h), SCHEME_FD_POSITIONED);
    char buf[64] = {0};
    assert_int_equal(scheme_h_read(f->h, (uint64_t)fd, buf, sizeof buf, 0), 14);
    assert_string_equal(buf, "hello, scheme\n");
    assert_int_equal(scheme_h_read(f->h, (uint64_t)fd, buf, 5, 7), 5);
    assert_memory_equal(buf, "schem", 5);
    assert_int_equal(scheme_h_read(f->h, (uint64_t)fd, buf, 5, 100), 0);
    assert_int_equal(scheme_h_read(f->h, (uint64_t)fd, buf, 0, 0), 0);
    /* Opened read-only: writing is refused by the service. */
    assert_int_equal(scheme_h_write(f->h, (uint64_t)fd, "x", 1, 0), -EBADF);
    assert_int_equal(scheme_h_close(f->h, (uint64_t)fd), 0);
    assert_int_equal(scheme_h_read(f->h, (uint64_t)fd, buf, 1, 0), -EBADF);

    fd = scheme_h_open(f->h, "hello.txt", RW);
    assert_int_equal(scheme_h_write(f->h, (uint64_t)fd, "HELLO", 5, 0), 5);
    assert_int_equal(scheme_h_write(f->h, (uint64_t)fd, "!", 1, 20), 1);
    assert_int_equal(scheme_h_fsize(f->h, (uint64_t)fd), 21);
    memset(buf, 0, sizeof buf);
    assert_int_equal(scheme_h_read(f->h, (uint64_t)fd, buf, sizeof buf, 0), 21);
    assert_memory_equal(buf, "HELLO, scheme\n\0\0\0\0\0\0!", 21);
    assert_int_equal(scheme_h_ftruncate(f->h, (uint64_t)fd, 5), 0);
    assert_int_equal(scheme_h_fsize(f->h, (uint64_t)fd), 5);
    assert_int_equal(scheme_h_fsync(f->h, (uint64_t)fd), 0);
    assert_int_equal(scheme_server_open_count(scheme_harness_server(f->h)), 2);
    scheme_h_close(f->h, (uint64_t)fd);
    assert_int_equal(scheme_server_open_count(scheme_harness_server(f->h)), 1);

    /* Create, exclusive create, append. */
    uint64_t cr = scheme_h_flags(SCHEME_OPEN_READ | SCHEME_OPEN_WRITE | SCHEME_OPEN_CREATE |
                                     SCHEME_OPEN_EXCL, 0640);
    fd = scheme_h_open(f->h, "new.txt", cr);
    assert_true(fd > 0);
    assert_int_equal(scheme_h_open(f->h, "new.txt", cr), -EEXIST);
    scheme_h_close(f->h, (uint64_t)fd);
    fd = scheme_h_open(f->h, "new.txt",
                       scheme_h_flags(SCHEME_OPEN_WRITE | SCHEME_OPEN_APPEND, 0));
    assert_int_equal(scheme_h_write(f->h, (uint64_t)fd, "ab", 2, 0), 2);
    assert_int_equal(scheme_h_write(f->h, (uint64_t)fd, "cd", 2, 0), 2);
    assert_int_equal(scheme_h_fsize(f->h, (uint64_t)fd), 4);
    scheme_stat st;
    assert_int_equal(scheme_h_fstat(f->h, (uint64_t)fd, &st), 0);
    assert_int_equal(st.mode, SCHEME_MODE_FILE | 0640);
    scheme_h_close(f->h, (uint64_t)fd);
    assert_int_equal(scheme_h_open(f->h, "missing", RD), -ENOENT);
    assert_int_equal(scheme_h_open(f->h, "nodir/x", cr), -ENOENT);
}

static void test_fstat_fstatvfs_fpath(void **state)
{
    fixture *f = *state;
    int64_t fd = scheme_h_open(f->h, "dir/a.txt", RD);
    scheme_stat st;
    assert_int_equal(scheme_h_fstat(f->h, (uint64_t)fd, &st), 0);
    assert_int_equal(st.mode, SCHEME_MODE_FILE | 0644);
    assert_int_equal(st.size, 2);
    assert_int_equal(st.nlink, 1);
    assert_int_equal(st.blksize, 512);
    char p[128];
    assert_int_equal(scheme_h_fpath(f->h, (uint64_t)fd, p, sizeof p), 22);
    assert_string_equal(p, "/scheme/demo/dir/a.txt");
    /* Truncated to the caller's buffer, as Redox's fpath does. */
    assert_int_equal(scheme_h_fpath(f->h, (uint64_t)fd, p, 9), 8);
    assert_string_equal(p, "/scheme/");
    scheme_statvfs v;
    assert_int_equal(scheme_h_fstatvfs(f->h, (uint64_t)fd, &v), 0);
    assert_int_equal(v.bsize, 512);
    assert_true(v.bfree > 0);
    scheme_h_close(f->h, (uint64_t)fd);

    int64_t dfd = scheme_h_open(f->h, "dir", RD);
    assert_int_equal(scheme_h_last_fd_flags(f->h), 0);
    assert_int_equal(scheme_h_fstat(f->h, (uint64_t)dfd, &st), 0);
    assert_int_equal(st.mode & SCHEME_MODE_TYPE, SCHEME_MODE_DIR);
    char buf[4];
    assert_int_equal(scheme_h_read(f->h, (uint64_t)dfd, buf, sizeof buf, 0), -EISDIR);
    scheme_h_close(f->h, (uint64_t)dfd);
    /* The root is an open file too. */
    assert_int_equal(scheme_h_fstat(f->h, scheme_h_root(f->h), &st), 0);
    assert_int_equal(st.mode & SCHEME_MODE_TYPE, SCHEME_MODE_DIR);
    assert_int_equal(scheme_h_fpath(f->h, scheme_h_root(f->h), p, sizeof p), 13);
    assert_string_equal(p, "/scheme/demo/");
}

static int find_ent(const scheme_h_dirent *e, int64_t n, const char *name, uint8_t kind)
{
    for (int64_t i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0)
            return e[i].kind == kind;
    return 0;
}

static void test_getdents(void **state)
{
    fixture *f = *state;
    scheme_h_dirent e[16];
    int64_t n = scheme_h_readdir(f->h, scheme_h_root(f->h), 4096, e, 16);
    assert_int_equal(n, 4);
    assert_true(find_ent(e, n, "hello.txt", SCHEME_DT_REG));
    assert_true(find_ent(e, n, "dir", SCHEME_DT_DIR));
    assert_true(find_ent(e, n, "private", SCHEME_DT_REG));
    assert_true(find_ent(e, n, "pub", SCHEME_DT_DIR));
    /* A buffer that holds one record at a time: continuation by next_opaque_id. */
    n = scheme_h_readdir(f->h, scheme_h_root(f->h), 19 + 10 + 1, e, 16);
    assert_int_equal(n, 4);
    int64_t dfd = scheme_h_open(f->h, "dir", RD);
    n = scheme_h_readdir(f->h, (uint64_t)dfd, 64, e, 16);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].name, "a.txt");

    /* Raw record layout of the first answer. */
    uint8_t buf[256];
    int64_t len = scheme_h_getdents(f->h, (uint64_t)dfd, buf, sizeof buf, 0);
    assert_int_equal(len, 19 + 5 + 1);
    assert_int_equal(buf[16], 25);
    assert_int_equal(buf[18], SCHEME_DT_REG);
    assert_memory_equal(buf + 19, "a.txt", 6);
    uint64_t next = 0;
    for (int i = 7; i >= 0; i--)
        next = (next << 8) | buf[8 + i];
    /* Asking again from the last record's opaque id: nothing left. */
    assert_int_equal(scheme_h_getdents(f->h, (uint64_t)dfd, buf, sizeof buf, next), 0);
    /* Too small for even one record: EINVAL (DirentBuf's answer). */
    assert_int_equal(scheme_h_getdents(f->h, (uint64_t)dfd, buf, 10, 0), -EINVAL);
    /* Header size below the known header: EINVAL. */
    scheme_sqe q = {.opcode = SCHEME_OP_GETDENTS, .tag = 5};
    q.args[0] = (uint64_t)dfd;
    q.args[1] = scheme_h_buf(f->h, buf, sizeof buf);
    q.args[2] = sizeof buf;
    q.args[3] = 18;
    assert_int_equal(scheme_h_raw(f->h, &q, NULL), -EINVAL);
    /* A larger header (future DirentHeader growth) is honoured. */
    q.args[1] = scheme_h_buf(f->h, buf, sizeof buf);
    q.args[3] = 32;
    assert_int_equal(scheme_h_raw(f->h, &q, NULL), 32 + 5 + 1);
    assert_memory_equal(buf + 32, "a.txt", 6);
    scheme_h_close(f->h, (uint64_t)dfd);

    /* getdents on a file. */
    int64_t fd = scheme_h_open(f->h, "hello.txt", RD);
    assert_int_equal(scheme_h_getdents(f->h, (uint64_t)fd, buf, sizeof buf, 0), -ENOTDIR);
    scheme_h_close(f->h, (uint64_t)fd);
}

/* A service with only openat and read: every other op gets redox-scheme's default. */
static int min_open(void *svc, const scheme_open_req *req, const scheme_caller *c, void **out,
                    uint8_t *ff)
{
    (void)svc, (void)c, (void)ff;
    if (strcmp(req->path, "") != 0 && strcmp(req->path, "mac") != 0)
        return -ENOENT;
    *out = (void *)(uintptr_t)(req->path[0] ? 2 : 1);
    return 0;
}

static int64_t min_read(void *svc, void *h, void *buf, size_t len, uint64_t off, uint32_t fl,
                        const scheme_caller *c)
{
    (void)svc, (void)off, (void)fl, (void)c;
    /* The root lists its entries as lines: what relibc reads after EOPNOTSUPP. */
    const char *text = (uintptr_t)h == 1 ? "mac\n" : "\x52\x54\x00\x12\x34\x56";
    size_t n = (uintptr_t)h == 1 ? 4 : 6;
    n = n < len ? n : len;
    memcpy(buf, text, n);
    /* Claims more than it was given when asked for 0 bytes: the server must not pass it on. */
    return len == 0 ? 3 : (int64_t)n;
}

static void test_defaults_and_fallback(void **state)
{
    (void)state;
    scheme_ops ops = {.openat = min_open, .read = min_read};
    scheme_harness *h = scheme_harness_new("network.test", &ops, NULL, 0);
    int64_t root = scheme_h_open(h, "", RD);
    assert_true(root > 0);
    assert_int_equal(scheme_h_last_fd_flags(h), 0);
    uint8_t buf[64];
    assert_int_equal(scheme_h_getdents(h, (uint64_t)root, buf, sizeof buf, 0), -EOPNOTSUPP);
    assert_int_equal(scheme_h_read(h, (uint64_t)root, buf, sizeof buf, 0), 4);
    assert_memory_equal(buf, "mac\n", 4);
    assert_int_equal(scheme_h_read(h, (uint64_t)root, buf, 0, 0), -EIO);
    assert_int_equal(scheme_h_write(h, (uint64_t)root, "x", 1, 0), -EBADF);
    assert_int_equal(scheme_h_fsize(h, (uint64_t)root), -ESPIPE);
    scheme_stat st;
    assert_int_equal(scheme_h_fstat(h, (uint64_t)root, &st), -EOPNOTSUPP);
    scheme_statvfs v;
    assert_int_equal(scheme_h_fstatvfs(h, (uint64_t)root, &v), -EOPNOTSUPP);
    assert_int_equal(scheme_h_fsync(h, (uint64_t)root), 0);
    assert_int_equal(scheme_h_ftruncate(h, (uint64_t)root, 0), -EBADF);
    assert_int_equal(scheme_h_fchmod(h, (uint64_t)root, 0600), -EOPNOTSUPP);
    assert_int_equal(scheme_h_fchown(h, (uint64_t)root, 1, 1), -EOPNOTSUPP);
    assert_int_equal(scheme_h_futimens(h, (uint64_t)root, NULL, 0), -EBADF);
    assert_int_equal(scheme_h_fcntl(h, (uint64_t)root, 1, 0), -EOPNOTSUPP);
    assert_int_equal(scheme_h_fevent(h, (uint64_t)root, SCHEME_EVENT_READ), 0);
    assert_int_equal(scheme_h_frename(h, (uint64_t)root, "x"), -EOPNOTSUPP);
    assert_int_equal(scheme_h_mmap_prep(h, (uint64_t)root, 0, 4096, 0), -EOPNOTSUPP);
    assert_int_equal(scheme_h_dup(h, (uint64_t)root, ""), -EOPNOTSUPP);
    uint64_t meta[3] = {0};
    assert_int_equal(scheme_h_call(h, (uint64_t)root, buf, 4, meta), -EOPNOTSUPP);
    assert_int_equal(scheme_h_unlinkat(h, scheme_h_root(h), "mac", 0), -ENOENT);
    char p[64];
    assert_int_equal(scheme_h_fpath(h, (uint64_t)root, p, sizeof p), 21);
    assert_string_equal(p, "/scheme/network.test/");
    int64_t mac = scheme_h_open(h, "mac", RD);
    assert_int_equal(scheme_h_read(h, (uint64_t)mac, buf, sizeof buf, 0), 6);
    assert_int_equal(buf[0], 0x52);
    scheme_harness_free(h);
    /* No ops at all. */
    scheme_ops none = {0};
    h = scheme_harness_new("empty", &none, NULL, 0);
    assert_int_equal(scheme_h_open(h, "x", RD), -ENOENT);
    scheme_harness_free(h);
}

static void test_bad_handles_and_opcodes(void **state)
{
    fixture *f = *state;
    char buf[8];
    assert_int_equal(scheme_h_read(f->h, 0, buf, 1, 0), -EBADF);
    assert_int_equal(scheme_h_read(f->h, 9999, buf, 1, 0), -EBADF);
    assert_int_equal(scheme_h_read(f->h, UINT64_MAX, buf, 1, 0), -EBADF);
    assert_int_equal(scheme_h_openat(f->h, 77, "hello.txt", RD), -EBADF);
    assert_int_equal(scheme_h_unlinkat(f->h, 77, "hello.txt", 0), -EBADF);
    scheme_stat st;
    assert_int_equal(scheme_h_fstat(f->h, 42, &st), -EBADF);
    /* Close (answered) twice: the second is EBADF. */
    int64_t fd = scheme_h_open(f->h, "hello.txt", RD);
    scheme_sqe q = {.opcode = SCHEME_OP_CLOSE, .tag = 9, .args = {(uint64_t)fd}};
    assert_int_equal(scheme_h_raw(f->h, &q, NULL), 0);
    assert_int_equal(scheme_h_raw(f->h, &q, NULL), -EBADF);
    /* Closing the root keeps it. */
    q.args[0] = scheme_h_root(f->h);
    assert_int_equal(scheme_h_raw(f->h, &q, NULL), 0);
    assert_true(scheme_h_open(f->h, "hello.txt", RD) > 0);

    /* Unknown and undecoded opcodes: ENOSYS, tag echoed. */
    const uint8_t nosys[] = {SCHEME_OP_STD_FS_CALL, SCHEME_OP_DETACH, SCHEME_OP_MSYNC,
                             SCHEME_OP_REQUEST_MMAP, SCHEME_OP_MREMAP, 35, 99, 255};
    for (size_t i = 0; i < sizeof nosys; i++) {
        scheme_sqe u = {.opcode = nosys[i], .tag = 0xC0FFEE00u + (uint32_t)i, .args = {1}};
        scheme_cqe c;
        assert_int_equal(scheme_h_raw(f->h, &u, &c), -ENOSYS);
        assert_int_equal(c.tag, 0xC0FFEE00u + i);
        assert_int_equal(c.flags, SCHEME_CQE_RESPOND);
    }
    const uint8_t notsup[] = {SCHEME_OP_FLINK, SCHEME_OP_SENDFD, SCHEME_OP_RECVFD};
    for (size_t i = 0; i < sizeof notsup; i++) {
        scheme_sqe u = {.opcode = notsup[i], .args = {1}};
        assert_int_equal(scheme_h_raw(f->h, &u, NULL), -EOPNOTSUPP);
    }
    /* No answer: Cancel, CloseMsg, anything one-way (but it still happens). */
    scheme_sqe c1 = {.opcode = SCHEME_OP_CANCEL, .tag = 3};
    assert_true(scheme_h_raw(f->h, &c1, NULL) == INT64_MIN);
    fd = scheme_h_open(f->h, "hello.txt", RD);
    scheme_sqe ow = {.opcode = SCHEME_OP_CLOSE, .flags = SCHEME_SQE_ONEWAY,
                     .args = {(uint64_t)fd}};
    assert_true(scheme_h_raw(f->h, &ow, NULL) == INT64_MIN);
    assert_int_equal(scheme_h_fsize(f->h, (uint64_t)fd), -EBADF);
}

static void test_lengths(void **state)
{
    fixture *f = *state;
    int64_t fd = scheme_h_open(f->h, "hello.txt", RD);
    char small[4];
    /* A length beyond the caller's buffer: EFAULT, nothing written past it. */
    scheme_sqe q = {.opcode = SCHEME_OP_READ, .args = {(uint64_t)fd}};
    q.args[1] = scheme_h_buf(f->h, small, sizeof small);
    q.args[2] = sizeof small + 1;
    assert_int_equal(scheme_h_raw(f->h, &q, NULL), -EFAULT);
    /* An address outside every buffer, and an address+length that wraps. */
    q.args[1] = 0x1234;
    q.args[2] = 1;
    assert_int_equal(scheme_h_raw(f->h, &q, NULL), -EFAULT);
    q.args[1] = UINT64_MAX - 1;
    q.args[2] = 4;
    assert_int_equal(scheme_h_raw(f->h, &q, NULL), -EFAULT);
    /* A huge length is clamped to max_io first, then must still be mapped. */
    q.args[1] = scheme_h_buf(f->h, small, sizeof small);
    q.args[2] = UINT64_MAX;
    assert_int_equal(scheme_h_raw(f->h, &q, NULL), -EFAULT);
    /* fstat into less than a Stat: EINVAL; futimens with more than two times: EINVAL. */
    uint8_t st[SCHEME_STAT_SIZE];
    scheme_sqe s = {.opcode = SCHEME_OP_FSTAT, .args = {(uint64_t)fd}};
    s.args[1] = scheme_h_buf(f->h, st, sizeof st);
    s.args[2] = SCHEME_STAT_SIZE - 1;
    assert_int_equal(scheme_h_raw(f->h, &s, NULL), -EINVAL);
    s.opcode = SCHEME_OP_FSTATVFS;
    s.args[1] = scheme_h_buf(f->h, st, sizeof st);
    s.args[2] = SCHEME_STATVFS_SIZE - 1;
    assert_int_equal(scheme_h_raw(f->h, &s, NULL), -EINVAL);
    s.opcode = SCHEME_OP_FUTIMENS;
    s.args[1] = scheme_h_buf(f->h, st, sizeof st);
    s.args[2] = 3 * SCHEME_TIMESPEC_SIZE;
    assert_int_equal(scheme_h_raw(f->h, &s, NULL), -EINVAL);
    /* Path longer than SCHEME_PATH_MAX - 1: ENAMETOOLONG before touching memory. */
    scheme_sqe o = {.opcode = SCHEME_OP_OPENAT, .args = {1, 0x10, SCHEME_PATH_MAX, RD}};
    assert_int_equal(scheme_h_raw(f->h, &o, NULL), -ENAMETOOLONG);
    /* A path with a NUL inside: EINVAL. */
    o.args[1] = scheme_h_buf(f->h, "hello.txt\0x", 11);
    o.args[2] = 11;
    assert_int_equal(scheme_h_raw(f->h, &o, NULL), -EINVAL);
    /* A path the demo cannot store. */
    char longp[300];
    memset(longp, 'n', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(scheme_h_open(f->h, longp, scheme_h_flags(SCHEME_OPEN_WRITE |
                                                                    SCHEME_OPEN_CREATE, 0644)),
                     -ENAMETOOLONG);
    /* Writes past the demo's file limit. */
    int64_t w = scheme_h_open(f->h, "hello.txt", RW);
    assert_int_equal(scheme_h_write(f->h, (uint64_t)w, "x", 1, SCHEME_DEMO_MAX_FILE), -EFBIG);
    assert_int_equal(scheme_h_write(f->h, (uint64_t)w, "x", 1, UINT64_MAX), -EFBIG);
    assert_int_equal(scheme_h_ftruncate(f->h, (uint64_t)w, UINT64_MAX), -EFBIG);

    /* max_io clamps reads (a short read, not an error). */
    scheme_server_config cfg = {.name = "demo", .ops = scheme_demo_ops(), .svc = f->d,
                                .max_io = 4};
    scheme_harness *h2 = scheme_harness_new_config(&cfg);
    int64_t fd2 = scheme_h_open(h2, "dir/a.txt", RD);
    char big[64];
    assert_int_equal(scheme_h_read(h2, (uint64_t)fd2, big, 1, 0), 1);
    scheme_h_set_caller(h2, 1000, 1000, 5);
    fd2 = scheme_h_open(h2, "private", RD);
    assert_int_equal(scheme_h_read(h2, (uint64_t)fd2, big, sizeof big, 0), 4);
    scheme_harness_free(h2);
}

static void test_path_normalization(void **state)
{
    fixture *f = *state;
    char p[128];
    const char *same[] = {"hello.txt", "/hello.txt", "./hello.txt", "dir/../hello.txt",
                          "../../hello.txt", "dir/../../hello.txt", "//hello.txt/"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        int64_t fd = scheme_h_open(f->h, same[i], RD);
        assert_true(fd > 0);
        assert_int_equal(scheme_h_fpath(f->h, (uint64_t)fd, p, sizeof p), 22);
        assert_string_equal(p, "/scheme/demo/hello.txt");
        scheme_h_close(f->h, (uint64_t)fd);
    }
    /* openat relative to a directory handle; ".." never leaves the scheme root. */
    int64_t dfd = scheme_h_open(f->h, "dir", RD);
    int64_t fd = scheme_h_openat(f->h, (uint64_t)dfd, "a.txt", RD);
    assert_int_equal(scheme_h_fpath(f->h, (uint64_t)fd, p, sizeof p), 22);
    assert_string_equal(p, "/scheme/demo/dir/a.txt");
    scheme_h_close(f->h, (uint64_t)fd);
    fd = scheme_h_openat(f->h, (uint64_t)dfd, "../../../hello.txt", RD);
    assert_true(fd > 0);
    assert_string_equal(scheme_server_path_of(scheme_harness_server(f->h), (uint64_t)fd),
                        "hello.txt");
    scheme_h_close(f->h, (uint64_t)fd);
    fd = scheme_h_openat(f->h, (uint64_t)dfd, "", RD);
    assert_string_equal(scheme_server_path_of(scheme_harness_server(f->h), (uint64_t)fd),
                        "dir");
    scheme_h_close(f->h, (uint64_t)fd);
    scheme_h_close(f->h, (uint64_t)dfd);
    /* The root by any spelling. */
    fd = scheme_h_open(f->h, "..", RD);
    assert_string_equal(scheme_server_path_of(scheme_harness_server(f->h), (uint64_t)fd), "");
    scheme_h_close(f->h, (uint64_t)fd);
}

static void test_handle_exhaustion(void **state)
{
    fixture *f = *state;
    scheme_harness *h = scheme_harness_new("demo", scheme_demo_ops(), f->d, 4);
    int64_t ids[3];
    for (int i = 0; i < 3; i++) {
        ids[i] = scheme_h_open(h, "hello.txt", RD);
        assert_true(ids[i] > 1);
    }
    size_t live = scheme_demo_live_handles(f->d);
    assert_int_equal(scheme_h_open(h, "hello.txt", RD), -EMFILE);
    assert_int_equal(scheme_h_dup(h, (uint64_t)ids[0], ""), -EMFILE);
    /* Refused before the service saw it: nothing created, nothing leaked. */
    assert_int_equal(scheme_demo_live_handles(f->d), live);
    assert_int_equal(scheme_h_open(h, "pub/x",
                                   scheme_h_flags(SCHEME_OPEN_WRITE | SCHEME_OPEN_CREATE, 0644)),
                     -EMFILE);
    scheme_h_close(h, (uint64_t)ids[1]);
    assert_int_equal(scheme_h_open(h, "pub/x", RD), -ENOENT);
    int64_t again = scheme_h_open(h, "dir/a.txt", RD);
    assert_int_equal(again, ids[1]);   /* the freed slot is reused */
    scheme_harness_free(h);
    assert_int_equal(scheme_demo_live_handles(f->d), 0);

    /* Bad configurations. */
    scheme_server_config bad = {.name = "x", .ops = scheme_demo_ops(),
                                .max_handles = SCHEME_MAX_HANDLES_LIMIT + 1,
                                .mem = scheme_mem_direct};
    assert_null(scheme_server_new(&bad));
    bad.max_handles = 0;
    bad.ops = NULL;
    assert_null(scheme_server_new(&bad));
    bad.ops = scheme_demo_ops();
    bad.name = "a-name-that-is-much-longer-than-sixty-four-bytes-which-is-the-limit-x";
    assert_null(scheme_server_new(&bad));
    scheme_server_free(NULL);
}

static void test_caller_permissions(void **state)
{
    fixture *f = *state;
    /* private: 0600 owned by 1000. */
    scheme_h_set_caller(f->h, 1000, 1000, 10);
    int64_t fd = scheme_h_open(f->h, "private", RW);
    assert_true(fd > 0);
    scheme_h_close(f->h, (uint64_t)fd);
    scheme_h_set_caller(f->h, 1001, 1000, 11);
    assert_int_equal(scheme_h_open(f->h, "private", RD), -EACCES);
    /* Stat-only opens need no read permission. */
    fd = scheme_h_open(f->h, "private", scheme_h_flags(SCHEME_OPEN_STAT, 0));
    scheme_stat st;
    assert_int_equal(scheme_h_fstat(f->h, (uint64_t)fd, &st), 0);
    assert_int_equal(st.uid, 1000);
    scheme_h_close(f->h, (uint64_t)fd);
    /* Not writable by others; creating in a 0755 root-owned dir is refused, in pub/ allowed. */
    assert_int_equal(scheme_h_open(f->h, "hello.txt", RW), -EACCES);
    uint64_t cr = scheme_h_flags(SCHEME_OPEN_WRITE | SCHEME_OPEN_CREATE, 0600);
    assert_int_equal(scheme_h_open(f->h, "dir/mine", cr), -EACCES);
    fd = scheme_h_open(f->h, "pub/mine", cr);
    assert_true(fd > 0);
    assert_int_equal(scheme_h_fstat(f->h, (uint64_t)fd, &st), 0);
    assert_int_equal(st.uid, 1001);
    assert_int_equal(st.gid, 1000);
    /* chown is root's, chmod the owner's. */
    assert_int_equal(scheme_h_fchown(f->h, (uint64_t)fd, 0, 0), -EPERM);
    assert_int_equal(scheme_h_fchmod(f->h, (uint64_t)fd, 0644), 0);
    scheme_h_close(f->h, (uint64_t)fd);
    fd = scheme_h_open(f->h, "hello.txt", RD);
    assert_int_equal(scheme_h_fchmod(f->h, (uint64_t)fd, 0777), -EPERM);
    scheme_timespec t[2] = {{1, 0}, {2, 0}};
    assert_int_equal(scheme_h_futimens(f->h, (uint64_t)fd, t, 2), -EPERM);
    scheme_h_close(f->h, (uint64_t)fd);
    assert_int_equal(scheme_h_unlinkat(f->h, scheme_h_root(f->h), "hello.txt", 0), -EACCES);
    /* Root may do all of it. */
    scheme_h_set_caller(f->h, 0, 0, 1);
    fd = scheme_h_open(f->h, "private", RW);
    assert_int_equal(scheme_h_fchown(f->h, (uint64_t)fd, 5, 6), 0);
    assert_int_equal(scheme_h_fchmod(f->h, (uint64_t)fd, 0400), 0);
    assert_int_equal(scheme_h_futimens(f->h, (uint64_t)fd, t, 2), 0);
    assert_int_equal(scheme_h_fstat(f->h, (uint64_t)fd, &st), 0);
    assert_int_equal(st.uid, 5);
    assert_int_equal(st.mode, SCHEME_MODE_FILE | 0400);
    assert_int_equal(st.atime, 1);
    assert_int_equal(st.mtime, 2);
    scheme_h_close(f->h, (uint64_t)fd);

    /* A root-only scheme (disk.*, network.*): the layer refuses before the service. */
    scheme_server_config cfg = {.name = "disk.test", .ops = scheme_demo_ops(), .svc = f->d,
                                .root_only = true};
    scheme_harness *h = scheme_harness_new_config(&cfg);
    scheme_h_set_caller(h, 1000, 1000, 7);
    assert_int_equal(scheme_h_open(h, "private", RD), -EACCES);
    assert_int_equal(scheme_h_unlinkat(h, scheme_h_root(h), "pub", SCHEME_RAW_AT_REMOVEDIR),
                     -EACCES);
    scheme_h_set_caller(h, 0, 0, 7);
    assert_true(scheme_h_open(h, "private", RD) > 0);
    scheme_harness_free(h);
}

static void test_unlink_rename_dup(void **state)
{
    fixture *f = *state;
    uint64_t root = scheme_h_root(f->h);
    assert_int_equal(scheme_h_unlinkat(f->h, root, "dir", SCHEME_RAW_AT_REMOVEDIR),
                     -ENOTEMPTY);
    assert_int_equal(scheme_h_unlinkat(f->h, root, "dir", 0), -EISDIR);
    assert_int_equal(scheme_h_unlinkat(f->h, root, "hello.txt", SCHEME_RAW_AT_REMOVEDIR),
                     -ENOTDIR);
    assert_int_equal(scheme_h_unlinkat(f->h, root, "", 0), -EBUSY);
    assert_int_equal(scheme_h_unlinkat(f->h, root, "..", SCHEME_RAW_AT_REMOVEDIR), -EBUSY);
    /* Unlinking an open file: gone by name, still readable through the handle. */
    int64_t dfd = scheme_h_open(f->h, "dir", RD);
    int64_t fd = scheme_h_openat(f->h, (uint64_t)dfd, "a.txt", RD);
    assert_int_equal(scheme_h_unlinkat(f->h, (uint64_t)dfd, "a.txt", 0), 0);
    assert_int_equal(scheme_h_open(f->h, "dir/a.txt", RD), -ENOENT);
    char buf[8];
    assert_int_equal(scheme_h_read(f->h, (uint64_t)fd, buf, sizeof buf, 0), 2);
    scheme_stat st;
    assert_int_equal(scheme_h_fstat(f->h, (uint64_t)fd, &st), 0);
    assert_int_equal(st.nlink, 0);
    scheme_h_close(f->h, (uint64_t)fd);
    /* Legacy rmdir opcode (path relative to the root). */
    const char *d = "dir";
    scheme_sqe q = {.opcode = SCHEME_OP_RMDIR, .args = {scheme_h_buf(f->h, (void *)d, 3), 3}};
    assert_int_equal(scheme_h_raw(f->h, &q, NULL), 0);
    scheme_h_dirent e[8];
    assert_int_equal(scheme_h_readdir(f->h, (uint64_t)dfd, 256, e, 8), 0);
    scheme_h_close(f->h, (uint64_t)dfd);
    assert_int_equal(scheme_h_readdir(f->h, root, 256, e, 8), 3);

    /* Rename: the remembered path follows. */
    fd = scheme_h_open(f->h, "hello.txt", RD);
    assert_int_equal(scheme_h_frename(f->h, (uint64_t)fd, "pub/../pub/renamed"), 0);
    char p[64];
    scheme_h_fpath(f->h, (uint64_t)fd, p, sizeof p);
    assert_string_equal(p, "/scheme/demo/pub/renamed");
    assert_int_equal(scheme_h_open(f->h, "hello.txt", RD), -ENOENT);
    assert_int_equal(scheme_h_frename(f->h, (uint64_t)fd, "private"), -EEXIST);
    assert_int_equal(scheme_h_frename(f->h, (uint64_t)fd, "nodir/x"), -ENOENT);
    assert_int_equal(scheme_h_frename(f->h, root, "x"), -EBUSY);

    /* Dup shares the file and path; the service gets its own handle. */
    int64_t d2 = scheme_h_dup(f->h, (uint64_t)fd, "");
    assert_true(d2 > 0 && d2 != fd);
    assert_int_equal(scheme_h_last_fd_flags(f->h), SCHEME_FD_POSITIONED);
    scheme_h_close(f->h, (uint64_t)fd);
    assert_int_equal(scheme_h_read(f->h, (uint64_t)d2, buf, 5, 0), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_string_equal(scheme_server_path_of(scheme_harness_server(f->h), (uint64_t)d2),
                        "pub/renamed");
    assert_int_equal(scheme_h_dup(f->h, (uint64_t)d2, "clipboard"), -EINVAL);
    scheme_h_close(f->h, (uint64_t)d2);
}

static void test_events_and_legacy_open(void **state)
{
    fixture *f = *state;
    int64_t fd = scheme_h_open(f->h, "hello.txt", RD);
    assert_int_equal(scheme_h_fevent(f->h, (uint64_t)fd, SCHEME_EVENT_READ), SCHEME_EVENT_READ);
    assert_int_equal(scheme_h_fevent(f->h, (uint64_t)fd, 0xFF), 3);
    /* An unsolicited readiness event names the kernel's id. */
    scheme_server *srv = scheme_harness_server(f->h);
    scheme_cqe c;
    assert_false(scheme_server_fevent(srv, (void *)0x1, SCHEME_EVENT_READ, &c));
    assert_int_equal(scheme_server_id_of(srv, (void *)0x1), 0);
    assert_null(scheme_server_path_of(srv, 1000));
    scheme_h_close(f->h, (uint64_t)fd);

    /* Legacy Open opcode: path, len, flags; relative to the root. */
    const char *path = "dir/a.txt";
    scheme_sqe q = {.opcode = SCHEME_OP_OPEN, .tag = 77,
                    .args = {scheme_h_buf(f->h, (void *)path, 9), 9, RD}};
    scheme_cqe ans;
    int64_t id = scheme_h_raw(f->h, &q, &ans);
    assert_true(id > 0);
    assert_int_equal(ans.tag, 77);
    assert_int_equal(ans.extra[0], SCHEME_FD_POSITIONED);
    scheme_h_close(f->h, (uint64_t)id);
}

/* A service that answers readiness asynchronously, like network.*. */
typedef struct evsvc {
    int dummy;
} evsvc;

static int ev_open(void *svc, const scheme_open_req *req, const scheme_caller *c, void **out,
                   uint8_t *ff)
{
    (void)req, (void)c, (void)ff;
    *out = svc;
    return 0;
}

static int64_t ev_call(void *svc, void *h, void *payload, size_t len, const uint64_t meta[3],
                       const scheme_caller *c)
{
    (void)svc, (void)h;
    if (c->uid != UINT32_MAX || meta[0] != 7)
        return -EINVAL;
    memset(payload, 'z', len);
    return (int64_t)len;
}

static void test_fevent_cqe_and_call(void **state)
{
    (void)state;
    evsvc e = {0};
    scheme_ops ops = {.openat = ev_open, .call = ev_call};
    scheme_harness *h = scheme_harness_new("ev", &ops, &e, 0);
    int64_t fd = scheme_h_open(h, "", RD);
    scheme_cqe c;
    assert_true(scheme_server_fevent(scheme_harness_server(h), &e, SCHEME_EVENT_READ, &c));
    assert_int_equal(c.flags, SCHEME_CQE_SEND_FEVENT);
    assert_int_equal(c.tag, SCHEME_EVENT_READ);
    assert_int_equal(c.result, (uint64_t)fd);
    char buf[4] = {0};
    uint64_t meta[3] = {7, 8, 9};
    assert_int_equal(scheme_h_call(h, (uint64_t)fd, buf, sizeof buf, meta), 4);
    assert_memory_equal(buf, "zzzz", 4);
    scheme_harness_free(h);
}

/* A display-like service: its own fpath format, mmap_prep, munmap, fcntl, damage writes. */
typedef struct dispsvc {
    uint8_t fb[4096];
    uint64_t unmapped, damage;
} dispsvc;

static int64_t dp_fpath(void *svc, void *h, char *buf, size_t cap, const scheme_caller *c)
{
    (void)svc, (void)h, (void)c;
    const char *p = "display.test:1.0/640/480";
    size_t n = strlen(p);
    memcpy(buf, p, n < cap ? n : cap);
    return (int64_t)n;
}

static int64_t dp_mmap(void *svc, void *h, uint64_t off, uint64_t len, uint64_t prot,
                       const scheme_caller *c)
{
    (void)h, (void)prot, (void)c;
    dispsvc *d = svc;
    if (off > sizeof d->fb || len > sizeof d->fb - off)
        return -EINVAL;
    return (int64_t)(uintptr_t)(d->fb + off);
}

static int dp_munmap(void *svc, void *h, uint64_t off, uint64_t len, uint64_t flags,
                     const scheme_caller *c)
{
    (void)h, (void)off, (void)flags, (void)c;
    ((dispsvc *)svc)->unmapped += len;
    return 0;
}

static int64_t dp_fcntl(void *svc, void *h, uint64_t cmd, uint64_t arg, const scheme_caller *c)
{
    (void)svc, (void)h, (void)c;
    return cmd == 3 ? 0x10000 : (int64_t)arg;
}

static int64_t dp_write(void *svc, void *h, const void *buf, size_t len, uint64_t off,
                        uint32_t fl, const scheme_caller *c)
{
    (void)h, (void)off, (void)fl, (void)c;
    if (len != 16)
        return -EINVAL;
    ((dispsvc *)svc)->damage++;
    (void)buf;
    return 16;
}

static void test_display_like_ops(void **state)
{
    (void)state;
    static dispsvc d;
    scheme_ops ops = {.openat = ev_open, .fpath = dp_fpath, .mmap_prep = dp_mmap,
                      .munmap = dp_munmap, .fcntl = dp_fcntl, .write = dp_write};
    scheme_harness *h = scheme_harness_new("display.test", &ops, &d, 0);
    int64_t fd = scheme_h_open(h, "1.0", RW);
    char p[64];
    assert_int_equal(scheme_h_fpath(h, (uint64_t)fd, p, sizeof p), 24);
    assert_string_equal(p, "display.test:1.0/640/480");
    assert_int_equal(scheme_h_fpath(h, (uint64_t)fd, p, 8), 7);
    assert_string_equal(p, "display");
    assert_int_equal(scheme_h_mmap_prep(h, (uint64_t)fd, 1024, 2048, 0x60000),
                     (int64_t)(uintptr_t)(d.fb + 1024));
    assert_int_equal(scheme_h_mmap_prep(h, (uint64_t)fd, 4096, 1, 0), -EINVAL);
    scheme_sqe q = {.opcode = SCHEME_OP_MUNMAP, .args = {(uint64_t)fd, 2048, 1, 1024}};
    assert_int_equal(scheme_h_raw(h, &q, NULL), 0);
    assert_int_equal(d.unmapped, 2048);
    assert_int_equal(scheme_h_fcntl(h, (uint64_t)fd, 3, 0), 0x10000);
    assert_int_equal(scheme_h_fcntl(h, (uint64_t)fd, 4, 77), 77);
    uint8_t dmg[16] = {0};
    assert_int_equal(scheme_h_write(h, (uint64_t)fd, dmg, sizeof dmg, 0), 16);
    assert_int_equal(d.damage, 1);
    /* No read op: EBADF; fsync default: success (a full present is the service's choice). */
    assert_int_equal(scheme_h_read(h, (uint64_t)fd, dmg, 1, 0), -EBADF);
    assert_int_equal(scheme_h_fsync(h, (uint64_t)fd), 0);
    scheme_harness_free(h);
}

/* A network-like service that defers reads until a frame "arrives". */
typedef struct netsvc {
    struct { bool used; uint32_t tag; uint8_t *buf; size_t len; } q[4];
    int cancels;
} netsvc;

static int64_t net_read(void *svc, void *h, void *buf, size_t len, uint64_t off, uint32_t fl,
                        const scheme_caller *c)
{
    (void)h, (void)off, (void)fl;
    netsvc *n = svc;
    for (int i = 0; i < 4; i++)
        if (!n->q[i].used) {
            n->q[i].used = true;
            n->q[i].tag = c->tag;
            n->q[i].buf = buf;
            n->q[i].len = len;
            return SCHEME_PENDING;
        }
    return -EAGAIN;
}

static void net_cancel(void *svc, uint32_t tag)
{
    netsvc *n = svc;
    n->cancels++;
    for (int i = 0; i < 4; i++)
        if (n->q[i].used && n->q[i].tag == tag)
            n->q[i].used = false;
}

static int64_t bad_fsize(void *svc, void *h, const scheme_caller *c)
{
    (void)svc, (void)h, (void)c;
    return SCHEME_PENDING;
}

/* The frame arrives: fill the oldest waiting read and answer it. */
static bool net_deliver(netsvc *n, scheme_server *s, const char *frame, scheme_cqe *cqe)
{
    for (int i = 0; i < 4; i++)
        if (n->q[i].used) {
            size_t k = strlen(frame) < n->q[i].len ? strlen(frame) : n->q[i].len;
            memcpy(n->q[i].buf, frame, k);
            n->q[i].used = false;
            return scheme_server_complete(s, n->q[i].tag, (int64_t)k, cqe);
        }
    return false;
}

static void test_deferred_answers(void **state)
{
    (void)state;
    static netsvc n;
    memset(&n, 0, sizeof n);
    scheme_ops ops = {.openat = ev_open, .read = net_read, .cancel = net_cancel,
                      .fsize = bad_fsize};
    scheme_server_config cfg = {.name = "network.t", .ops = &ops, .svc = &n, .max_pending = 2};
    scheme_harness *h = scheme_harness_new_config(&cfg);
    scheme_server *srv = scheme_harness_server(h);
    int64_t fd = scheme_h_open(h, "", RD);
    char buf1[16] = {0}, buf2[16] = {0};
    /* A blocking read: no answer yet. */
    assert_true(scheme_h_read(h, (uint64_t)fd, buf1, sizeof buf1, 0) == INT64_MIN);
    uint32_t t1 = scheme_h_last_tag(h);
    assert_int_equal(scheme_server_pending_count(srv), 1);
    /* The same tag again while pending: refused without bothering the service. */
    scheme_sqe dup = {.opcode = SCHEME_OP_READ, .tag = t1, .args = {(uint64_t)fd}};
    dup.args[1] = scheme_h_buf(h, buf2, 4);
    dup.args[2] = 4;
    assert_int_equal(scheme_h_raw(h, &dup, NULL), -EBUSY);
    /* Answered later, by tag, bounded by the original length. */
    scheme_cqe c;
    assert_true(net_deliver(&n, srv, "frame-1", &c));
    assert_int_equal(c.tag, t1);
    assert_int_equal(scheme_result_decode(c.result), 7);
    assert_memory_equal(buf1, "frame-1", 7);
    assert_false(scheme_server_complete(srv, t1, 1, &c));
    assert_int_equal(scheme_server_pending_count(srv), 0);
    /* Cancel of a waiting read: the server answers that tag with EINTR and the service forgets
     * it; a Cancel of something already answered gets no answer. */
    assert_true(scheme_h_read(h, (uint64_t)fd, buf2, sizeof buf2, 0) == INT64_MIN);
    uint32_t t2 = scheme_h_last_tag(h);
    scheme_cqe cc;
    scheme_sqe cancel = {.opcode = SCHEME_OP_CANCEL, .flags = SCHEME_SQE_ONEWAY, .tag = t2};
    assert_int_equal(scheme_h_raw(h, &cancel, &cc), -EINTR);
    assert_int_equal(cc.tag, t2);
    assert_int_equal(n.cancels, 1);
    assert_false(net_deliver(&n, srv, "late", &c));
    assert_true(scheme_h_cancel(h, t2) == INT64_MIN);
    assert_true(scheme_h_cancel(h, 12345) == INT64_MIN);
    /* More deferrals than max_pending: the extra one is EAGAIN now, the service told. */
    assert_true(scheme_h_read(h, (uint64_t)fd, buf1, 4, 0) == INT64_MIN);
    assert_true(scheme_h_read(h, (uint64_t)fd, buf2, 4, 0) == INT64_MIN);
    char buf3[4];
    assert_int_equal(scheme_h_read(h, (uint64_t)fd, buf3, 4, 0), -EAGAIN);
    assert_int_equal(n.cancels, 2);
    /* A service completing with more bytes than asked: EIO, not a lie to the caller. */
    uint32_t t4 = scheme_h_last_tag(h) - 1;
    assert_true(scheme_server_complete(srv, t4, 100, &c));
    assert_int_equal(scheme_result_decode(c.result), -EIO);
    n.q[1].used = false;
    /* Closing the file drops what still waits on it. */
    assert_int_equal(scheme_server_pending_count(srv), 1);
    scheme_h_close(h, (uint64_t)fd);
    assert_int_equal(scheme_server_pending_count(srv), 0);
    assert_int_equal(n.cancels, 3);
    /* Ops that may not defer: EIO. */
    fd = scheme_h_open(h, "", RD);
    assert_int_equal(scheme_h_fsize(h, (uint64_t)fd), -EIO);
    /* Freeing the server cancels what is left. */
    assert_true(scheme_h_read(h, (uint64_t)fd, buf1, 4, 0) == INT64_MIN);
    scheme_harness_free(h);
    assert_int_equal(n.cancels, 4);
}

static void test_demo_waits_for_data(void **state)
{
    fixture *f = *state;
    scheme_demo_set_wait_for_data(f->d, true);
    scheme_server *srv = scheme_harness_server(f->h);
    int64_t w = scheme_h_open(f->h, "pub/pipe",
                              scheme_h_flags(SCHEME_OPEN_WRITE | SCHEME_OPEN_CREATE, 0644));
    int64_t r = scheme_h_open(f->h, "pub/pipe", RD);
    char buf[8] = {0};
    assert_true(scheme_h_read(f->h, (uint64_t)r, buf, sizeof buf, 0) == INT64_MIN);
    uint32_t tag = scheme_h_last_tag(f->h);
    assert_int_equal(scheme_demo_waiting(f->d), 1);
    scheme_cqe c;
    assert_false(scheme_demo_poll(f->d, srv, &c));
    assert_int_equal(scheme_h_write(f->h, (uint64_t)w, "xy", 2, 0), 2);
    assert_true(scheme_demo_poll(f->d, srv, &c));
    assert_int_equal(c.tag, tag);
    assert_int_equal(scheme_result_decode(c.result), 2);
    assert_memory_equal(buf, "xy", 2);
    assert_int_equal(scheme_demo_waiting(f->d), 0);
    /* Non-blocking opens still see EOF as 0. */
    int64_t nb = scheme_h_open(f->h, "pub/pipe", scheme_h_flags(SCHEME_OPEN_READ |
                                                                    SCHEME_OPEN_NONBLOCK, 0));
    assert_int_equal(scheme_h_read(f->h, (uint64_t)nb, buf, sizeof buf, 2), 0);
    /* A waiting read is cancelled when its file closes. */
    assert_true(scheme_h_read(f->h, (uint64_t)r, buf, sizeof buf, 2) == INT64_MIN);
    scheme_h_close(f->h, (uint64_t)r);
    assert_int_equal(scheme_demo_waiting(f->d), 0);
    assert_int_equal(scheme_server_pending_count(srv), 0);
    scheme_h_close(f->h, (uint64_t)w);
    scheme_h_close(f->h, (uint64_t)nb);
}

/* The socket loop on a SOCK_SEQPACKET pair (packet boundaries as on the Redox socket), with
 * real in-process pointers in the Sqes (scheme_mem_direct, the Redox mapping). */
static void put_sqe(uint8_t *out, uint8_t op, uint32_t tag, uint64_t a0, uint64_t a1,
                    uint64_t a2, uint64_t a3)
{
    scheme_sqe q = {.opcode = op, .tag = tag, .args = {a0, a1, a2, a3, 0, 0}, .caller = 3};
    scheme_sqe_encode(&q, out);
}

static int64_t get_cqe(const uint8_t *in, uint32_t *tag, uint8_t *flags)
{
    scheme_cqe c;
    scheme_cqe_decode(in, &c);
    if (tag)
        *tag = c.tag;
    if (flags)
        *flags = c.flags;
    return scheme_result_decode(c.result);
}

static void test_socket_loop(void **state)
{
    fixture *f = *state;
    scheme_server_config cfg = {.name = "demo", .ops = scheme_demo_ops(), .svc = f->d,
                                .mem = scheme_mem_direct};
    scheme_server *s = scheme_server_new(&cfg);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    static const char path[] = "hello.txt";
    char buf[32] = {0};
    uint8_t in[4 * SCHEME_SQE_SIZE], out[4 * SCHEME_CQE_SIZE];
    put_sqe(in, SCHEME_OP_OPENAT, 10, 1, (uintptr_t)path, 9, RD);
    put_sqe(in + 64, SCHEME_OP_READ, 11, 2, (uintptr_t)buf, sizeof buf, 0);
    put_sqe(in + 128, SCHEME_OP_CLOSE_MSG, 0, 2, 0, 0, 0);
    put_sqe(in + 192, SCHEME_OP_FSIZE, 12, 2, 0, 0, 0);
    assert_int_equal(write(sv[1], in, sizeof in), (ssize_t)sizeof in);
    assert_int_equal(scheme_loop_handle_ready(s, sv[0]), 1);
    /* Three answers (CloseMsg takes none), in one packet. */
    assert_int_equal(read(sv[1], out, sizeof out), 3 * SCHEME_CQE_SIZE);
    uint32_t tag;
    assert_int_equal(get_cqe(out, &tag, NULL), 2);
    assert_int_equal(tag, 10);
    assert_int_equal(get_cqe(out + 16, &tag, NULL), 14);
    assert_int_equal(tag, 11);
    assert_string_equal(buf, "hello, scheme\n");
    assert_int_equal(get_cqe(out + 32, &tag, NULL), -EBADF);

    /* A read that is not whole Sqes: the whole ones are answered, then -EPROTO. */
    put_sqe(in, SCHEME_OP_FSIZE, 13, 1, 0, 0, 0);
    assert_int_equal(write(sv[1], in, 70), 70);
    assert_int_equal(scheme_loop_handle_ready(s, sv[0]), -EPROTO);
    assert_int_equal(read(sv[1], out, sizeof out), SCHEME_CQE_SIZE);

    /* Non-blocking and empty. */
    int fl = fcntl(sv[0], F_GETFL);
    assert_int_equal(fcntl(sv[0], F_SETFL, fl | O_NONBLOCK), 0);
    assert_int_equal(scheme_loop_handle_ready(s, sv[0]), -EAGAIN);
    assert_int_equal(fcntl(sv[0], F_SETFL, fl), 0);

    /* serve runs until the end of the requests (the kernel unmounting). */
    put_sqe(in, SCHEME_OP_FSYNC, 14, 1, 0, 0, 0);
    assert_int_equal(write(sv[1], in, SCHEME_SQE_SIZE), SCHEME_SQE_SIZE);
    assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
    assert_int_equal(scheme_loop_serve(s, sv[0]), 0);
    assert_int_equal(read(sv[1], out, sizeof out), SCHEME_CQE_SIZE);
    assert_int_equal(get_cqe(out, &tag, NULL), 0);
    assert_int_equal(tag, 14);
    close(sv[1]);
    close(sv[0]);
    scheme_server_free(s);

    /* Deferred answers and fevents written to the socket. */
    static netsvc n;
    memset(&n, 0, sizeof n);
    scheme_ops ops = {.openat = ev_open, .read = net_read, .cancel = net_cancel};
    scheme_server_config nc = {.name = "network.t", .ops = &ops, .svc = &n,
                               .mem = scheme_mem_direct};
    s = scheme_server_new(&nc);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    put_sqe(in, SCHEME_OP_OPENAT, 20, 1, (uintptr_t)"", 0, RD);
    put_sqe(in + 64, SCHEME_OP_READ, 21, 2, (uintptr_t)buf, sizeof buf, 0);
    assert_int_equal(write(sv[1], in, 128), 128);
    assert_int_equal(scheme_loop_handle_ready(s, sv[0]), 1);
    assert_int_equal(read(sv[1], out, sizeof out), SCHEME_CQE_SIZE);   /* open only */
    assert_int_equal(scheme_loop_post_fevent(s, sv[0], &n, SCHEME_EVENT_READ), 0);
    uint8_t fl8;
    assert_int_equal(read(sv[1], out, sizeof out), SCHEME_CQE_SIZE);
    assert_int_equal(get_cqe(out, &tag, &fl8), 2);
    assert_int_equal(fl8, SCHEME_CQE_SEND_FEVENT);
    assert_int_equal(tag, SCHEME_EVENT_READ);
    assert_int_equal(scheme_loop_post_fevent(s, sv[0], (void *)1, SCHEME_EVENT_READ), -EBADF);
    memcpy(buf, "pkt", 3);
    n.q[0].used = false;
    assert_int_equal(scheme_loop_complete(s, sv[0], 21, 3), 0);
    assert_int_equal(read(sv[1], out, sizeof out), SCHEME_CQE_SIZE);
    assert_int_equal(get_cqe(out, &tag, &fl8), 3);
    assert_int_equal(tag, 21);
    assert_int_equal(fl8, SCHEME_CQE_RESPOND);
    assert_int_equal(scheme_loop_complete(s, sv[0], 21, 3), -ENOENT);
    close(sv[1]);
    close(sv[0]);
    scheme_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqe_cqe_layout),
        cmocka_unit_test(test_struct_layouts),
        cmocka_unit_test(test_dirent_codec),
        cmocka_unit_test(test_errno_and_names),
        cmocka_unit_test(test_path_resolve),
        cmocka_unit_test(test_perm),
        cmocka_unit_test_setup_teardown(test_open_read_write_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fstat_fstatvfs_fpath, setup, teardown),
        cmocka_unit_test_setup_teardown(test_getdents, setup, teardown),
        cmocka_unit_test(test_defaults_and_fallback),
        cmocka_unit_test_setup_teardown(test_bad_handles_and_opcodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_normalization, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handle_exhaustion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caller_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlink_rename_dup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_and_legacy_open, setup, teardown),
        cmocka_unit_test(test_fevent_cqe_and_call),
        cmocka_unit_test(test_display_like_ops),
        cmocka_unit_test(test_deferred_answers),
        cmocka_unit_test_setup_teardown(test_demo_waits_for_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_loop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
