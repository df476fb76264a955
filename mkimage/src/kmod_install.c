/* kmod_install: copies modules into a staged rootfs and writes modules.dep, so
 * that modprobe in the guest finds the variant's modules and their dependencies. */
#include "kmod.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cm_io.h"
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

static int write_at(int dfd, const char *name, const void *data, size_t len, const char *label,
                    mk_err *err)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return mk_fail_errno(err, errno, "%s", label);
    if (fchown(fd, 0, 0) < 0 && errno != EPERM) {
        close(fd);
        return mk_fail_errno(err, errno, "%s: chown", label);
    }
    if (cm_write_all(fd, data, len) < 0) {
        int en = errno;
        close(fd);
        return mk_fail_errno(err, en, "%s: write", label);
    }
    if (close(fd) < 0)
        return mk_fail_errno(err, errno, "%s: write", label);
    return 0;
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

/* modules.dep in depmod's form: each line lists all (transitive) dependencies,
 * the one to load first last, which is the order modprobe walks it in. */
static int write_modules_dep(const kernel_tree *k, const kmod_list *mods, int mods_fd,
                             const char *label, mk_err *err)
{
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    if (!f)
        return mk_fail(err, "%s: out of memory", label);
    for (size_t i = 0; i < mods->n; i++) {
        kmod_list deps;
        if (kmod_deps_of(k, mods->paths[i], &deps, err) < 0) {
            fclose(f);
            free(text);
            return -1;
        }
        fprintf(f, "%s:", mods->paths[i]);
        for (size_t j = deps.n; j > 0; j--)
            fprintf(f, " %s", deps.paths[j - 1]);
        fputc('\n', f);
        kmod_list_free(&deps);
    }
    if (fclose(f) != 0) {
        free(text);
        return mk_fail(err, "%s: out of memory", label);
    }
    char what[PATH_MAX + 16];
    snprintf(what, sizeof what, "%s/modules.dep", label);
    int rc = write_at(mods_fd, "modules.dep", text, tlen, what, err);
    free(text);
    return rc;
}

/* depmod adds modules.alias, modules.softdep, modules.symbols and the binary
 * indexes the guest's kmod prefers. It is run only when the module directory
 * really is inside the rootfs: `depmod -b ROOT` would otherwise follow an absolute
 * lib -> /usr/lib link to the host's own modules. Best effort: our modules.dep
 * already makes plain modprobe work. */
static void run_depmod(const char *rootfs, const kernel_tree *k)
{
    char root_real[PATH_MAX], mods[PATH_MAX], mods_real[PATH_MAX];
    snprintf(mods, sizeof mods, "%s/lib/modules/%s", rootfs, k->version);
    if (!realpath(rootfs, root_real) || !realpath(mods, mods_real))
        return;
    size_t rl = strlen(root_real);
    if (strncmp(mods_real, root_real, rl) != 0 || mods_real[rl] != '/')
        return;
    static const char *const candidates[] = {"/usr/sbin/depmod", "/sbin/depmod", "/usr/bin/depmod"};
    const char *depmod = NULL;
    for (size_t i = 0; i < 3 && !depmod; i++)
        if (access(candidates[i], X_OK) == 0)
            depmod = candidates[i];
    if (!depmod)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execl(depmod, "depmod", "-b", root_real, k->version, (char *)NULL);
        _exit(127);
    }
    if (pid > 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
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
        rc = write_modules_dep(k, mods, mods_fd, label, err);
    close(mods_fd);
    if (rc == 0)
        run_depmod(rootfs_dir, k);
    return rc;
}
