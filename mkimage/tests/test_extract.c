/* extract_archive: metadata survives (types, modes with special bits, numeric owners,
 * mtimes, links, devices, FIFOs, xattrs) for every compression; malicious entries
 * (absolute, "..", symlink escapes, hard link escapes) and broken archives (truncated,
 * garbage, empty, missing) fail with one line naming the entry or archive; a full disk
 * reports ENOSPC. Test archives are written here with libarchive.
 * Owner, device-node and security.* checks need (fake)root and are skipped otherwise. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "extract.h"
#include "test_support.h"

static char g_tmp[2048];
static int g_fake_root;
static int g_seq;

/* One archive member. type 0 means a regular file. */
typedef struct spec {
    const char *path;
    unsigned type;
    unsigned perm;
    unsigned uid, gid;
    const char *data;     /* regular file contents */
    const char *link;     /* symlink target */
    const char *hardlink; /* hard link target */
    unsigned major, minor;
    const char *xname, *xvalue; /* one xattr */
    size_t xlen;
    size_t fill; /* regular file of this many 'x' bytes instead of data */
} spec;

static const time_t MTIME = 1600000000;

static void path_in_tmp(char *out, size_t n, const char *what)
{
    snprintf(out, n, "%s/%s.%d", g_tmp, what, ++g_seq);
}

/* filter: "none", "xz", "gzip", "zstd" */
static void write_archive(const char *file, const char *filter, const spec *specs, size_t n)
{
    struct archive *w = archive_write_new();
    assert_non_null(w);
    assert_int_equal(archive_write_set_format_pax_restricted(w), ARCHIVE_OK);
    if (strcmp(filter, "xz") == 0)
        assert_int_equal(archive_write_add_filter_xz(w), ARCHIVE_OK);
    else if (strcmp(filter, "gzip") == 0)
        assert_int_equal(archive_write_add_filter_gzip(w), ARCHIVE_OK);
    else if (strcmp(filter, "zstd") == 0)
        assert_int_equal(archive_write_add_filter_zstd(w), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(w, file), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        const spec *s = &specs[i];
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, s->path);
        archive_entry_set_filetype(e, s->type ? s->type : AE_IFREG);
        archive_entry_set_perm(e, s->perm ? s->perm : s->type == AE_IFDIR ? 0755 : 0644);
        /* Without (fake)root only our own ids can be restored. */
        archive_entry_set_uid(e, g_fake_root ? s->uid : getuid());
        archive_entry_set_gid(e, g_fake_root ? s->gid : getgid());
        archive_entry_set_mtime(e, MTIME + (time_t)i, 0);
        char *fill = NULL;
        size_t size = 0;
        if (s->link)
            archive_entry_set_symlink(e, s->link);
        if (s->hardlink)
            archive_entry_set_hardlink(e, s->hardlink);
        if (s->type == AE_IFCHR || s->type == AE_IFBLK)
            archive_entry_set_rdev(e, makedev(s->major, s->minor));
        if (s->xname)
            archive_entry_xattr_add_entry(e, s->xname, s->xvalue,
                                          s->xlen ? s->xlen : strlen(s->xvalue));
        if (!s->type && !s->hardlink) {
            if (s->fill) {
                fill = malloc(s->fill);
                assert_non_null(fill);
                memset(fill, 'x', s->fill);
                size = s->fill;
            } else if (s->data) {
                size = strlen(s->data);
            }
        }
        archive_entry_set_size(e, (la_int64_t)size);
        assert_int_equal(archive_write_header(w, e), ARCHIVE_OK);
        if (size)
            assert_int_equal(archive_write_data(w, fill ? fill : s->data, size), (la_ssize_t)size);
        free(fill);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(w), ARCHIVE_OK);
    archive_write_free(w);
}

static void make_dir(char *out, size_t n)
{
    path_in_tmp(out, n, "dest");
    assert_int_equal(mkdir(out, 0755), 0);
}


static int setup(void **state)
{
    (void)state;
    g_fake_root = geteuid() == 0;
    return ts_scratch_dir(g_tmp, sizeof g_tmp, "test_extract");
}

static int teardown(void **state)
{
    (void)state;
    return ts_remove_tree(g_tmp);
}

