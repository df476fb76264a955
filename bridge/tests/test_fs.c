/* Filesystem service (PROTOCOL.md, Filesystem service): the codec's structures and reply
 * decoders with every bound, then the real guest helper (`revm-guestd --service fs DIR`, run
 * locally) through the host client: names that try to leave the volume, symlinks pointing
 * out, stale node and handle ids, and the basic request set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fsc.h"
#include "proto.h"
#include "rb_svc.h"

static void attr_round_trip(void **st)
{
    (void)st;
    proto_fs_attr a = {1, 2, 3, 0100644, 5, 6, 7, 8, 4096, -9, 10, 11, 999999999, 13, 14};
    uint8_t b[PROTO_FS_ATTR_SIZE + 8];
    proto_wr w;
    proto_wr_init(&w, b, sizeof b);
    proto_fs_wr_attr(&w, &a);
    assert_false(w.err);
    assert_int_equal(w.len, PROTO_FS_ATTR_SIZE);
    proto_fs_attr d;
    assert_true(proto_fs_dec_attr(b, w.len, &d));
    assert_int_equal(d.ino, 1);
    assert_int_equal(d.size, 2);
    assert_int_equal(d.mode, 0100644);
    assert_int_equal(d.rdev, 8);
    assert_int_equal(d.atime, -9);
    assert_int_equal(d.atime_ns, 999999999);
    assert_int_equal(d.mtime, 10);
    assert_int_equal(d.ctime_ns, 14);
    assert_false(proto_fs_dec_attr(b, w.len - 1, &d)); /* short */
    assert_false(proto_fs_dec_attr(b, w.len + 1, &d)); /* trailing */
    /* nsec out of range */
    proto_fs_attr bad = a;
    bad.mtime_ns = 1000000000u;
    proto_wr_init(&w, b, sizeof b);
    proto_fs_wr_attr(&w, &bad);
    assert_false(proto_fs_dec_attr(b, w.len, &d));
    /* entry: node 0 is not a node */
    proto_fs_entry e = {0, a};
    proto_wr_init(&w, b, sizeof b);
    proto_fs_wr_entry(&w, &e);
    assert_false(proto_fs_dec_entry(b, w.len, &e));
}

static void names(void **st)
{
    (void)st;
    assert_int_equal(proto_fs_name_check("a", 1), 0);
    assert_int_equal(proto_fs_name_check("", 0), EINVAL);
    assert_int_equal(proto_fs_name_check(".", 1), EINVAL);
    assert_int_equal(proto_fs_name_check("..", 2), EINVAL);
    assert_int_equal(proto_fs_name_check("...", 3), 0);
    assert_int_equal(proto_fs_name_check("a/b", 3), EINVAL);
    assert_int_equal(proto_fs_name_check("a\0b", 3), EINVAL);
    char big[300];
    memset(big, 'x', sizeof big);
    assert_int_equal(proto_fs_name_check(big, 255), 0);
    assert_int_equal(proto_fs_name_check(big, 256), ENAMETOOLONG);
    assert_true(proto_fs_volume_name_ok("ext4.data", 9));
    assert_false(proto_fs_volume_name_ok(".hidden", 7));
    assert_false(proto_fs_volume_name_ok("a/b", 3));
    assert_false(proto_fs_volume_name_ok("", 0));
}

/* Builds a READDIR body from (next, name, node) triples. */
static size_t dir_body(uint8_t *b, size_t cap, bool plus, int n, const uint64_t *next,
                       const char *const *nm, const uint64_t *node)
{
    proto_wr w;
    proto_wr_init(&w, b, cap);
    proto_wr_u32(&w, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        proto_wr_u64(&w, next[i]);
        proto_wr_u32(&w, 8);
        proto_wr_str(&w, nm[i], strlen(nm[i]));
        if (plus) {
            proto_fs_entry e = {node[i], {0}};
            proto_fs_wr_entry(&w, &e);
        }
    }
    assert_false(w.err);
    return w.len;
}

