/* disk: stderr summaries, derived UUIDs, superblock/qcow2 probes, the tree scan, and
 * disk_build end to end (btrfs and ext4, reproducibility across staging directories,
 * failures leaving nothing behind). The end-to-end cases skip when mkfs.btrfs,
 * mke2fs, qemu-img or the preload library are missing. */
#include <dirent.h>
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
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "checksum.h"
#include "disk.h"
#include "disk_exec.h"
#include "disk_probe.h"
#include "disk_qcow2.h"
#include "disk_tree.h"
#include "test_support.h"

static char scratch[4096];

static int setup_scratch(void **state)
{
    (void)state;
    return ts_scratch_dir(scratch, sizeof scratch, "test_disk");
}

static int teardown_scratch(void **state)
{
    (void)state;
    char cmd[2 * sizeof scratch + 64];
    snprintf(cmd, sizeof cmd, "umount -l '%s'/small 2>/dev/null; rm -rf '%s'", scratch, scratch);
    return system(cmd) == 0 ? 0 : -1;
}

static bool have_tool(const char *name)
{
    char cmd[256];
    /* disk_run also looks in /usr/sbin and /sbin, outside an ordinary user's PATH. */
    snprintf(cmd, sizeof cmd, "PATH=\"$PATH:/usr/sbin:/sbin\" command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

static bool can_build(void)
{
    const char *build = getenv("BUILD");
    char so[2048];
    snprintf(so, sizeof so, "%s/lib/revm/mkimage-repro.so", build ? build : "");
    return have_tool("mkfs.btrfs") && have_tool("mke2fs") && have_tool("qemu-img") &&
           (getenv("MKIMAGE_REPRO_SO") || access(so, R_OK) == 0);
}

/* Entries the test trees share, created in forward or reverse order so that host
 * inode numbers and readdir order differ between two copies. */
static void make_tree(const char *dir, bool reverse)
{
    ts_sh("mkdir -p '%s'", dir);
    for (int k = 0; k < 40; k++) {
        int i = reverse ? 39 - k : k;
        ts_sh("mkdir -p '%s/d%d' && printf 'content %d\\n' > '%s/d%d/g%02d'", dir, i % 7, i, dir,
           i % 7, i);
        ts_sh("printf 'file %d\\n' > '%s/f%02d'", i, dir, i);
    }
    ts_sh("head -c 300000 /dev/zero | tr '\\0' 'x' > '%s/big'", dir);
    ts_sh("ln '%s/f01' '%s/hard' && ln -s f02 '%s/sym' && mkfifo '%s/fifo'", dir, dir, dir, dir);
    ts_sh("chmod 4755 '%s/f03'", dir);
    ts_sh("find '%s' -exec touch -h -d '2024-03-01 10:00:00' {} +", dir);
}

static void file_absent_like(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strstr(de->d_name, needle))
            fail_msg("left behind: %s/%s", dir, de->d_name);
    closedir(d);
}

static void test_summarize_btrfs(void **state)
{
    (void)state;
    const char text[] = "NOTE: several default settings have changed in version 5.15, please\n"
                        "      this does not affect your deployments:\n"
                        "      - DUP for metadata (-m dup)\n\n"
                        "ERROR: unable to zero the output file\n"
                        "ERROR: second error\n";
    char out[128];
    assert_true(disk_summarize_stderr(text, sizeof text - 1, out, sizeof out));
    assert_string_equal(out, "unable to zero the output file");
}

static void test_summarize_last_line(void **state)
{
    (void)state;
    const char text[] = "qemu-img: warning: something\r\nqemu-img: error while writing at byte "
                        "0: No space left on device\n";
    char out[128];
    assert_true(disk_summarize_stderr(text, sizeof text - 1, out, sizeof out));
    assert_string_equal(out, "qemu-img: error while writing at byte 0: No space left on device");
    assert_false(disk_summarize_stderr("NOTE: x\n   y\n\n", 14, out, sizeof out));
    char small[8];
    assert_true(disk_summarize_stderr("a\x01" "bcdefghijk", 12, small, sizeof small));
    assert_string_equal(small, "a?bcdef");
}

static void test_run_failure_message(void **state)
{
    (void)state;
    const char *argv[] = {"sh", "-c", "echo 'NOTE: banner' >&2; echo 'ERROR: it broke' >&2; exit 3",
                          NULL};
    disk_command cmd = {.argv = argv, .keep_fd = -1};
    mk_err err = {{0}};
    assert_int_equal(disk_run(&cmd, &err), -1);
    assert_string_equal(err.msg, "sh: it broke");
    const char *argv2[] = {"sh", "-c", "exit 4", NULL};
    cmd.argv = argv2;
    assert_int_equal(disk_run(&cmd, &err), -1);
    assert_string_equal(err.msg, "sh: failed with exit status 4");
    const char *argv3[] = {"no-such-tool-revm", NULL};
    cmd.argv = argv3;
    assert_int_equal(disk_run(&cmd, &err), -1);
    assert_non_null(strstr(err.msg, "no-such-tool-revm: not found"));
    const char *argv4[] = {"sh", "-c", "test \"$REVM_X\" = 1", NULL};
    const char *env[] = {"REVM_X=1", NULL};
    cmd.argv = argv4;
    cmd.env = env;
    assert_int_equal(disk_run(&cmd, &err), 0);
}

static void test_uuid(void **state)
{
    (void)state;
    char a[37], b[37], c[37], d[37];
    disk_derive_uuid("fs-uuid", "seed", "app", a);
    disk_derive_uuid("fs-uuid", "seed", "app", b);
    disk_derive_uuid("hash-seed", "seed", "app", c);
    disk_derive_uuid("fs-uuid", "seed", "driver", d);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '4');
    assert_non_null(strchr("89ab", a[19]));
    uint8_t bin[16];
    assert_true(disk_parse_uuid(a, bin));
    assert_false(disk_parse_uuid("not-a-uuid", bin));
    assert_false(disk_parse_uuid("11111111-2222-4333-8444-55555555555g", bin));
    assert_false(disk_parse_uuid("11111111-2222-4333-8444-5555555555550", bin));
    assert_true(disk_parse_uuid("11111111-2222-4333-8444-555555555555", bin));
    assert_int_equal(bin[0], 0x11);
    assert_int_equal(bin[15], 0x55);
}