/* A rootfs-like archive with every kind of entry. */
static const spec ROOTFS[] = {
    {.path = "./", .type = AE_IFDIR, .perm = 0755},
    {.path = "./etc/", .type = AE_IFDIR, .perm = 0755},
    {.path = "./etc/shadow", .perm = 0640, .gid = 42, .data = "root:!:1::::::\n"},
    {.path = "./tmp/", .type = AE_IFDIR, .perm = 01777},
    {.path = "./usr/", .type = AE_IFDIR, .perm = 0755},
    {.path = "./usr/bin/", .type = AE_IFDIR, .perm = 0755},
    {.path = "./usr/bin/su", .perm = 04755, .data = "#!su\n"},
    {.path = "./usr/bin/wall", .perm = 02755, .gid = 5, .data = "#!wall\n"},
    {.path = "./usr/bin/ping", .perm = 0755, .data = "#!ping\n",
     .xname = "security.capability",
     .xvalue = "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
     .xlen = 20},
    {.path = "./usr/bin/user", .perm = 0755, .uid = 1000, .gid = 1001, .data = "u",
     .xname = "user.comment", .xvalue = "hello"},
    {.path = "./usr/bin/sh", .type = AE_IFLNK, .perm = 0777, .link = "/bin/busybox"},
    {.path = "./usr/bin/ash", .type = AE_IFLNK, .perm = 0777, .link = "sh"},
    {.path = "./usr/bin/sudo", .hardlink = "./usr/bin/su"},
    {.path = "./bin", .type = AE_IFLNK, .perm = 0777, .link = "usr/bin"},
    {.path = "./dev/", .type = AE_IFDIR, .perm = 0755},
    {.path = "./dev/null", .type = AE_IFCHR, .perm = 0666, .major = 1, .minor = 3},
    {.path = "./dev/sda", .type = AE_IFBLK, .perm = 0660, .gid = 6, .major = 8, .minor = 0},
    {.path = "./dev/initctl", .type = AE_IFIFO, .perm = 0600},
    {.path = "./var//lib/./big", .perm = 0644, .fill = 3 << 20}, /* parent dirs implied */
};
#define NROOTFS (sizeof ROOTFS / sizeof ROOTFS[0])

static void check_stat(const char *dir, const char *rel, mode_t type, mode_t perm, uid_t uid,
                       gid_t gid, struct stat *out)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    struct stat st;
    if (lstat(p, &st) < 0)
        fail_msg("%s: %s", rel, strerror(errno));
    if ((st.st_mode & S_IFMT) != type)
        fail_msg("%s: type %o, want %o", rel, st.st_mode & S_IFMT, type);
    if (type != S_IFLNK && (st.st_mode & 07777) != perm)
        fail_msg("%s: mode %o, want %o", rel, st.st_mode & 07777, perm);
    if (g_fake_root && (st.st_uid != uid || st.st_gid != gid))
        fail_msg("%s: owner %u:%u, want %u:%u", rel, st.st_uid, st.st_gid, uid, gid);
    if (out)
        *out = st;
}

