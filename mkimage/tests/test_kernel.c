/* kernel_open: directories (Debian and Void layouts) and package files (.deb and a
 * Void-style .xbps, i.e. a zstd tar), built here with libarchive, including hostile
 * ones; and the real Debian package of the test kernel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>

#include "kernel.h"
#include "kmod_resolve.h"
#include "test_support.h"

static char tmpdir[512], fixtures[512];

static int setup(void **state)
{
    (void)state;
    snprintf(fixtures, sizeof fixtures, "%s/fixtures/kernel", ts_build_dir());
    return ts_scratch_dir(tmpdir, sizeof tmpdir, "test_kernel");
}

static int teardown(void **state)
{
    (void)state;
    return ts_remove_tree(tmpdir);
}

/* An archive entry to write: type 'f' file (data), 'd' dir, 'l' symlink (data = target). */
struct ent {
    char type;
    const char *path;
    const char *data;
};

static void add_entries(struct archive *a, const struct ent *ents, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, ents[i].path);
        archive_entry_set_mtime(e, 1, 0);
        if (ents[i].type == 'd') {
            archive_entry_set_filetype(e, AE_IFDIR);
            archive_entry_set_perm(e, 0755);
        } else if (ents[i].type == 'l') {
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_perm(e, 0777);
            archive_entry_set_symlink(e, ents[i].data);
        } else {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0644);
            archive_entry_set_size(e, (la_int64_t)strlen(ents[i].data));
        }
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (ents[i].type == 'f')
            archive_write_data(a, ents[i].data, strlen(ents[i].data));
        archive_entry_free(e);
    }
}

static void write_tar(const char *path, int filter, const struct ent *ents, size_t n)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (filter)
        assert_int_equal(archive_write_add_filter(a, filter), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    add_entries(a, ents, n);
    archive_write_close(a);
    archive_write_free(a);
}

/* A .deb: ar archive of debian-binary, control.tar.xz and (optionally) data.tar.xz. */
static void write_deb(const char *path, const struct ent *ents, size_t n, int with_data)
{
    size_t cap = 1 << 20, used = 0;
    char *data = malloc(cap);
    struct archive *t = archive_write_new();
    archive_write_set_format_gnutar(t);
    archive_write_add_filter_xz(t);
    assert_int_equal(archive_write_open_memory(t, data, cap, &used), ARCHIVE_OK);
    add_entries(t, ents, n);
    archive_write_close(t);
    archive_write_free(t);

    struct archive *a = archive_write_new();
    archive_write_set_format_ar_svr4(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    struct {
        const char *name;
        const char *bytes;
        size_t len;
    } members[] = {{"debian-binary", "2.0\n", 4}, {"control.tar.xz", "not read", 8},
                   {"data.tar.xz", data, used}};
    for (size_t i = 0; i < (with_data ? 3u : 2u); i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, members[i].name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)members[i].len);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        archive_write_data(a, members[i].bytes, members[i].len);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    free(data);
}

static void path_in(char *out, size_t size, const char *name)
{
    assert_true(snprintf(out, size, "%s/%s", tmpdir, name) < (int)size);
}

/* ---------- tests ---------- */

static void test_path_rules(void **state)
{
    (void)state;
    assert_string_equal(kernel_pkg_path_ok("./boot/vmlinuz-1"), "boot/vmlinuz-1");
    assert_string_equal(kernel_pkg_path_ok("lib/modules/1/"), "lib/modules/1/");
    assert_null(kernel_pkg_path_ok("/boot/vmlinuz-1"));
    assert_null(kernel_pkg_path_ok("./../x"));
    assert_null(kernel_pkg_path_ok("lib/modules/../../x"));
    assert_null(kernel_pkg_path_ok("lib//x"));
    assert_null(kernel_pkg_path_ok("lib/./x"));
    assert_null(kernel_pkg_path_ok(""));
    assert_null(kernel_pkg_path_ok(NULL));
    assert_string_equal(kernel_pkg_path_ok("lib/..x/y"), "lib/..x/y");
}

static void test_directory_debian_fixture(void **state)
{
    (void)state;
    char tree[700], vfile[700];
    snprintf(tree, sizeof tree, "%s/tree", fixtures);
    snprintf(vfile, sizeof vfile, "%s/version", fixtures);
    FILE *f = fopen(vfile, "r");
    if (!f)
        skip();
    char ver[128] = "";
    assert_non_null(fgets(ver, sizeof ver, f));
    fclose(f);
    ver[strcspn(ver, "\n")] = '\0';
    kernel_tree k;
    mk_err err = {{0}};
    assert_int_equal(kernel_open(tree, tmpdir, &k, &err), 0);
    assert_string_equal(k.version, ver);
    assert_int_equal(access(k.vmlinuz, R_OK), 0);
    assert_non_null(strstr(k.modules_dir, "/lib/modules/"));
}