static void readdir_replies(void **st)
{
    (void)st;
    uint8_t b[4096];
    uint64_t next[3] = {1, 2, 3}, node[3] = {0, 0, 7};
    const char *ok[3] = {".", "..", "file"};
    proto_fs_dirit it;
    proto_fs_dirent d;
    size_t n = dir_body(b, sizeof b, true, 3, next, ok, node);
    assert_true(proto_fs_dir_begin(&it, b, n, true));
    for (int i = 0; i < 3; i++)
        assert_int_equal(proto_fs_dir_next(&it, &d), 1);
    assert_int_equal(d.entry.node, 7);
    assert_int_equal(proto_fs_dir_next(&it, &d), 0);
    /* hostile names: "/" inside, empty, a plus entry without a node, "." with a node */
    const char *slash[3] = {".", "..", "a/b"};
    n = dir_body(b, sizeof b, false, 3, next, slash, node);
    assert_true(proto_fs_dir_begin(&it, b, n, false));
    assert_int_equal(proto_fs_dir_next(&it, &d), 1);
    assert_int_equal(proto_fs_dir_next(&it, &d), 1);
    assert_int_equal(proto_fs_dir_next(&it, &d), -1);
    const char *nonode[3] = {".", "..", "x"};
    uint64_t zero[3] = {0, 0, 0};
    n = dir_body(b, sizeof b, true, 3, next, nonode, zero);
    assert_true(proto_fs_dir_begin(&it, b, n, true));
    proto_fs_dir_next(&it, &d);
    proto_fs_dir_next(&it, &d);
    assert_int_equal(proto_fs_dir_next(&it, &d), -1);
    uint64_t dotnode[3] = {5, 0, 7};
    n = dir_body(b, sizeof b, true, 3, next, ok, dotnode);
    assert_true(proto_fs_dir_begin(&it, b, n, true));
    assert_int_equal(proto_fs_dir_next(&it, &d), -1);
    /* a count the body cannot hold is refused up front; trailing bytes fail at the end */
    n = dir_body(b, sizeof b, false, 3, next, ok, node);
    b[0] = 0xff;
    assert_false(proto_fs_dir_begin(&it, b, n, false));
    n = dir_body(b, sizeof b, false, 1, next, ok, node);
    assert_true(proto_fs_dir_begin(&it, b, n + 1, false));
    assert_int_equal(proto_fs_dir_next(&it, &d), 1);
    assert_int_equal(proto_fs_dir_next(&it, &d), -1);
    assert_false(proto_fs_dir_begin(&it, b, 3, false));
}

static void volume_and_info_replies(void **st)
{
    (void)st;
    uint8_t b[512];
    proto_wr w;
    proto_wr_init(&w, b, sizeof b);
    proto_wr_u32(&w, 2);
    proto_wr_str(&w, "ext4.data", 9);
    proto_wr_str(&w, "ext4", 4);
    proto_wr_u64(&w, 100), proto_wr_u64(&w, 50), proto_wr_u32(&w, 0);
    proto_wr_str(&w, "../etc", 6);
    proto_wr_str(&w, "ext4", 4);
    proto_wr_u64(&w, 100), proto_wr_u64(&w, 50), proto_wr_u32(&w, 1);
    proto_fs_dirit it;
    proto_fs_volume v;
    assert_true(proto_fs_vol_begin(&it, b, w.len));
    assert_int_equal(proto_fs_vol_next(&it, &v), 1);
    assert_int_equal(proto_fs_vol_next(&it, &v), -1); /* a name that is not a volume name */
    proto_wr_init(&w, b, sizeof b);
    proto_wr_u32(&w, 1), proto_wr_u32(&w, PROTO_FS_MAX_IO), proto_wr_u32(&w, 1);
    proto_wr_str(&w, "root", 4), proto_wr_str(&w, "root", 4);
    proto_fs_info in;
    assert_true(proto_fs_dec_info(b, w.len, &in));
    assert_int_equal(in.flags, 1);
    b[4] = 0xff, b[5] = 0xff, b[6] = 0xff, b[7] = 0xff; /* max_io above the bound */
    assert_false(proto_fs_dec_info(b, w.len, &in));
}

