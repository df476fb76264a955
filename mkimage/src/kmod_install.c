/* kmod_install: copies modules into a staged rootfs and has depmod index them, so
 * that modprobe and udev in the guest find the variant's modules (see kmod_install.h).
 *
 * Why depmod and not our own modules.dep: the guest's modprobe is kmod's, and libkmod
 * reads only the binary indexes (modules.dep.bin, modules.alias.bin, ...): with a
 * text modules.dep alone, `modprobe virtio_blk` fails with "not found", and loading
 * a driver by modalias (what udev does for the driver VM's devices) needs
 * modules.alias.bin. depmod writes all of them, and the text modules.dep and
 * modules.alias that busybox's modprobe (the small rootfs's) reads, from the modules
 * themselves; a modules.dep of our own would only be overwritten. So depmod is the
 * one source, and it is required (checked in a VM by tests/e2e/mkimage-modalias.sh). */
#include "kmod_install.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_io.h"
#include "disk_exec.h"
#include "outfile.h"

#define MAX_HOPS 40
#define MAX_DEPTH 64

/* snprintf that reports truncation, so a too-long path is an error, not a cut. */
static bool fmt_ok(int n, size_t size)
{
    return n >= 0 && (size_t)n < size;
}

/* Opens directory `rel` inside the tree rooted at root_fd as if root_fd were "/":
 * symlinks are followed (a usr-merged rootfs has lib -> usr/lib or -> /usr/lib),
 * but absolute targets restart at the tree's root and ".." stops there, so nothing
 * outside the tree is ever reached. Missing directories are created (owned by
 * root, which fakeroot records when mkimage runs as a normal user). */
static int open_in_tree(int root_fd, const char *rel, const char *label, mk_err *err)
{
    char work[2 * PATH_MAX];
    if (strlen(rel) >= PATH_MAX)
        return mk_fail(err, "%s/%s: path too long", label, rel);
    strcpy(work, rel);
    int stack[MAX_DEPTH];
    int depth = 0, hops = 0, rc = -1;
    int cur = dup(root_fd);
    if (cur < 0)
        return mk_fail_errno(err, errno, "%s", label);
    char *p = work;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p) {
            rc = cur;
            cur = -1;
            break;
        }
        char *e = strchr(p, '/');
        char comp[NAME_MAX + 1];
        size_t cl = e ? (size_t)(e - p) : strlen(p);
        if (cl > NAME_MAX) {
            mk_fail(err, "%s/%s: name too long", label, rel);
            break;
        }
        memcpy(comp, p, cl);
        comp[cl] = '\0';
        p += cl;
        if (strcmp(comp, ".") == 0)
            continue;
        if (strcmp(comp, "..") == 0) {
            if (depth > 0) {
                close(cur);
                cur = stack[--depth];
            }
            continue;
        }
        struct stat st;
        if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT || mkdirat(cur, comp, 0755) < 0) {
                mk_fail_errno(err, errno, "%s/%s", label, rel);
                break;
            }
            if (fchownat(cur, comp, 0, 0, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM) {
                mk_fail_errno(err, errno, "%s/%s: chown", label, rel);
                break;
            }
            st.st_mode = S_IFDIR;
        }
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t tl = readlinkat(cur, comp, target, sizeof target - 1);
            if (tl <= 0 || ++hops > MAX_HOPS) {
                mk_fail(err, "%s/%s: unusable or looping symlink %s", label, rel, comp);
                break;
            }
            target[tl] = '\0';
            char rest[2 * PATH_MAX];
            if (!fmt_ok(snprintf(rest, sizeof rest, "%s/%s", target, p), sizeof rest) ||
                strlen(rest) >= sizeof work) {
                mk_fail(err, "%s/%s: path too long", label, rel);
                break;
            }
            strcpy(work, rest);
            p = work;
            if (target[0] == '/') {
                while (depth > 0)
                    close(stack[--depth]);
                close(cur);
                if ((cur = dup(root_fd)) < 0) {
                    mk_fail_errno(err, errno, "%s", label);
                    break;
                }
            }
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            mk_fail(err, "%s/%s: %s is not a directory", label, rel, comp);
            break;
        }
        if (depth == MAX_DEPTH) {
            mk_fail(err, "%s/%s: too deep", label, rel);
            break;
        }
        int nfd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0) {
            mk_fail_errno(err, errno, "%s/%s", label, rel);
            break;
        }
        stack[depth++] = cur;
        cur = nfd;
    }
    while (depth > 0)
        close(stack[--depth]);
    if (cur >= 0)
        close(cur);
    return rc;
}

/* Copies modules_dir/rel to dir_fd/rel byte for byte (compressed modules stay
 * compressed: the guest's modprobe reads them as the distribution ships them). */