static void extract_rootfs(const char *filter)
{
    if (!g_fake_root)
        skip(); /* owners, device nodes and security.capability need (fake)root */
    char tar[4096], dest[4096];
    path_in_tmp(tar, sizeof tar, filter);
    write_archive(tar, filter, ROOTFS, NROOTFS);
    make_dir(dest, sizeof dest);
    chmod(dest, 0700);

    extract_stats st;
    mk_err err = {{0}};
    if (extract_archive(tar, dest, &st, &err) != 0)
        fail_msg("extract (%s): %s", filter, err.msg);
    assert_int_equal(st.entries, NROOTFS);
    assert_int_equal(st.files, 6);
    assert_int_equal(st.dirs, 6);
    assert_int_equal(st.symlinks, 3);
    assert_int_equal(st.hardlinks, 1);
    assert_int_equal(st.fifos, 1);
    assert_int_equal(st.bytes, (3u << 20) + 15 + 5 + 7 + 7 + 1);
    assert_int_equal(st.devices, 2);

    struct stat sb;
    check_stat(dest, "", S_IFDIR, 0755, 0, 0, &sb); /* the "./" entry applies to the root */
    assert_int_equal(sb.st_mtime, MTIME);
    check_stat(dest, "etc/shadow", S_IFREG, 0640, 0, 42, &sb);
    assert_int_equal(sb.st_mtime, MTIME + 2);
    assert_int_equal(sb.st_size, 15);
    check_stat(dest, "tmp", S_IFDIR, 01777, 0, 0, &sb);
    assert_int_equal(sb.st_mtime, MTIME + 3);
    check_stat(dest, "usr/bin/su", S_IFREG, 04755, 0, 0, &sb);
    assert_int_equal(sb.st_nlink, 2);
    struct stat sudo;
    check_stat(dest, "usr/bin/sudo", S_IFREG, 04755, 0, 0, &sudo);
    assert_int_equal(sudo.st_ino, sb.st_ino);
    check_stat(dest, "usr/bin/wall", S_IFREG, 02755, 0, 5, NULL);
    check_stat(dest, "usr/bin/user", S_IFREG, 0755, 1000, 1001, NULL);
    check_stat(dest, "usr/bin/sh", S_IFLNK, 0, 0, 0, &sb);
    assert_int_equal(sb.st_mtime, MTIME + 10);
    check_stat(dest, "bin", S_IFLNK, 0, 0, 0, NULL);
    check_stat(dest, "dev/initctl", S_IFIFO, 0600, 0, 0, NULL);
    check_stat(dest, "var/lib/big", S_IFREG, 0644, 0, 0, &sb);
    assert_int_equal(sb.st_size, 3 << 20);

    char p[8192], buf[256];
    snprintf(p, sizeof p, "%s/usr/bin/sh", dest);
    ssize_t n = readlink(p, buf, sizeof buf);
    assert_int_equal(n, 12);
    assert_memory_equal(buf, "/bin/busybox", 12);
    snprintf(p, sizeof p, "%s/usr/bin/user", dest);
    n = lgetxattr(p, "user.comment", buf, sizeof buf);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "hello", 5);

    if (g_fake_root) {
        check_stat(dest, "dev/null", S_IFCHR, 0666, 0, 0, &sb);
        assert_int_equal(major(sb.st_rdev), 1);
        assert_int_equal(minor(sb.st_rdev), 3);
        check_stat(dest, "dev/sda", S_IFBLK, 0660, 0, 6, &sb);
        assert_int_equal(major(sb.st_rdev), 8);
        assert_int_equal(minor(sb.st_rdev), 0);
        snprintf(p, sizeof p, "%s/usr/bin/ping", dest);
        n = lgetxattr(p, "security.capability", buf, sizeof buf);
        assert_int_equal(n, 20);
        assert_memory_equal(buf, ROOTFS[8].xvalue, 20);
    }
}

static void test_rootfs_none(void **state) { (void)state; extract_rootfs("none"); }
static void test_rootfs_xz(void **state) { (void)state; extract_rootfs("xz"); }
static void test_rootfs_gzip(void **state) { (void)state; extract_rootfs("gzip"); }
static void test_rootfs_zstd(void **state) { (void)state; extract_rootfs("zstd"); }

/* Extracts specs, expects failure with a message containing each of want[]. */
static void expect_error(const spec *specs, size_t n, const char *const *want)
{
    char tar[4096], dest[4096];
    path_in_tmp(tar, sizeof tar, "bad.tar");
    write_archive(tar, "none", specs, n);
    make_dir(dest, sizeof dest);
    mk_err err = {{0}};
    assert_int_equal(extract_archive(tar, dest, NULL, &err), -1);
    assert_null(strchr(err.msg, '\n'));
    for (; *want; want++)
        if (!strstr(err.msg, *want))
            fail_msg("error \"%s\" lacks \"%s\"", err.msg, *want);
    assert_non_null(strstr(err.msg, tar));
}

/* The outside directory that escapes aim at must stay untouched. */
static char g_outside[4096];

static void outside_untouched(void)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/pwned", g_outside);
    struct stat st;
    assert_int_equal(lstat(p, &st), -1);
}

static void test_absolute(void **state)
{
    (void)state;
    char abs[8192];
    snprintf(abs, sizeof abs, "%s/pwned", g_outside);
    const spec s[] = {{.path = "./ok", .data = "x"}, {.path = abs, .data = "x"}};
    expect_error(s, 2, (const char *[]){"absolute path", "pwned", NULL});
    outside_untouched();
}

