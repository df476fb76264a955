#include "customize_fsops.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <stdint.h>
#include <unistd.h>

void changelog_add(changelog *l, const char *path)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->paths[i], path))
            return;
    char **nv = realloc(l->paths, (l->n + 1) * sizeof *nv);
    if (!nv)
        return; /* the changelog is informational; never fail the build over it */
    l->paths = nv;
    if ((l->paths[l->n] = strdup(path)))
        l->n++;
}

void changelog_free(changelog *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
    l->paths = NULL;
    l->n = 0;
}

int tree_open(tree *t, const char *root, time_t epoch, changelog *log, mk_err *err)
{
    memset(t, 0, sizeof *t);
    if (strlen(root) >= sizeof t->root)
        return mk_fail(err, "%s: path too long", root);
    strcpy(t->root, root);
    t->epoch = epoch;
    t->log = log;
    t->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (t->rootfd < 0)
        return mk_fail_errno(err, errno, "%s: cannot open staged tree", root);
    return 0;
}

void tree_close(tree *t)
{
    if (t->rootfd >= 0)
        close(t->rootfd);
    t->rootfd = -1;
}

/* Opens an in-image directory, resolving every symlink relative to the tree root. */
static int open_in_root(tree *t, const char *dir)
{
    while (*dir == '/')
        dir++;
    struct open_how how = {
        .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, t->rootfd, *dir ? dir : ".", &how, sizeof how);
}

/* Splits "/a/b/c" into parent "/a/b" and name "c". */
static int split(const char *path, char *parent, size_t psz, const char **name, mk_err *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash || !slash[1] || strlen(path) >= psz)
        return mk_fail(err, "%s: not a file path", path);
    size_t n = (size_t)(slash - path);
    memcpy(parent, path, n);
    parent[n] = 0;
    *name = slash + 1;
    if (!strcmp(*name, ".") || !strcmp(*name, ".."))
        return mk_fail(err, "%s: not a file path", path);
    return 0;
}

int tree_lstat(tree *t, const char *path, struct stat *st)
{
    char parent[PATH_MAX];
    const char *name;
    if (split(path, parent, sizeof parent, &name, NULL) < 0) {
        errno = EINVAL;
        return -1;
    }
    int dfd = open_in_root(t, parent);
    if (dfd < 0)
        return -1;
    int rc = fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW);
    int e = errno;
    close(dfd);
    errno = e;
    return rc;
}

static void set_epoch(tree *t, int dfd, const char *name)
{
    struct timespec ts[2] = {{.tv_sec = t->epoch}, {.tv_sec = t->epoch}};
    utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

int tree_mkdirs(tree *t, const char *dir, mk_err *err)
{
    char cur[PATH_MAX] = "";
    const char *s = dir;
    int fd = open_in_root(t, "/");
    if (fd < 0)
        return mk_fail_errno(err, errno, "%s: cannot open staged tree", t->root);
    while (*s) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        size_t cl = strlen(cur);
        if (cl + n + 2 >= sizeof cur || n >= NAME_MAX) {
            close(fd);
            return mk_fail(err, "%s: path too long", dir);
        }
        cur[cl] = '/';
        memcpy(cur + cl + 1, s, n);
        cur[cl + 1 + n] = 0;
        int next = open_in_root(t, cur);
        if (next < 0 && errno == ENOENT) {
            struct stat pst;
            bool have = fstat(fd, &pst) == 0;
            char name[NAME_MAX + 1];
            memcpy(name, s, n);
            name[n] = 0;
            struct stat lst;
            if (fstatat(fd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode)) {
                close(fd);
                return mk_fail(err, "%s: dangling symlink in the image", cur);
            }
            if (mkdirat(fd, name, 0755) < 0 && errno != EEXIST) {
                int e2 = errno;
                close(fd);
                return mk_fail_errno(err, e2, "%s: cannot create in image", cur);
            }
            fchownat(fd, name, 0, 0, AT_SYMLINK_NOFOLLOW);
            fchmodat(fd, name, 0755, 0);
            set_epoch(t, fd, name);
            if (have) /* keep the parent's tarball mtime */
                futimens(fd, (struct timespec[2]){pst.st_atim, pst.st_mtim});
            changelog_add(t->log, cur);
            next = open_in_root(t, cur);
        }
        if (next < 0) {
            int e2 = errno;
            close(fd);
            return mk_fail_errno(err, e2, "%s: cannot open in image", cur);
        }
        close(fd);
        fd = next;
        s += n;
    }
    close(fd);
    return 0;
}