static int copy_rel(const kernel_tree *k, int mods_fd, const char *rel, bool optional,
                    const char *label, mk_err *err)
{
    char src[PATH_MAX];
    if (!fmt_ok(snprintf(src, sizeof src, "%s/%s", k->modules_dir, rel), sizeof src))
        return mk_fail(err, "%s/%s: path too long", k->modules_dir, rel);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return optional && errno == ENOENT ? 0 : mk_fail_errno(err, errno, "%s", src);
    struct stat st;
    if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(in);
        return mk_fail(err, "%s: not a regular file", src);
    }
    char dir[PATH_MAX];
    const char *base;
    int dfd = outfile_split_parent(rel, dir, &base)
                  ? open_in_tree(mods_fd, dir, label, err)
                  : mk_fail(err, "%s/%s: path too long", label, rel);
    if (dfd < 0) {
        close(in);
        return -1;
    }
    int out = openat(dfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    close(dfd);
    int rc = 0;
    if (out < 0) {
        rc = mk_fail_errno(err, errno, "%s/%s", label, rel);
    } else {
        if (fchown(out, 0, 0) < 0 && errno != EPERM)
            rc = mk_fail_errno(err, errno, "%s/%s: chown", label, rel);
        char buf[1 << 16];
        ssize_t n;
        while (rc == 0 && (n = read(in, buf, sizeof buf)) != 0) {
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                rc = mk_fail_errno(err, errno, "%s: read", src);
                break;
            }
            if (cm_write_all(out, buf, (size_t)n) < 0)
                rc = mk_fail_errno(err, errno, "%s/%s: write", label, rel);
        }
        if (close(out) < 0 && rc == 0)
            rc = mk_fail_errno(err, errno, "%s/%s: write", label, rel);
    }
    close(in);
    return rc;
}

/* Removes what make_depmod_base created (best effort: a leftover is harmless). */
static void remove_depmod_base(const char *base, const char *version)
{
    static const char *const dirs[] = {"lib/modules", "lib", "usr/lib/modules", "usr/lib", "usr"};
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/lib/modules/%s", base, version);
    unlink(p);
    snprintf(p, sizeof p, "%s/usr/lib/modules/%s", base, version);
    unlink(p);
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", base, dirs[i]);
        rmdir(p);
    }
    rmdir(base);
}

/* `depmod -b ROOT VER` works on ROOT/lib/modules/VER (ROOT/usr/lib/modules/VER for
 * a depmod built with that module directory). Pointed at the rootfs itself, an
 * absolute lib -> /usr/lib link would send it to the HOST's modules. So depmod
 * gets a private base directory whose lib/modules/VER and usr/lib/modules/VER are
 * links to the module directory as resolved inside the tree (mods_fd). */
static int make_depmod_base(const char *rootfs_dir, int mods_fd, const char *version,
                            char *base, size_t base_size, mk_err *err)
{
    char fdlink[64], real[PATH_MAX];
    snprintf(fdlink, sizeof fdlink, "/proc/self/fd/%d", mods_fd);
    ssize_t rl = readlink(fdlink, real, sizeof real - 1);
    if (rl <= 0 || real[0] != '/')
        return mk_fail_errno(err, errno, "%s: cannot resolve the module directory", rootfs_dir);
    real[rl] = '\0';
    if (!fmt_ok(snprintf(base, base_size, "%s.depmod.XXXXXX", rootfs_dir), base_size))
        return mk_fail(err, "%s: path too long", rootfs_dir);
    if (!mkdtemp(base))
        return mk_fail_errno(err, errno, "%s: cannot create", base);
    static const char *const dirs[] = {"lib", "lib/modules", "usr", "usr/lib", "usr/lib/modules"};
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (!fmt_ok(snprintf(p, sizeof p, "%s/%s", base, dirs[i]), sizeof p) || mkdir(p, 0755) < 0)
            goto fail;
    }
    static const char *const links[] = {"lib/modules", "usr/lib/modules"};
    for (size_t i = 0; i < 2; i++) {
        if (!fmt_ok(snprintf(p, sizeof p, "%s/%s/%s", base, links[i], version), sizeof p) ||
            symlink(real, p) < 0)
            goto fail;
    }
    return 0;
fail:;
    int en = errno;
    remove_depmod_base(base, version);
    return mk_fail_errno(err, en, "%s: cannot prepare depmod's directory", rootfs_dir);
}

static int run_depmod(const char *rootfs_dir, int mods_fd, const kernel_tree *k, mk_err *err)
{
    char base[PATH_MAX];
    if (make_depmod_base(rootfs_dir, mods_fd, k->version, base, sizeof base, err) < 0)
        return -1;
    const char *argv[] = {"depmod", "-b", base, k->version, NULL};
    disk_command cmd = {.argv = argv, .keep_fd = -1};
    int rc = disk_run(&cmd, err);
    remove_depmod_base(base, k->version);
    if (rc < 0) {
        mk_err inner = *err;
        return mk_fail(err, "kernel modules of %s: %s", rootfs_dir, inner.msg);
    }
    return 0;
}

int kmod_install(const kernel_tree *k, const kmod_list *mods, const char *rootfs_dir,
                 mk_err *err)
{
    int root_fd = open(rootfs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0)
        return mk_fail_errno(err, errno, "%s", rootfs_dir);
    char rel[PATH_MAX], label[PATH_MAX];
    snprintf(rel, sizeof rel, "lib/modules/%s", k->version);
    if (!fmt_ok(snprintf(label, sizeof label, "%s/%s", rootfs_dir, rel), sizeof label)) {
        close(root_fd);
        return mk_fail(err, "%s: path too long", rootfs_dir);
    }
    int mods_fd = open_in_tree(root_fd, rel, rootfs_dir, err);
    close(root_fd);
    if (mods_fd < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < mods->n; i++)
        rc = copy_rel(k, mods_fd, mods->paths[i], false, label, err);
    /* Lets modprobe tell "built in" from "missing", and keeps load order hints. */
    static const char *const extras[] = {"modules.builtin", "modules.builtin.modinfo",
                                         "modules.order"};
    for (size_t i = 0; rc == 0 && i < 3; i++)
        rc = copy_rel(k, mods_fd, extras[i], true, label, err);
    if (rc == 0)
        rc = run_depmod(rootfs_dir, mods_fd, k, err);
    close(mods_fd);
    return rc;
}