static void test_dotdot(void **state)
{
    (void)state;
    const spec a[] = {{.path = "../outside/pwned", .data = "x"}};
    expect_error(a, 1, (const char *[]){"\"../outside/pwned\"", "'..'", NULL});
    const spec b[] = {{.path = "a/", .type = AE_IFDIR}, {.path = "a/../../outside/pwned", .data = "x"}};
    expect_error(b, 2, (const char *[]){"a/../../outside/pwned", "'..'", NULL});
    outside_untouched();
}

static void test_symlink_escape(void **state)
{
    (void)state;
    /* A symlink to the outside directory, then a file written through it. */
    const spec a[] = {{.path = "esc", .type = AE_IFLNK, .link = g_outside},
                      {.path = "esc/pwned", .data = "x"}};
    expect_error(a, 2, (const char *[]){"\"esc/pwned\"", "symlink \"esc\"", "outside", NULL});
    /* Relative escape, nested. */
    const spec b[] = {{.path = "d/", .type = AE_IFDIR},
                      {.path = "d/esc", .type = AE_IFLNK, .link = "../../outside"},
                      {.path = "d/esc/pwned", .data = "x"}};
    expect_error(b, 3, (const char *[]){"d/esc/pwned", "symlink \"d/esc\"", NULL});
    /* A directory entry replacing the symlink, to chmod/chown its target. */
    const spec c[] = {{.path = "esc", .type = AE_IFLNK, .link = g_outside},
                      {.path = "esc/", .type = AE_IFDIR, .perm = 0777}};
    expect_error(c, 2, (const char *[]){"\"esc/\"", "replace symlink", NULL});
    /* Even an in-tree symlink is never written through. */
    const spec d[] = {{.path = "usr/lib/", .type = AE_IFDIR},
                      {.path = "lib", .type = AE_IFLNK, .link = "usr/lib"},
                      {.path = "lib/x", .data = "x"}};
    expect_error(d, 3, (const char *[]){"\"lib/x\"", "symlink \"lib\"", NULL});
    outside_untouched();
    char p[8192];
    struct stat st;
    snprintf(p, sizeof p, "%s", g_outside);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
}

static void test_hardlink_escape(void **state)
{
    (void)state;
    const spec a[] = {{.path = "pw", .hardlink = "../outside/secret"}};
    expect_error(a, 1, (const char *[]){"\"pw\"", "hard link target", "'..'", NULL});
    char abs[8192];
    snprintf(abs, sizeof abs, "%s/secret", g_outside);
    const spec b[] = {{.path = "pw", .hardlink = abs}};
    expect_error(b, 1, (const char *[]){"hard link target", "absolute path", NULL});
    const spec c[] = {{.path = "esc", .type = AE_IFLNK, .link = g_outside},
                      {.path = "pw", .hardlink = "esc/secret"}};
    expect_error(c, 2, (const char *[]){"\"pw\"", "hard link target", "symlink \"esc\"", NULL});
    const spec d[] = {{.path = "pw", .hardlink = "./"}};
    expect_error(d, 1, (const char *[]){"archive root", NULL});
}

static void test_hardlink_to_symlink(void **state)
{
    (void)state;
    /* A hard link to a symlink is itself a symlink: nothing may go through it. */
    const spec a[] = {{.path = "l", .type = AE_IFLNK, .link = g_outside},
                      {.path = "h", .hardlink = "l"},
                      {.path = "h/pwned", .data = "x"}};
    expect_error(a, 3, (const char *[]){"\"h/pwned\"", "symlink \"h\"", NULL});
    outside_untouched();
}

/* A regular file replacing a symlink replaces the link, never its target. */
static void test_file_replaces_symlink(void **state)
{
    (void)state;
    char target[8192];
    snprintf(target, sizeof target, "%s/secret", g_outside);
    const spec a[] = {{.path = "l", .type = AE_IFLNK, .link = target},
                      {.path = "l", .data = "replaced"},
                      {.path = "d", .type = AE_IFLNK, .link = g_outside},
                      {.path = "d", .data = "file over dir link"}};
    char tar[4096], dest[4096];
    path_in_tmp(tar, sizeof tar, "replace.tar");
    write_archive(tar, "none", a, 4);
    make_dir(dest, sizeof dest);
    mk_err err = {{0}};
    if (extract_archive(tar, dest, NULL, &err) != 0)
        fail_msg("%s", err.msg);
    char p[8192], buf[64] = "";
    snprintf(p, sizeof p, "%s/l", dest);
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    FILE *f = fopen(target, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "secret\n");
    snprintf(p, sizeof p, "%s/d", dest);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    outside_untouched();
}

