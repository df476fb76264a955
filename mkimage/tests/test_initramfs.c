/* initramfs_write against the test kernel ($BUILD/fixtures/kernel/tree).
 *
 * Also the initramfs builder of tests/integration/initramfs-boot.sh, which boots
 * the result without the rest of the pipeline: with REVM_INITRAMFS_OUT set, this
 * program writes that file from REVM_INITRAMFS_KERNEL (default: the fixture tree),
 * REVM_INITRAMFS_MODULES (space-separated names) and REVM_INITRAMFS_INIT (default:
 * $BUILD/lib/revm/revm-init), prints the module list and exits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>

#include "initramfs.h"
#include "kernel.h"
#include "kmod_read.h"
#include "kmod_resolve.h"
#include "kmod_sig.h"
#include "test_support.h"

static char tmpdir[600], tree[600], init_bin[600];
static kernel_tree kt;
static kmod_index *ktix; /* kt's module index */

static int setup(void **state)
{
    (void)state;
    snprintf(tree, sizeof tree, "%s/fixtures/kernel/tree", ts_build_dir());
    snprintf(init_bin, sizeof init_bin, "%s/lib/revm/revm-init", ts_build_dir());
    if (ts_scratch_dir(tmpdir, sizeof tmpdir, "test_initramfs") < 0)
        return -1;
    mk_err err;
    if (access(tree, F_OK) == 0 &&
        (kernel_open(tree, tmpdir, &kt, &err) < 0 || !(ktix = kmod_index_open(&kt, &err)))) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kmod_index_free(ktix);
    ktix = NULL;
    return ts_remove_tree(tmpdir);
}

static void need_fixture(void)
{
    if (access(tree, F_OK) != 0 || access(init_bin, F_OK) != 0) {
        fprintf(stderr, "  (fixture kernel or revm-init missing: skipped)\n");
        skip();
    }
}

/* Asserts that the current entry of a holds exactly the len bytes at want. */
static void assert_entry_data(struct archive *a, struct archive_entry *e,
                              const unsigned char *want, size_t len)
{
    assert_int_equal(archive_entry_size(e), len);
    unsigned char *back = malloc(len + 1);
    assert_non_null(back);
    size_t got = 0;
    la_ssize_t r;
    while (got < len && (r = archive_read_data(a, back + got, len - got)) > 0)
        got += (size_t)r;
    assert_int_equal(got, len);
    assert_memory_equal(back, want, len);
    free(back);
}

static void test_contents(void **state)
{
    (void)state;
    need_fixture();
    const char *names[] = {"virtio_blk"};
    kmod_list mods;
    mk_err err = {{0}};
    assert_int_equal(kmod_resolve(ktix, names, 1, &mods, &err), 0);
    char out[700];
    snprintf(out, sizeof out, "%s/a.cpio", tmpdir);
    assert_int_equal(initramfs_write(&kt, &mods, init_bin, out, &err), 0);

    struct archive *a = archive_read_new();
    archive_read_support_format_cpio(a);
    assert_int_equal(archive_read_open_filename(a, out, 1 << 16), ARCHIVE_OK);
    struct archive_entry *e;
    int seen_console = 0, seen_init = 0, seen_list = 0, seen_blk = 0, seen_newroot = 0;
    char want_blk[300];
    snprintf(want_blk, sizeof want_blk, "lib/modules/%s/kernel/drivers/block/virtio_blk.ko",
             kt.version);
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *n = archive_entry_pathname(e);
        if (strcmp(n, "dev/console") == 0) {
            seen_console = archive_entry_filetype(e) == AE_IFCHR &&
                           archive_entry_rdevmajor(e) == 5 && archive_entry_rdevminor(e) == 1;
        } else if (strcmp(n, "init") == 0) {
            seen_init = archive_entry_perm(e) == 0755;
        } else if (strcmp(n, "newroot") == 0) {
            seen_newroot = archive_entry_filetype(e) == AE_IFDIR;
        } else if (strcmp(n, want_blk) == 0) {
            /* Debian's kernel does not force signatures: the module without its own. */
            char orig_path[PATH_MAX + 64];
            snprintf(orig_path, sizeof orig_path, "%s/kernel/drivers/block/virtio_blk.ko",
                     kt.modules_dir);
            size_t olen;
            unsigned char *orig = ts_slurp(orig_path, &olen);
            assert_non_null(orig);
            size_t want = kmod_unsigned_len(orig, olen);
            assert_true(want < olen);
            assert_entry_data(a, e, orig, want);
            free(orig);
            seen_blk = 1;
        } else if (strcmp(n, INITRAMFS_MODULES_LIST) == 0) {
            char buf[4096] = "";
            la_ssize_t r = archive_read_data(a, buf, sizeof buf - 1);
            assert_true(r > 0);
            /* dependencies first: virtio before virtio_blk, which is last */
            char *virtio = strstr(buf, "/kernel/drivers/virtio/virtio.ko\n");
            char *blk = strstr(buf, "/virtio_blk.ko\n");
            assert_non_null(virtio);
            assert_non_null(blk);
            assert_true(virtio < blk);
            assert_int_equal(blk[strlen("/virtio_blk.ko\n")], '\0');
            seen_list = 1;
        }
    }
    archive_read_free(a);
    assert_true(seen_console && seen_init && seen_list && seen_blk && seen_newroot);
    kmod_list_free(&mods);
}