static void test_directory_void_layout_and_choice(void **state)
{
    (void)state;
    char root[700];
    path_in(root, sizeof root, "voiddir");
    ts_sh("mkdir -p '%s/boot' '%s/usr/lib/modules/6.12.9_1/kernel' '%s/usr/lib/modules/6.12.10_1' "
       "&& echo k > '%s/boot/vmlinuz-6.12.9_1' && echo k > '%s/boot/vmlinuz-6.12.10_1' "
       "&& echo k > '%s/boot/vmlinuz-7.0_1'", root, root, root, root, root, root);
    kernel_tree k;
    mk_err err = {{0}};
    assert_int_equal(kernel_open(root, NULL, &k, &err), 0);
    /* 7.0_1 has no modules; of the others the higher version wins (not strcmp order) */
    assert_string_equal(k.version, "6.12.10_1");
    assert_non_null(strstr(k.modules_dir, "/usr/lib/modules/6.12.10_1"));

    char lonely[700];
    path_in(lonely, sizeof lonely, "lonely");
    ts_sh("mkdir -p '%s/boot' && echo k > '%s/boot/vmlinuz-5.0'", lonely, lonely);
    assert_int_equal(kernel_open(lonely, NULL, &k, &err), -1);
    assert_non_null(strstr(err.msg, "kernel 5.0 has no module directory"));
    char empty[700];
    path_in(empty, sizeof empty, "empty");
    ts_sh("mkdir -p '%s'", empty);
    assert_int_equal(kernel_open(empty, NULL, &k, &err), -1);
    assert_non_null(strstr(err.msg, "no kernel found"));
    assert_int_equal(kernel_open("/nonexistent-kernel-src", NULL, &k, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent-kernel-src"));
}

static const struct ent good_ents[] = {
    {'d', "./", ""},
    {'f', "./props.plist", "<plist/>"},
    {'d', "./boot/", ""},
    {'f', "./boot/vmlinuz-6.12.9_1", "KERNEL"},
    {'f', "./boot/config-6.12.9_1", "CONFIG_X=y"},
    {'f', "./boot/System.map-6.12.9_1", "map"},
    {'f', "./etc/kernel.d/post-install/10-x", "#!/bin/sh\n"},
    {'f', "./usr/lib/modules/6.12.9_1/kernel/drivers/virtio/virtio.ko.zst", "zz"},
    {'f', "./usr/lib/modules/6.12.9_1/modules.builtin", ""},
    {'l', "./usr/lib/modules/6.12.9_1/build", "/usr/src/kernel-headers-6.12.9_1"},
};

static void test_xbps_package(void **state)
{
    (void)state;
    char pkg[700], work[700];
    path_in(pkg, sizeof pkg, "linux6.12-6.12.9_1.x86_64.xbps");
    path_in(work, sizeof work, "work-xbps");
    mkdir(work, 0755);
    write_tar(pkg, ARCHIVE_FILTER_ZSTD, good_ents, sizeof good_ents / sizeof good_ents[0]);
    kernel_tree k;
    mk_err err = {{0}};
    assert_int_equal(kernel_open(pkg, work, &k, &err), 0);
    assert_string_equal(k.version, "6.12.9_1");
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/kernel/drivers/virtio/virtio.ko.zst", k.modules_dir);
    assert_int_equal(access(p, F_OK), 0);
    /* only the kernel, its config and the module tree are taken */
    snprintf(p, sizeof p, "%s/etc", k.root);
    assert_int_not_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/boot/System.map-6.12.9_1", k.root);
    assert_int_not_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/build", k.modules_dir);
    struct stat st;
    assert_int_not_equal(lstat(p, &st), 0); /* symlinks are never created */
    FILE *f = fopen(k.vmlinuz, "r");
    char buf[16] = "";
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "KERNEL");
}

static void test_deb_package(void **state)
{
    (void)state;
    static const struct ent ents[] = {
        {'d', "./boot/", ""},
        {'f', "./boot/vmlinuz-6.1.0-9-amd64", "KERNEL"},
        {'f', "./lib/modules/6.1.0-9-amd64/kernel/fs/btrfs/btrfs.ko", "ko"},
        {'f', "./usr/share/doc/linux-image/copyright", "GPL"},
    };
    char pkg[700], work[700];
    path_in(pkg, sizeof pkg, "linux-image.deb");
    path_in(work, sizeof work, "work-deb");
    mkdir(work, 0755);
    write_deb(pkg, ents, 4, 1);
    kernel_tree k;
    mk_err err = {{0}};
    assert_int_equal(kernel_open(pkg, work, &k, &err), 0);
    assert_string_equal(k.version, "6.1.0-9-amd64");
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/kernel/fs/btrfs/btrfs.ko", k.modules_dir);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/usr/share", k.root);
    assert_int_not_equal(access(p, F_OK), 0);

    path_in(pkg, sizeof pkg, "nodata.deb");
    write_deb(pkg, ents, 4, 0);
    assert_int_equal(kernel_open(pkg, work, &k, &err), -1);
    assert_non_null(strstr(err.msg, "without data.tar member"));
}