static void test_dest_not_empty(void **state)
{
    (void)state;
    char tar[4096], dest[4096], p[8192];
    path_in_tmp(tar, sizeof tar, "ok.tar");
    write_archive(tar, "none", ROOTFS, 2);
    make_dir(dest, sizeof dest);
    snprintf(p, sizeof p, "%s/stale", dest);
    assert_int_equal(symlink("/", p), 0);
    mk_err err = {{0}};
    assert_int_equal(extract_archive(tar, dest, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "empty directory"));
}

static void test_long_name(void **state)
{
    (void)state;
    static char longp[9000];
    for (size_t i = 0; i + 2 < sizeof longp; i += 2)
        memcpy(longp + i, "a/", 2);
    longp[sizeof longp - 2] = 'f';
    const spec a[] = {{.path = longp, .data = "x"}};
    expect_error(a, 1, (const char *[]){"path too long", NULL});
    longp[4500] = '\0'; /* still over TARPATH_MAX once normalized */
    expect_error(a, 1, (const char *[]){"path too long", NULL});
}

static void test_root_not_dir(void **state)
{
    (void)state;
    const spec a[] = {{.path = ".", .data = "x"}};
    expect_error(a, 1, (const char *[]){"must be a directory", NULL});
}

static void test_control_chars_quoted(void **state)
{
    (void)state;
    const spec a[] = {{.path = "/evil\nname", .data = "x"}};
    expect_error(a, 1, (const char *[]){"\\x0a", "absolute path", NULL});
}

/* Broken archives: the message names the archive. */
static void expect_broken(const char *file, const char *want)
{
    char dest[4096];
    make_dir(dest, sizeof dest);
    mk_err err = {{0}};
    assert_int_equal(extract_archive(file, dest, NULL, &err), -1);
    assert_null(strchr(err.msg, '\n'));
    assert_non_null(strstr(err.msg, file));
    if (!strstr(err.msg, want))
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
}

static void truncate_copy(const char *src, const char *dst, double frac)
{
    FILE *in = fopen(src, "rb");
    assert_non_null(in);
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    rewind(in);
    char *buf = malloc((size_t)size);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, in), (size_t)size);
    fclose(in);
    FILE *out = fopen(dst, "wb");
    assert_non_null(out);
    fwrite(buf, 1, (size_t)((double)size * frac), out);
    fclose(out);
    free(buf);
}

/* Plain files only, so that it extracts without (fake)root up to the cut. */
static const spec PLAIN[] = {
    {.path = "./", .type = AE_IFDIR},  {.path = "a/", .type = AE_IFDIR},
    {.path = "a/small", .data = "x"}, {.path = "a/big", .fill = 1 << 20},
    {.path = "a/big2", .fill = 1 << 20},
};

static void test_truncated(void **state)
{
    (void)state;
    const char *filters[] = {"xz", "gzip", "zstd", "none"};
    for (size_t i = 0; i < 4; i++) {
        char tar[4096], cut[4096];
        path_in_tmp(tar, sizeof tar, filters[i]);
        path_in_tmp(cut, sizeof cut, "cut");
        write_archive(tar, filters[i], PLAIN, sizeof PLAIN / sizeof PLAIN[0]);
        truncate_copy(tar, cut, 0.6);
        expect_broken(cut, "truncated");
    }
}

static void test_garbage(void **state)
{
    (void)state;
    char f[4096];
    path_in_tmp(f, sizeof f, "garbage");
    FILE *out = fopen(f, "wb");
    assert_non_null(out);
    for (int i = 0; i < 100000; i++)
        fputc((i * 7919 + 13) % 251, out);
    fclose(out);
    expect_broken(f, "not a tar archive");

    /* Valid xz, corrupted in the middle. */
    char tar[4096];
    path_in_tmp(tar, sizeof tar, "xz");
    write_archive(tar, "xz", ROOTFS, NROOTFS);
    int fd = open(tar, O_RDWR);
    assert_true(fd >= 0);
    off_t size = lseek(fd, 0, SEEK_END);
    char junk[64];
    memset(junk, 0x5a, sizeof junk);
    assert_int_equal(pwrite(fd, junk, sizeof junk, size / 2), (ssize_t)sizeof junk);
    close(fd);
    char dest[4096];
    make_dir(dest, sizeof dest);
    mk_err err = {{0}};
    assert_int_equal(extract_archive(tar, dest, NULL, &err), -1);
    assert_non_null(strstr(err.msg, tar));
}