static void test_deterministic(void **state)
{
    (void)state;
    need_fixture();
    const char *names[] = {"virtio_pci", "virtio_blk"};
    kmod_list mods;
    mk_err err = {{0}};
    assert_int_equal(kmod_resolve(ktix, names, 2, &mods, &err), 0);
    char o1[700], o2[700];
    snprintf(o1, sizeof o1, "%s/d1.cpio", tmpdir);
    snprintf(o2, sizeof o2, "%s/d2.cpio", tmpdir);
    assert_int_equal(initramfs_write(&kt, &mods, init_bin, o1, &err), 0);
    assert_int_equal(initramfs_write(&kt, &mods, init_bin, o2, &err), 0);
    size_t l1, l2;
    unsigned char *b1 = ts_slurp(o1, &l1), *b2 = ts_slurp(o2, &l2);
    assert_non_null(b1);
    assert_non_null(b2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    free(b1);
    free(b2);
    kmod_list_free(&mods);
}

static void test_missing_init_leaves_nothing(void **state)
{
    (void)state;
    need_fixture();
    kmod_list none = {0};
    mk_err err = {{0}};
    char out[700], bad[700];
    snprintf(out, sizeof out, "%s/never.cpio", tmpdir);
    snprintf(bad, sizeof bad, "%s/no-such-init", tmpdir);
    assert_int_equal(initramfs_write(&kt, &none, bad, out, &err), -1);
    assert_non_null(strstr(err.msg, "no-such-init"));
    assert_int_not_equal(access(out, F_OK), 0);
    /* a module that vanished between resolve and write: no output either */
    char *paths[] = {"kernel/does/not/exist.ko"};
    kmod_list ghost = {paths, 1};
    assert_int_equal(initramfs_write(&kt, &ghost, init_bin, out, &err), -1);
    assert_int_not_equal(access(out, F_OK), 0);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -q part", tmpdir);
    assert_int_not_equal(system(cmd), 0); /* no temporary left behind */
}

/* Void ships .ko.zst: the initramfs must hold plain .ko files (finit_module on
 * this kernel takes no compressed modules) with the original bytes (this tree has no
 * kernel config, so the signatures stay). */
static void test_compressed_modules_are_decompressed(void **state)
{
    (void)state;
    need_fixture();
    if (system("command -v zstd >/dev/null") != 0)
        skip();
    char root[700], cmd[PATH_MAX + 3000];
    snprintf(root, sizeof root, "%s/zst", tmpdir);
    int cn = snprintf(cmd, sizeof cmd,
             "set -e; m='%s/lib/modules/9.9_1'; mkdir -p \"$m/kernel\" '%s/boot'; "
             "echo k > '%s/boot/vmlinuz-9.9_1'; "
             "for f in virtio virtio_ring; do zstd -q -c '%s/kernel/drivers/virtio/'$f.ko "
             "> \"$m/kernel/$f.ko.zst\"; done",
             root, root, root, kt.modules_dir);
    assert_true(cn > 0 && (size_t)cn < sizeof cmd);
    assert_int_equal(system(cmd), 0);
    kernel_tree z;
    mk_err err = {{0}};
    assert_int_equal(kernel_open(root, tmpdir, &z, &err), 0);
    const char *names[] = {"virtio"};
    kmod_list mods;
    kmod_index *zix = kmod_index_open(&z, &err);
    assert_non_null(zix);
    assert_int_equal(kmod_resolve(zix, names, 1, &mods, &err), 0);
    assert_int_equal(mods.n, 2);
    char out[800];
    snprintf(out, sizeof out, "%s/zst.cpio", tmpdir);
    assert_int_equal(initramfs_write(&z, &mods, init_bin, out, &err), 0);
    kmod_list_free(&mods);
    kmod_index_free(zix);

    char orig_path[PATH_MAX + 64];
    snprintf(orig_path, sizeof orig_path, "%s/kernel/drivers/virtio/virtio_ring.ko", kt.modules_dir);
    size_t olen;
    unsigned char *orig = ts_slurp(orig_path, &olen);
    assert_non_null(orig);
    struct archive *a = archive_read_new();
    archive_read_support_format_cpio(a);
    assert_int_equal(archive_read_open_filename(a, out, 1 << 16), ARCHIVE_OK);
    struct archive_entry *e;
    int found = 0;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *n = archive_entry_pathname(e);
        assert_null(strstr(n, ".zst"));
        if (strcmp(n, "lib/modules/9.9_1/kernel/virtio_ring.ko") == 0) {
            assert_entry_data(a, e, orig, olen);
            found = 1;
        } else if (strcmp(n, INITRAMFS_MODULES_LIST) == 0) {
            char buf[512] = "";
            assert_true(archive_read_data(a, buf, sizeof buf - 1) > 0);
            assert_string_equal(buf, "/lib/modules/9.9_1/kernel/virtio_ring.ko\n"
                                     "/lib/modules/9.9_1/kernel/virtio.ko\n");
        }
    }
    archive_read_free(a);
    free(orig);
    assert_true(found);
}