int tree_read(tree *t, const char *path, size_t max, char **data, size_t *len, mk_err *err)
{
    *data = NULL;
    *len = 0;
    char parent[PATH_MAX];
    const char *name;
    if (split(path, parent, sizeof parent, &name, err) < 0)
        return -1;
    int dfd = open_in_root(t, parent);
    if (dfd < 0) {
        if (errno == ENOENT)
            return 1;
        return mk_fail_errno(err, errno, "%s: cannot open in image", parent);
    }
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    int e = errno;
    close(dfd);
    if (fd < 0) {
        if (e == ENOENT)
            return 1;
        return mk_fail_errno(err, e, "%s: cannot read in image", path);
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        close(fd);
        return mk_fail(err, "%s: not a regular file of at most %zu bytes in the image", path,
                       max);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return mk_fail(err, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *data = buf;
    *len = got;
    return 0;
}

/* Runs fn with the parent directory open; restores the parent's mtime afterwards. */
static int write_entry(tree *t, const char *path, mk_err *err,
                       int (*fn)(tree *, int dfd, const char *name, void *ctx, mk_err *err),
                       void *ctx)
{
    char parent[PATH_MAX];
    const char *name;
    if (split(path, parent, sizeof parent, &name, err) < 0)
        return -1;
    if (parent[0] && tree_mkdirs(t, parent, err) < 0)
        return -1;
    int dfd = open_in_root(t, parent);
    if (dfd < 0)
        return mk_fail_errno(err, errno, "%s: cannot open in image", parent[0] ? parent : "/");
    struct stat pst;
    bool have = fstat(dfd, &pst) == 0;
    struct stat old;
    if (fstatat(dfd, name, &old, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(old.st_mode)) {
        close(dfd);
        return mk_fail(err, "%s: is a directory in the image", path);
    }
    mk_err e2 = {{0}};
    int rc = fn(t, dfd, name, ctx, &e2);
    if (rc < 0)
        mk_fail(err, "%s: %s", path, e2.msg);
    if (have)
        futimens(dfd, (struct timespec[2]){pst.st_atim, pst.st_mtim});
    close(dfd);
    if (rc == 0)
        changelog_add(t->log, path);
    return rc;
}

typedef struct write_ctx {
    const void *data;
    size_t len;
    int src_fd; /* when >= 0, copy from it instead of data */
    mode_t mode;
    uid_t uid;
    gid_t gid;
} write_ctx;

static int do_write(tree *t, int dfd, const char *name, void *vctx, mk_err *err)
{
    write_ctx *c = vctx;
    char tmp[NAME_MAX + 1];
    if (snprintf(tmp, sizeof tmp, ".%.200s.mkimage-new", name) >= (int)sizeof tmp)
        return mk_fail(err, "name too long");
    unlinkat(dfd, tmp, 0);
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return mk_fail_errno(err, errno, "cannot create in image");
    int e = 0;
    if (c->src_fd >= 0) {
        char buf[65536];
        for (;;) {
            ssize_t r = read(c->src_fd, buf, sizeof buf);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                e = errno;
                break;
            }
            if (r == 0)
                break;
            for (ssize_t off = 0; off < r;) {
                ssize_t w = write(fd, buf + off, (size_t)(r - off));
                if (w < 0 && errno == EINTR)
                    continue;
                if (w < 0) {
                    e = errno;
                    break;
                }
                off += w;
            }
            if (e)
                break;
        }
    } else {
        const char *p = c->data;
        for (size_t off = 0; off < c->len;) {
            ssize_t w = write(fd, p + off, c->len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                e = errno;
                break;
            }
            off += (size_t)w;
        }
    }
    /* chown before chmod: chown clears setuid bits. */
    if (!e && fchown(fd, c->uid, c->gid) < 0)
        e = errno;
    if (!e && fchmod(fd, c->mode) < 0)
        e = errno;
    if (!e) {
        struct timespec ts[2] = {{.tv_sec = t->epoch}, {.tv_sec = t->epoch}};
        futimens(fd, ts);
    }
    if (close(fd) < 0 && !e)
        e = errno;
    if (!e && renameat(dfd, tmp, dfd, name) < 0)
        e = errno;
    if (e) {
        unlinkat(dfd, tmp, 0);
        return mk_fail_errno(err, e, "cannot write in image");
    }
    return 0;
}

int tree_write(tree *t, const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
               gid_t gid, mk_err *err)
{
    write_ctx c = {.data = data, .len = len, .src_fd = -1, .mode = mode, .uid = uid, .gid = gid};
    return write_entry(t, path, err, do_write, &c);
}

int tree_install(tree *t, const char *host_src, const char *path, mode_t mode, mk_err *err)
{
    int fd = open(host_src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mk_fail_errno(err, errno, "install %s", host_src);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mk_fail(err, "install %s: not a regular file", host_src);
    }
    write_ctx c = {.src_fd = fd, .mode = mode, .uid = 0, .gid = 0};
    int rc = write_entry(t, path, err, do_write, &c);
    close(fd);
    return rc;
}

static int do_symlink(tree *t, int dfd, const char *name, void *vctx, mk_err *err)
{
    const char *target = vctx;
    char tmp[NAME_MAX + 1];
    if (snprintf(tmp, sizeof tmp, ".%.200s.mkimage-new", name) >= (int)sizeof tmp)
        return mk_fail(err, "name too long");
    unlinkat(dfd, tmp, 0);
    if (symlinkat(target, dfd, tmp) < 0)
        return mk_fail_errno(err, errno, "cannot create symlink in image");
    fchownat(dfd, tmp, 0, 0, AT_SYMLINK_NOFOLLOW);
    set_epoch(t, dfd, tmp);
    if (renameat(dfd, tmp, dfd, name) < 0) {
        int e = errno;
        unlinkat(dfd, tmp, 0);
        return mk_fail_errno(err, e, "cannot create symlink in image");
    }
    return 0;
}

int tree_symlink(tree *t, const char *path, const char *target, mk_err *err)
{
    return write_entry(t, path, err, do_symlink, (void *)target);
}