static void test_probes(void **state)
{
    (void)state;
    uint8_t uuid[16], other[16];
    memset(uuid, 0xab, sizeof uuid);
    memset(other, 0xcd, sizeof other);
    uint8_t sb[4096] = {0};
    memcpy(sb + 32, uuid, 16);
    memcpy(sb + 64, "_BHRfS_M", 8);
    assert_true(disk_btrfs_sb_ok(sb, sizeof sb, uuid));
    assert_false(disk_btrfs_sb_ok(sb, sizeof sb, other));
    assert_false(disk_btrfs_sb_ok(sb, 40, uuid));
    memset(sb, 0, sizeof sb);
    sb[56] = 0x53;
    sb[57] = 0xef;
    memcpy(sb + 104, uuid, 16);
    assert_true(disk_ext4_sb_ok(sb, sizeof sb, uuid));
    assert_false(disk_ext4_sb_ok(sb, sizeof sb, other));
    uint8_t q[64] = {'Q', 'F', 'I', 0xfb, 0, 0, 0, 3};
    q[24 + 3] = 0x01; /* 1 << 32 bytes = 4 GiB */
    assert_true(disk_qcow2_header_ok(q, sizeof q, 1ull << 32));
    assert_false(disk_qcow2_header_ok(q, sizeof q, 5ull << 30));
    q[7] = 9;
    assert_false(disk_qcow2_header_ok(q, sizeof q, 1ull << 32));
}

static void test_tree_scan(void **state)
{
    (void)state;
    char tree[4200];
    snprintf(tree, sizeof tree, "%s/scan", scratch);
    make_tree(tree, false);
    ts_sh("touch -d '2024-05-01 00:00:00' '%s/f05'", tree);
    disk_tree_info info;
    mk_err err = {{0}};
    assert_int_equal(disk_tree_scan(tree, 0, &info, &err), 0);
    /* root, 7 dirs holding 40 files, 40 files, big, hard, sym, fifo */
    assert_int_equal(info.inodes, 1 + 7 + 40 + 40 + 4);
    /* 81 small regular files (the hard link counts twice) of one block + 300000 bytes */
    assert_int_equal(info.data_bytes, 81 * 4096 + 303104);
    struct tm tm = {.tm_year = 124, .tm_mon = 4, .tm_mday = 1};
    time_t expect = mktime(&tm);
    assert_int_equal(info.newest_mtime, expect);
    assert_true(info.estimate > info.data_bytes);
    assert_int_equal(disk_tree_estimate(0, 0), 64u << 20);
    char missing[4300];
    snprintf(missing, sizeof missing, "%s/none", scratch);
    assert_int_equal(disk_tree_scan(missing, 0, &info, &err), -1);
    /* Entries modified after a cut-off count as created, not as input. */
    ts_sh("touch '%s/f06'", tree);
    assert_int_equal(disk_tree_scan(tree, expect + 1, &info, &err), 0);
    assert_int_equal(info.created, 1);
    assert_int_equal(info.newest_mtime, expect);
}