/* REVM_INITRAMFS_OUT mode, for the boot test. */
static int make_one(const char *out)
{
    const char *src = getenv("REVM_INITRAMFS_KERNEL");
    const char *init = getenv("REVM_INITRAMFS_INIT");
    char *names_env = strdup(getenv("REVM_INITRAMFS_MODULES") ? getenv("REVM_INITRAMFS_MODULES") : "");
    const char *names[64];
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(names_env, " ,", &save); t && n < 64; t = strtok_r(NULL, " ,", &save))
        names[n++] = t;
    kernel_tree k;
    kmod_list mods = {0};
    kmod_index *ix = NULL;
    mk_err err = {{0}};
    int rc = 1;
    if (kernel_open(src ? src : tree, tmpdir, &k, &err) < 0 ||
        !(ix = kmod_index_open(&k, &err)) || kmod_resolve(ix, names, n, &mods, &err) < 0 ||
        initramfs_write(&k, &mods, init ? init : init_bin, out, &err) < 0) {
        fprintf(stderr, "test_initramfs: %s\n", err.msg);
    } else {
        for (size_t i = 0; i < mods.n; i++)
            printf("%s\n", mods.paths[i]);
        printf("vmlinuz %s\n", k.vmlinuz);
        rc = 0;
    }
    kmod_list_free(&mods);
    kmod_index_free(ix);
    free(names_env);
    return rc;
}

int main(void)
{
    const char *out = getenv("REVM_INITRAMFS_OUT");
    if (out && *out) {
        if (setup(NULL) < 0)
            return 1;
        int rc = make_one(out);
        teardown(NULL);
        return rc;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contents),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_missing_init_leaves_nothing),
        cmocka_unit_test(test_compressed_modules_are_decompressed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