/* ---- the real helper, locally ---- */
static char dir[256];

static char *test_bin(const char *name)
{
    const char *b = getenv("BUILD");
    static char p[4096];
    snprintf(p, sizeof p, "%s/tests/bin/%s", b ? b : "build", name);
    return p;
}

static void write_file(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void helper_confinement(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/revm-test-fs.XXXXXX");
    assert_non_null(mkdtemp(dir));
    char p[512];
    snprintf(p, sizeof p, "%s/vol", dir);
    mkdir(p, 0755);
    write_file("outside", "secret");
    write_file("vol/inside", "hello");
    snprintf(p, sizeof p, "%s/vol/up", dir);
    assert_int_equal(symlink("../outside", p), 0);
    snprintf(p, sizeof p, "%s/vol/abs", dir);
    assert_int_equal(symlink("/etc", p), 0);
    snprintf(p, sizeof p, "%s/vol", dir);

    char err[256];
    char *argv[] = {test_bin("revm-guestd"), "--service", "fs", p, NULL};
    rb_svc *s = rb_svc_spawn_local(argv, NULL, err, sizeof err);
    assert_non_null(s);
    fsc *c = fsc_new(rb_svc_fd(s), false, 10000, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(fsc_get_info(c)->max_io, PROTO_FS_MAX_IO);

    proto_fs_entry e, e2;
    assert_int_equal(fsc_lookup(c, PROTO_FS_ROOT, "inside", &e), 0);
    assert_true(S_ISREG(e.attr.mode));
    assert_int_equal(e.attr.size, 5);
    /* the same file again: the same node */
    assert_int_equal(fsc_lookup(c, PROTO_FS_ROOT, "inside", &e2), 0);
    assert_int_equal(e.node, e2.node);
    uint64_t fh;
    assert_int_equal(fsc_open(c, e.node, O_RDONLY, &fh), 0);
    char buf[16];
    size_t got;
    assert_int_equal(fsc_read(c, fh, 0, buf, sizeof buf, &got), 0);
    assert_int_equal(got, 5);
    assert_memory_equal(buf, "hello", 5);

    /* Names that try to leave: refused on the wire by the helper, not only by the client. */
    static const char *bad[] = {"..", ".", "a/b", "../outside", "/etc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t body[300], rep[128];
        proto_wr w;
        proto_wr_init(&w, body, sizeof body);
        proto_wr_u64(&w, PROTO_FS_ROOT);
        proto_wr_str(&w, bad[i], strlen(bad[i]));
        size_t rn;
        assert_int_equal(fsc_call(c, PROTO_FS_LOOKUP, body, w.len, NULL, 0, rep, sizeof rep, &rn),
                         EINVAL);
    }
    /* Symlinks pointing out are links, never followed by the helper. */
    assert_int_equal(fsc_lookup(c, PROTO_FS_ROOT, "up", &e2), 0);
    assert_true(S_ISLNK(e2.attr.mode));
    assert_int_equal(fsc_lookup(c, e2.node, "outside", &e), ENOTDIR);
    assert_int_equal(fsc_open(c, e2.node, O_RDONLY, &fh), ELOOP);
    assert_int_equal(fsc_lookup(c, PROTO_FS_ROOT, "abs", &e2), 0);
    assert_int_equal(fsc_lookup(c, e2.node, "passwd", &e), ENOTDIR);
    assert_int_equal(fsc_create(c, e2.node, "x", O_WRONLY, 0644, UINT32_MAX, UINT32_MAX, &e, &fh), ENOTDIR);
    /* The client resolves the link itself, within the volume: /etc is the volume's, absent. */
    assert_int_equal(fsc_walk(c, "abs/passwd", true, &e), ENOENT);
    assert_int_equal(fsc_walk(c, "up", true, &e), ENOENT); /* ../outside stops at the root */

    /* Stale and made-up ids. */
    assert_int_equal(fsc_getattr(c, 0x1234567800000005ull, &e.attr), ESTALE);
    assert_int_equal(fsc_getattr(c, 0, &e.attr), ESTALE);
    assert_int_equal(fsc_read(c, 0xdeadbeefull, 0, buf, 4, &got), EBADF);
    assert_int_equal(fsc_release(c, 77), EBADF);
    uint8_t rep[64];
    size_t rn;
    assert_int_equal(fsc_call(c, 0x4e, NULL, 0, NULL, 0, rep, sizeof rep, &rn), ENOSYS);
    assert_int_equal(fsc_call(c, PROTO_FS_GETATTR, "x", 1, NULL, 0, rep, sizeof rep, &rn), EINVAL);

    /* Create, write, rename with flags, readdir. */
    assert_int_equal(fsc_create(c, PROTO_FS_ROOT, "new", O_RDWR, 0600, UINT32_MAX, UINT32_MAX, &e, &fh), 0);
    size_t wr;
    assert_int_equal(fsc_write(c, fh, 0, "data", 4, &wr), 0);
    assert_int_equal(wr, 4);
    assert_int_equal(fsc_release(c, fh), 0);
    assert_int_equal(fsc_rename(c, PROTO_FS_ROOT, "new", PROTO_FS_ROOT, "inside", PROTO_FS_RENAME_NOREPLACE), EEXIST);
    assert_int_equal(fsc_rename(c, PROTO_FS_ROOT, "new", PROTO_FS_ROOT, "inside", PROTO_FS_RENAME_EXCHANGE), 0);
    uint64_t dh;
    assert_int_equal(fsc_opendir(c, PROTO_FS_ROOT, &dh), 0);
    uint8_t *db = malloc(65536);
    proto_fs_dirit it;
    assert_int_equal(fsc_readdir(c, dh, 0, true, db, 65536, &it), 0);
    proto_fs_dirent d;
    int count = 0, k;
    while ((k = proto_fs_dir_next(&it, &d)) == 1) {
        count++;
        if (d.entry.node)
            fsc_forget(c, d.entry.node, 1);
    }
    assert_int_equal(k, 0);
    assert_int_equal(count, 6); /* . .. inside new up abs */
    free(db);
    assert_int_equal(fsc_releasedir(c, dh), 0);
    proto_fs_statfs sf;
    assert_int_equal(fsc_statfs(c, &sf), 0);
    assert_true(sf.bsize > 0);

    /* Bulk data both ways: 1 MiB records (the client reads big replies straight into the
     * caller's buffer, the helper splices big READs), at offsets that are not page aligned,
     * and across the end of the file (the helper's splice and pread parts of one reply). */
    enum { BIG = 3 * 1024 * 1024 + 777 };
    uint8_t *pat = malloc(BIG), *back = malloc(PROTO_FS_MAX_IO);
    assert_non_null(pat);
    assert_non_null(back);
    for (size_t i = 0; i < BIG; i++)
        pat[i] = (uint8_t)(i * 131u + (i >> 12));
    assert_int_equal(fsc_create(c, PROTO_FS_ROOT, "big", O_RDWR, 0600, UINT32_MAX, UINT32_MAX, &e, &fh), 0);
    for (size_t off = 0; off < BIG; off += wr) {
        assert_int_equal(fsc_write(c, fh, off, pat + off, BIG - off, &wr), 0);
        assert_true(wr > 0);
    }
    static const size_t at[] = {0, 12345, 4096, BIG - PROTO_FS_MAX_IO / 2, BIG - 10, BIG};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        assert_int_equal(fsc_read(c, fh, at[i], back, PROTO_FS_MAX_IO, &got), 0);
        size_t want = BIG - at[i] < PROTO_FS_MAX_IO ? BIG - at[i] : PROTO_FS_MAX_IO;
        assert_int_equal(got, want);
        assert_memory_equal(back, pat + at[i], want);
    }
    assert_int_equal(fsc_release(c, fh), 0);
    free(pat);
    free(back);

    fsc_free(c);
    rb_svc_close(s);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A guest that stops in the middle of a big READ reply: the caller still gets ETIMEDOUT
 * after the timeout (the client reads big bodies straight into the caller's buffer, and
 * must give it back), the rest of that record is dropped when it comes, and the next
 * request works. */
static int fake_fd;

static void *stalling_guest(void *arg)
{
    (void)arg;
    static uint8_t buf[4096], body[200000];
    uint8_t type;
    uint32_t tag;
    size_t n;
    assert_int_equal(rb_svc_recv(fake_fd, buf, sizeof buf, &type, &tag, &n), 0);
    assert_int_equal(type, PROTO_FS_INFO);
    proto_wr w;
    proto_wr_init(&w, buf, sizeof buf);
    proto_wr_u32(&w, PROTO_FS_VERSION);
    proto_wr_u32(&w, PROTO_FS_MAX_IO);
    proto_wr_u32(&w, 0);
    proto_wr_str(&w, "v", 1);
    proto_wr_str(&w, "t", 1);
    assert_int_equal(rb_svc_send(fake_fd, PROTO_FS_INFO, tag, buf, w.len), 0);
    /* First READ: half of a 200000-byte reply, then silence past the caller's timeout. */
    assert_int_equal(rb_svc_recv(fake_fd, buf, sizeof buf, &type, &tag, &n), 0);
    assert_int_equal(type, PROTO_FS_READ);
    memset(body, 'x', sizeof body);
    uint8_t hdr[PROTO_REC_HDR];
    proto_rec_hdr(hdr, PROTO_FS_READ, tag, sizeof body);
    assert_int_equal(write(fake_fd, hdr, sizeof hdr), (ssize_t)sizeof hdr);
    assert_int_equal(write(fake_fd, body, sizeof body / 2), (ssize_t)sizeof body / 2);
    /* The second READ arrives while we are silent. */
    assert_int_equal(rb_svc_recv(fake_fd, buf, sizeof buf, &type, &tag, &n), 0);
    assert_int_equal(type, PROTO_FS_READ);
    usleep(600 * 1000); /* past the first caller's timeout, within the second's */
    assert_int_equal(write(fake_fd, body, sizeof body / 2), (ssize_t)sizeof body / 2);
    memset(body, 'y', sizeof body);
    assert_int_equal(rb_svc_send(fake_fd, PROTO_FS_READ, tag, body, sizeof body), 0);
    return NULL;
}

static void *second_read(void *arg)
{
    fsc *c = arg;
    static uint8_t b[300000];
    size_t got = 0;
    usleep(700 * 1000); /* after the first READ, so the guest sees them in this order */
    int rc = fsc_read(c, 1, 0, b, sizeof b, &got);
    bool ok = rc == 0 && got == 200000 && b[0] == 'y' && b[got - 1] == 'y';
    return ok ? (void *)1 : NULL;
}

static void stalled_big_reply(void **st)
{
    (void)st;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fake_fd = sv[1];
    pthread_t g, r2;
    assert_int_equal(pthread_create(&g, NULL, stalling_guest, NULL), 0);
    char err[256];
    fsc *c = fsc_new(sv[0], false, 1000, err, sizeof err);
    assert_non_null(c);
    static uint8_t b[300000];
    size_t got;
    assert_int_equal(pthread_create(&r2, NULL, second_read, c), 0);
    assert_int_equal(fsc_read(c, 1, 0, b, sizeof b, &got), ETIMEDOUT);
    void *ok;
    pthread_join(r2, &ok);
    pthread_join(g, NULL);
    assert_non_null(ok);
    char last[160];
    assert_true(fsc_faults(c, last, sizeof last) >= 1); /* the timeout */
    fsc_free(c);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(attr_round_trip),
        cmocka_unit_test(names),
        cmocka_unit_test(readdir_replies),
        cmocka_unit_test(volume_and_info_replies),
        cmocka_unit_test(helper_confinement),
        cmocka_unit_test(stalled_big_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