/* The preload library on its own: the clock, inode numbers, ctime and xattr order a
 * child process sees. */
static void test_repro_preload(void **state)
{
    (void)state;
    const char *build = getenv("BUILD");
    char so[2048], preload[2100], tree_env[4300], dir[4200];
    snprintf(so, sizeof so, "%s/lib/revm/mkimage-repro.so", build ? build : "");
    if (access(so, R_OK) != 0 || !have_tool("python3"))
        skip();
    snprintf(dir, sizeof dir, "%s/preload", scratch);
    ts_sh("mkdir -p '%s' && echo x > '%s/a' && ln '%s/a' '%s/b' && echo y > '%s/c'", dir, dir, dir,
       dir, dir);
    bool xattrs = have_tool("setfattr");
    if (xattrs) {
        char cmd[9000];
        snprintf(cmd, sizeof cmd, "setfattr -n user.zz -v 1 '%s/c' && setfattr -n user.aa -v 2 '%s/c'",
                 dir, dir);
        xattrs = system(cmd) == 0;
    }
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", so);
    snprintf(tree_env, sizeof tree_env, "REVM_REPRO_TREE=%s", dir);
    const char *env[] = {preload, "REVM_REPRO_SEED=s", "SOURCE_DATE_EPOCH=1234567", tree_env,
                         "REVM_REPRO_CLAMP_AFTER=1500000000", NULL};
    ts_sh("touch -d @978307200 '%s/a'", dir); /* input: kept; c is new: clamped */
    const char *date_argv[] = {"sh", "-c", "test \"$(date +%s)\" = 1234567", NULL};
    disk_command cmd = {.argv = date_argv, .env = env, .keep_fd = -1};
    mk_err err = {{0}};
    if (disk_run(&cmd, &err) != 0)
        fail_msg("clock not pinned: %s", err.msg);
    char script[9000];
    snprintf(script, sizeof script,
             "import os, sys\n"
             "d = sys.argv[1]\n"
             "a, b, c = (os.lstat(os.path.join(d, n)) for n in 'abc')\n"
             "assert a.st_ino == b.st_ino and a.st_ino < 10 and c.st_ino < 10, (a.st_ino, c.st_ino)\n"
             "assert a.st_ino != c.st_ino\n"
             "assert a.st_ctime == 1234567 and a.st_atime == 1234567, a.st_ctime\n"
             "assert a.st_mtime == 978307200 and c.st_mtime == 1234567, (a.st_mtime, c.st_mtime)\n"
             "if %d:\n"
             "    n = os.listxattr(os.path.join(d, 'c'), follow_symlinks=False)\n"
             "    assert n == sorted(n), n\n",
             xattrs);
    const char *py_argv[] = {"python3", "-c", script, dir, NULL};
    cmd.argv = py_argv;
    if (disk_run(&cmd, &err) != 0)
        fail_msg("preload: %s", err.msg);
}

static void test_qcow2_plan(void **state)
{
    (void)state;
    disk_qcow2_layout L;
    /* 5 GiB, nothing stored: header, 1 L1 cluster, 1 refcount table, 1 block. */
    disk_qcow2_plan(81920, 0, 0, &L);
    assert_int_equal(L.l1_entries, 10);
    assert_int_equal(L.l1_clusters, 1);
    assert_int_equal(L.total_clusters, 4);
    /* 3 GiB of data: 49152 + 6 L2 + ... needs two refcount blocks (32768 each). */
    disk_qcow2_plan(81920, 49152, 6, &L);
    assert_int_equal(L.refblocks, 2);
    assert_int_equal(L.reftable_clusters, 1);
    assert_int_equal(L.total_clusters, 1 + 1 + 6 + 49152 + 2 + 1);
    /* At a refcount block boundary the blocks count themselves: 32768 clusters in
     * all fit one block, one more needs a second. */
    disk_qcow2_plan(1u << 20, 32768 - 5, 1, &L);
    assert_int_equal(L.total_clusters, 32768);
    assert_int_equal(L.refblocks, 1);
    disk_qcow2_plan(1u << 20, 32768 - 4, 1, &L);
    assert_int_equal(L.refblocks, 2);
    assert_int_equal(L.total_clusters, 32770);
}

/* A sparse raw image with data in several L2 regions, an all-zero allocated cluster
 * and an unaligned extent; qemu-img must find the qcow2 consistent and equal. */
