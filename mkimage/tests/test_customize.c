/* Customization of a staged tree: text transforms (shadow, fstab), writes confined
 * to the tree even through hostile symlinks, runit services, the changelog, and the
 * derivation of a variant tree (keep/drop patterns, symlink closure, hard links). */
#include <errno.h>
#include <fcntl.h>
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

#include "customize.h"
#include "customize_derive.h"

static char scratch[4096];

/* snprintf that fails the test instead of truncating a path. */
#define SN(buf, ...)                                                    \
    do {                                                                \
        if (snprintf(buf, sizeof buf, __VA_ARGS__) >= (int)sizeof buf) \
            fail_msg("path too long");                                  \
    } while (0)

static int setup(void **state)
{
    (void)state;
    const char *build = getenv("BUILD");
    char base[4096];
    SN(base, "%s/tmp", build ? build : "/tmp");
    mkdir(base, 0755);
    SN(scratch, "%s/test_customize.XXXXXX", base);
    return mkdtemp(scratch) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[4200];
    SN(cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *rel, const char *text, mode_t mode)
{
    char p[4200];
    SN(p, "%s%s", scratch, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    chmod(p, mode);
}

static void mk(const char *rel)
{
    char p[4200];
    SN(p, "%s%s", scratch, rel);
    assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
}

static void lnk(const char *target, const char *rel)
{
    char p[4200];
    SN(p, "%s%s", scratch, rel);
    assert_int_equal(symlink(target, p), 0);
}

static char *slurp(const char *rel)
{
    static char buf[8192];
    char p[4200];
    SN(p, "%s%s", scratch, rel);
    FILE *f = fopen(p, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static bool exists(const char *rel)
{
    char p[4200];
    struct stat st;
    SN(p, "%s%s", scratch, rel);
    return lstat(p, &st) == 0;
}

static void test_shadow(void **state)
{
    (void)state;
    int found;
    const char *in = "daemon:*:1::::::\nroot:$6$salt$hash:20000:0:99999:7:::\nuser:x:1:::::\n";
    char *out = shadow_lock_root(in, strlen(in), &found);
    assert_int_equal(found, 1);
    assert_string_equal(out, "daemon:*:1::::::\nroot:!:20000:0:99999:7:::\nuser:x:1:::::\n");
    free(out);
    out = shadow_lock_root("root", 4, &found);
    assert_int_equal(found, 0);
    free(out);
    out = shadow_lock_root("root:voidlinux", 14, &found); /* no trailing fields or newline */
    assert_string_equal(out, "root:!");
    free(out);
}

static void test_fstab(void **state)
{
    (void)state;
    const char *in = "# comment\nUUID=x / ext4 defaults 0 1\ntmpfs /tmp tmpfs defaults 0 0\n"
                     "/dev/sdb /srv xfs defaults 0 2";
    char *out = fstab_with_root(in, strlen(in), "btrfs");
    assert_non_null(strstr(out, "# comment\n"));
    assert_null(strstr(out, "UUID=x"));
    assert_non_null(strstr(out, "tmpfs /tmp tmpfs"));
    assert_non_null(strstr(out, "/dev/sdb /srv xfs defaults 0 2\n"));
    assert_non_null(strstr(out, "/dev/vda\t/\tbtrfs\tdefaults\t0 0\n"));
    free(out);
    out = fstab_with_root("", 0, "ext4");
    assert_non_null(strstr(out, "/dev/vda\t/\text4"));
    free(out);
}

static variant make_variant(void)
{
    variant v;
    mk_err err;
    const char *text = "[variant]\nname = t\nhostname = revm-t\n"
                       "[console]\ntty = ttyS0\n[services]\nenable = probe\n"
                       "[files]\ninstall = probe-run:/etc/sv/probe/run:0755\n";
    assert_int_equal(variant_parse(text, strlen(text), "t.ini", &v, &err), 0);
    return v;
}

static void test_customize_tree(void **state)
{
    (void)state;
    /* A host-side directory standing for "outside the tree". */
    char outside[4200], root[4200], vdir[4200];
    SN(outside, "%s/outside", scratch);
    SN(root, "%s/root", scratch);
    SN(vdir, "%s/vdir", scratch);
    mk("/outside");
    mk("/vdir");
    put("/vdir/probe-run", "#!/bin/sh\necho probe\n", 0644);
    mk("/root");
    mk("/root/etc");
    put("/root/etc/shadow", "root:voidlinux:1::::::\n", 0600);
    put("/root/etc/fstab", "tmpfs /tmp tmpfs defaults 0 0\n", 0644);
    /* Hostile layout: /etc/sv is an absolute symlink; it must resolve inside. */
    lnk(outside, "/root/etc/sv");
    char target[4200];
    /* The link's target exists inside the tree (TREE/<outside>), as in an image
     * whose /etc/sv points to another directory of the image. */
    SN(target, "mkdir -p '%s%s'", root, outside);
    assert_int_equal(system(target), 0);

    variant v = make_variant();
    changelog log = {0};
    customize_opts o = {.v = &v, .variants_dir = vdir, .fs = "btrfs", .epoch = 1000};
    mk_err err = {{0}};
    if (customize_tree(root, &o, &log, &err) < 0)
        fail_msg("%s", err.msg);

    assert_string_equal(slurp("/root/etc/hostname"), "revm-t\n");
    assert_string_equal(slurp("/root/etc/shadow"), "root:!:1::::::\n");
    struct stat st;
    char p[4200];
    SN(p, "%s/etc/shadow", root);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600); /* kept */
    assert_non_null(strstr(slurp("/root/etc/fstab"), "/dev/vda\t/\tbtrfs"));
    /* The symlinked /etc/sv resolved to TREE/<outside path>, never to the host dir. */
    assert_false(exists("/outside/probe"));
    char inside[4200];
    SN(inside, "/root%s/probe/run", outside);
    assert_true(exists(inside));
    SN(p, "%s%s", scratch, inside);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(st.st_mtime, 1000);
    /* Services enabled the Void way: absolute link in runsvdir/default. */
    char link[4200];
    ssize_t n = readlink(strcat(strcpy(p, root), "/etc/runit/runsvdir/default/probe"), link,
                         sizeof link - 1);
    assert_true(n > 0);
    link[n] = 0;
    assert_string_equal(link, "/etc/sv/probe");
    n = readlink(strcat(strcpy(p, root), "/etc/runit/runsvdir/default/agetty-ttyS0"), link,
                 sizeof link - 1);
    assert_true(n > 0);
    SN(inside, "/root%s/agetty-ttyS0/run", outside);
    assert_true(exists(inside));
    /* The changelog names what changed. */
    bool host = false, shadow = false, svlink = false;
    for (size_t i = 0; i < log.n; i++) {
        host |= !strcmp(log.paths[i], "/etc/hostname");
        shadow |= !strcmp(log.paths[i], "/etc/shadow");
        svlink |= !strcmp(log.paths[i], "/etc/runit/runsvdir/default/probe");
    }
    assert_true(host && shadow && svlink);
    changelog_free(&log);

    /* Enabling a service that does not exist is an error naming it. */
    tree t;
    assert_int_equal(tree_open(&t, root, 0, NULL, &err), 0);
    assert_int_equal(customize_enable_service(&t, "nosuch", &err), -1);
    assert_non_null(strstr(err.msg, "service nosuch:"));
    tree_close(&t);
    variant_free(&v);
}

static void test_passwd_only_and_missing_root(void **state)
{
    (void)state;
    char root[4200];
    SN(root, "%s/r2", scratch);
    mk("/r2");
    mk("/r2/etc");
    put("/r2/etc/passwd", "root:secret:0:0:root:/root:/bin/sh\n", 0644);
    tree t;
    mk_err err;
    assert_int_equal(tree_open(&t, root, 0, NULL, &err), 0);
    assert_int_equal(customize_lock_root(&t, &err), 0);
    assert_string_equal(slurp("/r2/etc/passwd"), "root:!:0:0:root:/root:/bin/sh\n");
    put("/r2/etc/passwd", "user:x:1:1::/:/bin/sh\n", 0644);
    assert_int_equal(customize_lock_root(&t, &err), -1);
    assert_non_null(strstr(err.msg, "root account"));
    tree_close(&t);
}

static void test_derive(void **state)
{
    (void)state;
    mk("/base");
    mk("/base/usr");
    mk("/base/usr/bin");
    mk("/base/usr/lib");
    mk("/base/usr/share");
    mk("/base/usr/share/doc");
    mk("/base/etc");
    lnk("usr/bin", "/base/bin");
    lnk("usr/lib", "/base/lib");
    put("/base/usr/bin/busybox", "bb", 0755);
    lnk("busybox", "/base/usr/bin/sh");
    lnk("busybox", "/base/usr/bin/ls");
    put("/base/usr/bin/big", "big", 0755);
    put("/base/usr/lib/libc.so", "libc", 0755);
    lnk("/lib/libc.so", "/base/usr/lib/ld.so"); /* through the /lib link */
    put("/base/usr/share/doc/readme", "doc", 0644);
    put("/base/etc/hosts", "h", 0644);
    put("/base/etc/a", "hard", 0644);
    char a[4200], b[4200];
    SN(a, "%s/base/etc/a", scratch);
    SN(b, "%s/base/etc/b", scratch);
    assert_int_equal(link(a, b), 0);
    char p[4200];
    SN(p, "%s/base/usr/bin/big", scratch);
    chmod(p, 04755);

    variant v;
    mk_err err = {{0}};
    const char *text = "[variant]\nname = t\nhostname = h\n"
                       "[rootfs]\nkeep = /bin /lib /etc /usr/bin/sh /usr/lib/ld.so /usr/bin/big\n"
                       "drop = /etc/hosts\n";
    assert_int_equal(variant_parse(text, strlen(text), "t.ini", &v, &err), 0);
    assert_false(derive_keeps_all(&v));
    char base[4200], dest[4200];
    SN(base, "%s/base", scratch);
    SN(dest, "%s/copy", scratch);
    if (derive_tree(base, dest, &v, false, &err) < 0)
        fail_msg("%s", err.msg);
    assert_true(exists("/copy/usr/bin/sh"));
    assert_true(exists("/copy/usr/bin/busybox")); /* symlink target */
    assert_false(exists("/copy/usr/bin/ls"));
    assert_true(exists("/copy/usr/lib/ld.so"));
    assert_true(exists("/copy/usr/lib/libc.so")); /* through /lib -> usr/lib */
    assert_true(exists("/copy/lib"));
    assert_false(exists("/copy/usr/share"));
    assert_false(exists("/copy/etc/hosts")); /* dropped */
    struct stat sa, sb;
    SN(a, "%s/copy/etc/a", scratch);
    SN(b, "%s/copy/etc/b", scratch);
    assert_int_equal(stat(a, &sa), 0);
    assert_int_equal(stat(b, &sb), 0);
    assert_int_equal(sa.st_ino, sb.st_ino); /* hard link kept inside the copy */
    assert_int_equal(sa.st_nlink, 2);       /* and not shared with the base */
    SN(p, "%s/copy/usr/bin/big", scratch);
    assert_int_equal(stat(p, &sa), 0);
    assert_int_equal(sa.st_mode & 07777, 04755);
    assert_true(exists("/base/usr/bin/ls")); /* base untouched */

    tree_measure m;
    assert_int_equal(tree_measure_dir(dest, &m, &err), 0);
    assert_int_equal(m.files, 4); /* busybox big libc.so a(=b) */

    /* Consuming: the base becomes the tree. */
    SN(dest, "%s/consumed", scratch);
    assert_int_equal(derive_tree(base, dest, &v, true, &err), 0);
    assert_false(exists("/base"));
    assert_false(exists("/consumed/usr/bin/ls"));
    assert_true(exists("/consumed/usr/bin/busybox"));
    variant_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shadow),
        cmocka_unit_test(test_fstab),
        cmocka_unit_test(test_customize_tree),
        cmocka_unit_test(test_passwd_only_and_missing_root),
        cmocka_unit_test(test_derive),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