static void test_hostile_packages(void **state)
{
    (void)state;
    char work[700], pkg[700], outside[700];
    path_in(work, sizeof work, "work-evil");
    mkdir(work, 0755);
    kernel_tree k;
    mk_err err = {{0}};

    static const struct ent dotdot[] = {
        {'f', "./boot/vmlinuz-1", "K"},
        {'f', "./lib/modules/1/../../../../escaped", "X"},
    };
    path_in(pkg, sizeof pkg, "dotdot.xbps");
    write_tar(pkg, ARCHIVE_FILTER_ZSTD, dotdot, 2);
    assert_int_equal(kernel_open(pkg, work, &k, &err), -1);
    assert_non_null(strstr(err.msg, "unsafe entry path"));
    path_in(outside, sizeof outside, "escaped");
    assert_int_not_equal(access(outside, F_OK), 0);

    static const struct ent absolute[] = {{'f', "/boot/vmlinuz-1", "K"}};
    path_in(pkg, sizeof pkg, "abs.deb");
    write_deb(pkg, absolute, 1, 1);
    assert_int_equal(kernel_open(pkg, work, &k, &err), -1);
    assert_non_null(strstr(err.msg, "unsafe entry path \"/boot/vmlinuz-1\""));

    /* A symlink to the outside followed by a file "through" it: the link is not
     * created, so the file lands inside (as a plain directory path) or nowhere. */
    static const struct ent through[] = {
        {'l', "./lib/modules/1", "/tmp"},
        {'f', "./lib/modules/1/planted", "X"},
        {'f', "./boot/vmlinuz-1", "K"},
    };
    path_in(pkg, sizeof pkg, "through.xbps");
    write_tar(pkg, ARCHIVE_FILTER_ZSTD, through, 3);
    assert_int_equal(kernel_open(pkg, work, &k, &err), 0);
    assert_int_not_equal(access("/tmp/planted", F_OK), 0);

    static const struct ent dup[] = {
        {'f', "./boot/vmlinuz-1", "K"},
        {'f', "./boot/vmlinuz-1", "K2"},
    };
    path_in(pkg, sizeof pkg, "dup.xbps");
    write_tar(pkg, ARCHIVE_FILTER_GZIP, dup, 2);
    assert_int_equal(kernel_open(pkg, work, &k, &err), -1);
    assert_non_null(strstr(err.msg, "duplicate entry"));

    path_in(pkg, sizeof pkg, "junk.xbps");
    ts_sh("head -c 3000 /dev/urandom > '%s'", pkg);
    assert_int_equal(kernel_open(pkg, work, &k, &err), -1);
    assert_non_null(strstr(err.msg, "junk.xbps"));

    /* truncated: a valid package cut in half */
    path_in(pkg, sizeof pkg, "good.xbps");
    write_tar(pkg, ARCHIVE_FILTER_ZSTD, good_ents, sizeof good_ents / sizeof good_ents[0]);
    char cut[700];
    path_in(cut, sizeof cut, "cut.xbps");
    ts_sh("head -c 200 '%s' > '%s'", pkg, cut);
    assert_int_equal(kernel_open(cut, work, &k, &err), -1);
    assert_non_null(strstr(err.msg, "cut.xbps"));
}

static void test_real_debian_package(void **state)
{
    (void)state;
    char pkg[700], work[700], vfile[700];
    snprintf(pkg, sizeof pkg, "%s/linux-image.deb", fixtures);
    snprintf(vfile, sizeof vfile, "%s/version", fixtures);
    if (access(pkg, R_OK) != 0)
        skip();
    path_in(work, sizeof work, "work-real");
    mkdir(work, 0755);
    kernel_tree k;
    mk_err err = {{0}};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(kernel_open(pkg, work, &k, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "  linux-image.deb unpacked in %.1f s\n",
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    FILE *f = fopen(vfile, "r");
    char ver[128] = "";
    if (f) {
        assert_non_null(fgets(ver, sizeof ver, f));
        fclose(f);
        ver[strcspn(ver, "\n")] = '\0';
        assert_string_equal(k.version, ver);
    }
    const char *names[] = {"virtio_blk", "btrfs"};
    kmod_list l;
    kmod_index *ix = kmod_index_open(&k, &err);
    assert_non_null(ix);
    assert_int_equal(kmod_resolve(ix, names, 2, &l, &err), 0);
    assert_true(l.n > 5);
    kmod_list_free(&l);
    kmod_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_rules),
        cmocka_unit_test(test_directory_debian_fixture),
        cmocka_unit_test(test_directory_void_layout_and_choice),
        cmocka_unit_test(test_xbps_package),
        cmocka_unit_test(test_deb_package),
        cmocka_unit_test(test_hostile_packages),
        cmocka_unit_test(test_real_debian_package),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