static void test_qcow2_write(void **state)
{
    (void)state;
    if (!have_tool("qemu-img"))
        skip();
    char raw[4200], out[4200];
    snprintf(raw, sizeof raw, "%s/q.raw", scratch);
    snprintf(out, sizeof out, "%s/q.qcow2", scratch);
    uint64_t size = 3ull << 30;
    int fd = open(raw, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    uint8_t block[70000];
    for (size_t i = 0; i < sizeof block; i++)
        block[i] = (uint8_t)(i * 7 + 1);
    const uint64_t at[] = {0, 65536 * 3 + 100, 600ull << 20, (2ull << 30) + 12345, size - 70000};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++)
        assert_int_equal(pwrite(fd, block, sizeof block, (off_t)at[i]), (ssize_t)sizeof block);
    uint8_t zeros[65536] = {0};
    assert_int_equal(pwrite(fd, zeros, sizeof zeros, 1ull << 30), (ssize_t)sizeof zeros);
    int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(ofd >= 0);
    char sha[65];
    uint64_t bytes = 0;
    mk_err err = {{0}};
    assert_int_equal(disk_qcow2_write(fd, size, ofd, "q.qcow2", sha, &bytes, NULL, NULL, &err), 0);
    close(ofd);
    close(fd);
    char file_sha[65];
    assert_int_equal(hash_file(out, file_sha, NULL, &err), 0);
    assert_string_equal(sha, file_sha);
    struct stat sb;
    assert_int_equal(stat(out, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, bytes);
    /* 2+2+2+2+2 data clusters (each 70000-byte write spans two), no zero cluster */
    assert_int_equal(bytes % 65536, 0);
    ts_sh("qemu-img check -q -f qcow2 '%s'", out);
    ts_sh("qemu-img compare -q -f raw -F qcow2 '%s' '%s'", raw, out);
    unlink(raw);
}

static void build_one(const char *tree, const char *out, const char *fs, disk_stats *st)
{
    disk_spec spec = {.tree = tree, .out_qcow2 = out, .fs = fs, .size_bytes = 512ull << 20,
                      .label = "test", .seed = "0123abcd", .work_dir = scratch};
    mk_err err = {{0}};
    int r = disk_build(&spec, st, &err);
    if (r != 0)
        fail_msg("disk_build: %s", err.msg);
    char sha[65];
    assert_int_equal(hash_file(out, sha, NULL, &err), 0);
    assert_string_equal(sha, st->sha256);
    struct stat sb;
    assert_int_equal(stat(out, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, st->qcow2_bytes);
}

static void test_build_reproducible(void **state)
{
    (void)state;
    if (!can_build())
        skip();
    char t1[4200], t2[4200], o1[4300], o2[4300], o3[4300], o4[4300];
    snprintf(t1, sizeof t1, "%s/tree-one", scratch);
    snprintf(t2, sizeof t2, "%s/second-tree-with-a-longer-name", scratch);
    make_tree(t1, false);
    make_tree(t2, true);
    snprintf(o1, sizeof o1, "%s/one.qcow2", scratch);
    snprintf(o2, sizeof o2, "%s/two.qcow2", scratch);
    snprintf(o3, sizeof o3, "%s/one-ext4.qcow2", scratch);
    snprintf(o4, sizeof o4, "%s/two-ext4.qcow2", scratch);
    disk_stats s1, s2, s3, s4;
    build_one(t1, o1, "btrfs", &s1);
    build_one(t2, o2, NULL, &s2);
    assert_string_equal(s1.sha256, s2.sha256);
    build_one(t1, o3, "ext4", &s3);
    build_one(t2, o4, "ext4", &s4);
    assert_string_equal(s3.sha256, s4.sha256);
    assert_string_not_equal(s1.sha256, s3.sha256);
    file_absent_like(scratch, ".part-");
}

/* Two jobs formatted at once give the same images as one at a time; an aborted job
 * leaves no output and no process. */
static void test_build_async(void **state)
{
    (void)state;
    if (!can_build())
        skip();
    char t1[4200], o1[4300], o2[4300], o3[4300];
    snprintf(t1, sizeof t1, "%s/async-tree", scratch);
    make_tree(t1, false);
    snprintf(o1, sizeof o1, "%s/async1.qcow2", scratch);
    snprintf(o2, sizeof o2, "%s/async2.qcow2", scratch);
    snprintf(o3, sizeof o3, "%s/async3.qcow2", scratch);
    disk_spec a = {.tree = t1, .out_qcow2 = o1, .size_bytes = 512ull << 20, .label = "test",
                   .seed = "0123abcd", .work_dir = scratch};
    disk_spec b = a, c = a;
    b.out_qcow2 = o2;
    c.out_qcow2 = o3;
    disk_job *ja, *jb, *jc;
    mk_err err = {{0}};
    assert_int_equal(disk_build_start(&a, &ja, &err), 0);
    assert_int_equal(disk_build_start(&b, &jb, &err), 0);
    assert_int_equal(disk_build_start(&c, &jc, &err), 0);
    disk_build_abort(jc);
    disk_stats sa, sb;
    assert_int_equal(disk_build_finish(jb, &sb, &err), 0);
    assert_int_equal(disk_build_finish(ja, &sa, &err), 0);
    assert_string_equal(sa.sha256, sb.sha256);
    disk_stats one;
    char o4[4300];
    snprintf(o4, sizeof o4, "%s/async4.qcow2", scratch);
    a.out_qcow2 = o4;
    assert_int_equal(disk_build(&a, &one, &err), 0);
    assert_string_equal(one.sha256, sa.sha256);
    assert_int_equal(access(o3, F_OK), -1);
    file_absent_like(scratch, ".part-");
}

static void expect_failure(const disk_spec *spec, const char *needle)
{
    disk_stats st;
    mk_err err = {{0}};
    assert_int_equal(disk_build(spec, &st, &err), -1);
    if (!strstr(err.msg, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(access(spec->out_qcow2, F_OK), -1);
}

static void test_bad_spec(void **state)
{
    (void)state;
    char tree[4200], out[4300], missing_dir[4300];
    snprintf(tree, sizeof tree, "%s/spec-tree", scratch);
    ts_sh("mkdir -p '%s'", tree);
    snprintf(out, sizeof out, "%s/x.qcow2", scratch);
    snprintf(missing_dir, sizeof missing_dir, "%s/nope/x.qcow2", scratch);
    disk_spec spec = {.tree = tree, .out_qcow2 = out, .size_bytes = 1ull << 30, .seed = "s"};
    spec.fs = "xfs";
    expect_failure(&spec, "unknown filesystem");
    spec.fs = NULL;
    spec.size_bytes = 1 << 20;
    expect_failure(&spec, "at least 256 MiB");
    spec.size_bytes = 1ull << 30;
    spec.tree = "/nonexistent-revm-tree";
    expect_failure(&spec, "/nonexistent-revm-tree: No such file");
    spec.tree = tree;
    spec.out_qcow2 = missing_dir;
    expect_failure(&spec, "nope: No such file");
    spec.out_qcow2 = out;
    spec.fs = "ext4";
    spec.label = "a-label-longer-than-sixteen";
    expect_failure(&spec, "longer than 16");
}

/* A 1 MiB tmpfs as output directory, then as raw-image directory: one clear line,
 * nothing left. Needs root for the mount (in a private mount namespace). */
static void test_out_of_space(void **state)
{
    (void)state;
    if (!can_build() || geteuid() != 0 || unshare(CLONE_NEWNS) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        skip();
    char small[4200], tree[4200], out[4300], ok_out[4300];
    snprintf(small, sizeof small, "%s/small", scratch);
    snprintf(tree, sizeof tree, "%s/space-tree", scratch);
    ts_sh("mkdir -p '%s'", small);
    make_tree(tree, false);
    if (mount("tmpfs", small, "tmpfs", 0, "size=1m") != 0)
        skip();
    snprintf(out, sizeof out, "%s/x.qcow2", small);
    disk_spec spec = {.tree = tree, .out_qcow2 = out, .size_bytes = 512ull << 20, .seed = "s",
                      .work_dir = scratch};
    expect_failure(&spec, "not enough space");
    file_absent_like(small, "x.qcow2");

    snprintf(ok_out, sizeof ok_out, "%s/y.qcow2", scratch);
    spec.out_qcow2 = ok_out;
    setenv("MKIMAGE_RAW_DIR", small, 1);
    expect_failure(&spec, "space");
    unsetenv("MKIMAGE_RAW_DIR");
    file_absent_like(small, "");
    file_absent_like(scratch, ".part-");
    umount(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summarize_btrfs),
        cmocka_unit_test(test_summarize_last_line),
        cmocka_unit_test(test_run_failure_message),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_probes),
        cmocka_unit_test(test_tree_scan),
        cmocka_unit_test(test_qcow2_plan),
        cmocka_unit_test(test_qcow2_write),
        cmocka_unit_test(test_repro_preload),
        cmocka_unit_test(test_bad_spec),
        cmocka_unit_test(test_build_reproducible),
        cmocka_unit_test(test_build_async),
        cmocka_unit_test(test_out_of_space),
    };
    return cmocka_run_group_tests(tests, setup_scratch, teardown_scratch);
}