static void test_empty_and_missing(void **state)
{
    (void)state;
    char f[4096];
    path_in_tmp(f, sizeof f, "empty");
    FILE *out = fopen(f, "wb");
    assert_non_null(out);
    fclose(out);
    char dest[4096];
    make_dir(dest, sizeof dest);
    mk_err err = {{0}};
    assert_int_equal(extract_archive(f, dest, NULL, &err), -1);
    assert_non_null(strstr(err.msg, f));

    /* A valid tar with no members. */
    path_in_tmp(f, sizeof f, "nomembers");
    write_archive(f, "none", NULL, 0);
    expect_broken(f, "no entries");

    path_in_tmp(f, sizeof f, "missing");
    expect_broken(f, "No such file");

    /* Destination missing. */
    char tar[4096];
    path_in_tmp(tar, sizeof tar, "ok");
    write_archive(tar, "none", ROOTFS, 2);
    assert_int_equal(extract_archive(tar, "/nonexistent/dest", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/dest"));
    /* The working directory is restored after success and failure alike. */
    char before[4096], after[4096];
    assert_non_null(getcwd(before, sizeof before));
    make_dir(dest, sizeof dest);
    assert_int_equal(extract_archive(tar, dest, NULL, &err), 0);
    assert_non_null(getcwd(after, sizeof after));
    assert_string_equal(before, after);
}

/* A 256 KiB tmpfs, in a private mount namespace of a child process (needs root). */
static void test_enospc(void **state)
{
    (void)state;
    if (geteuid() != 0 || getenv("FAKEROOTKEY"))
        skip();
    char tar[4096], dest[4096];
    path_in_tmp(tar, sizeof tar, "big");
    const spec s[] = {{.path = "./", .type = AE_IFDIR, .perm = 0755},
                      {.path = "huge", .fill = 2 << 20}};
    write_archive(tar, "xz", s, 2);
    make_dir(dest, sizeof dest);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", dest, "tmpfs", 0, "size=256k") < 0)
            _exit(77);
        mk_err err = {{0}};
        int rc = extract_archive(tar, dest, NULL, &err);
        umount(dest);
        if (rc == -1 && strstr(err.msg, "out of disk space") && strstr(err.msg, "huge"))
            _exit(0);
        fprintf(stderr, "enospc: rc %d: %s\n", rc, err.msg);
        _exit(1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int setup_outside(void **state)
{
    (void)state;
    snprintf(g_outside, sizeof g_outside, "%s/outside", g_tmp);
    if (mkdir(g_outside, 0700) < 0 && errno != EEXIST)
        return -1;
    char p[8192];
    snprintf(p, sizeof p, "%s/secret", g_outside);
    FILE *f = fopen(p, "w");
    if (!f)
        return -1;
    fputs("secret\n", f);
    fclose(f);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rootfs_none),
        cmocka_unit_test(test_rootfs_xz),
        cmocka_unit_test(test_rootfs_gzip),
        cmocka_unit_test(test_rootfs_zstd),
        cmocka_unit_test_setup(test_absolute, setup_outside),
        cmocka_unit_test_setup(test_dotdot, setup_outside),
        cmocka_unit_test_setup(test_symlink_escape, setup_outside),
        cmocka_unit_test_setup(test_hardlink_escape, setup_outside),
        cmocka_unit_test_setup(test_hardlink_to_symlink, setup_outside),
        cmocka_unit_test_setup(test_file_replaces_symlink, setup_outside),
        cmocka_unit_test(test_dest_not_empty),
        cmocka_unit_test(test_root_not_dir),
        cmocka_unit_test(test_long_name),
        cmocka_unit_test(test_control_chars_quoted),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_empty_and_missing),
        cmocka_unit_test(test_enospc),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
