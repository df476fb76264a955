#include "customize_derive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

typedef struct entry {
    char *rel;      /* "/usr/bin/sh"; "" for the root */
    char *link;     /* symlink target, or NULL */
    int parent;     /* index, -1 for the root */
    mode_t mode;
    dev_t dev;
    ino_t ino;
    nlink_t nlink;
    bool match_keep, match_drop, keep;
    bool closed; /* symlink closure done */
} entry;

typedef struct table {
    entry *e;
    size_t n, cap;
    int *hash; /* open addressing: index+1, 0 = empty */
    size_t hcap;
    size_t kept; /* entries with keep set */
} table;

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

static int table_find(const table *t, const char *rel)
{
    if (!t->hcap)
        return -1;
    for (size_t i = fnv(rel) & (t->hcap - 1);; i = (i + 1) & (t->hcap - 1)) {
        int v = t->hash[i];
        if (!v)
            return -1;
        if (!strcmp(t->e[v - 1].rel, rel))
            return v - 1;
    }
}

static int table_rehash(table *t, size_t hcap)
{
    int *h = calloc(hcap, sizeof *h);
    if (!h)
        return -1;
    for (size_t k = 0; k < t->n; k++) {
        size_t i = fnv(t->e[k].rel) & (hcap - 1);
        while (h[i])
            i = (i + 1) & (hcap - 1);
        h[i] = (int)k + 1;
    }
    free(t->hash);
    t->hash = h;
    t->hcap = hcap;
    return 0;
}

static int table_add(table *t, const entry *src)
{
    if (t->n >= INT_MAX / 4)
        return -1;
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 4096;
        entry *ne = realloc(t->e, nc * sizeof *ne);
        if (!ne)
            return -1;
        t->e = ne;
        t->cap = nc;
    }
    t->e[t->n++] = *src;
    if (t->n * 2 > t->hcap)
        return table_rehash(t, t->hcap ? t->hcap * 2 : 8192);
    size_t i = fnv(src->rel) & (t->hcap - 1);
    while (t->hash[i])
        i = (i + 1) & (t->hcap - 1);
    t->hash[i] = (int)t->n;
    return 0;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->e[i].rel);
        free(t->e[i].link);
    }
    free(t->e);
    free(t->hash);
    memset(t, 0, sizeof *t);
}

static bool matches(const strlist *pats, const char *rel)
{
    const char *p = rel[0] ? rel : "/";
    for (size_t i = 0; i < pats->n; i++)
        if (fnmatch(pats->v[i], p, FNM_PATHNAME) == 0)
            return true;
    return false;
}

/* Pre-order walk of base into the table. */
static int walk(table *t, const char *base, int idx, mk_err *err)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s%s", base, t->e[idx].rel) >= (int)sizeof path)
        return mk_fail(err, "%s: path too long", t->e[idx].rel);
    DIR *d = opendir(path);
    if (!d)
        return mk_fail_errno(err, errno, "%s: cannot read staged tree", path);
    struct dirent *de;
    int rc = 0;
    /* Collect names first: the recursion below reallocates the table. */
    char **names = NULL;
    size_t nn = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char **nv = realloc(names, (nn + 1) * sizeof *nv);
        if (!nv || !(nv[nn] = strdup(de->d_name))) {
            names = nv ? nv : names;
            rc = mk_fail(err, "staged tree: out of memory");
            break;
        }
        names = nv;
        nn++;
    }
    closedir(d);
    for (size_t i = 0; i < nn && rc == 0; i++) {
        entry e = {.parent = idx};
        char rel[PATH_MAX];
        if (snprintf(rel, sizeof rel, "%s/%s", t->e[idx].rel, names[i]) >= (int)sizeof rel ||
            snprintf(path, sizeof path, "%s%s", base, rel) >= (int)sizeof path) {
            rc = mk_fail(err, "%s: path too long", rel);
            break;
        }
        struct stat st;
        if (lstat(path, &st) < 0) {
            rc = mk_fail_errno(err, errno, "%s: cannot stat", path);
            break;
        }
        e.mode = st.st_mode;
        e.dev = st.st_dev;
        e.ino = st.st_ino;
        e.nlink = st.st_nlink;
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlink(path, target, sizeof target - 1);
            if (n < 0) {
                rc = mk_fail_errno(err, errno, "%s: cannot read link", path);
                break;
            }
            target[n] = 0;
            e.link = strdup(target);
        }
        e.rel = strdup(rel);
        if (!e.rel || (S_ISLNK(st.st_mode) && !e.link) || table_add(t, &e) < 0) {
            free(e.rel);
            free(e.link);
            rc = mk_fail(err, "staged tree: out of memory");
            break;
        }
        if (S_ISDIR(st.st_mode))
            rc = walk(t, base, (int)t->n - 1, err);
    }
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    return rc;
}

static void keep_with_parents(table *t, int i)
{
    while (i >= 0 && !t->e[i].keep) {
        t->e[i].keep = true;
        t->kept++;
        i = t->e[i].parent;
    }
}

/* Resolves an in-tree path the way the guest kernel will (symlinks relative to the
 * tree root), marking every symlink it crosses and the final entry as kept.
 * Dangling or looping links are left alone: the image is the tarball's business. */
static void keep_target(table *t, const char *dir, const char *target)
{
    char cur[PATH_MAX], rest[PATH_MAX * 2];
    if (target[0] == '/')
        cur[0] = 0;
    else
        snprintf(cur, sizeof cur, "%s", dir);
    snprintf(rest, sizeof rest, "%s", target);
    for (int hops = 0; hops < 40;) {
        char *s = rest;
        while (*s == '/')
            s++;
        if (!*s)
            break;
        char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char comp[NAME_MAX + 1];
        if (n > NAME_MAX)
            return;
        memcpy(comp, s, n);
        comp[n] = 0;
        memmove(rest, s + n, strlen(s + n) + 1);
        if (!strcmp(comp, "."))
            continue;
        if (!strcmp(comp, "..")) {
            char *slash = strrchr(cur, '/');
            if (slash)
                *slash = 0;
            continue;
        }
        size_t cl = strlen(cur);
        if (cl + n + 2 > sizeof cur)
            return;
        cur[cl] = '/';
        memcpy(cur + cl + 1, comp, n + 1);
        int i = table_find(t, cur);
        if (i < 0)
            return;
        keep_with_parents(t, i);
        if (t->e[i].link) {
            hops++;
            char nrest[PATH_MAX * 2];
            if (snprintf(nrest, sizeof nrest, "%s%s", t->e[i].link, rest) >= (int)sizeof nrest)
                return;
            strcpy(rest, nrest);
            if (t->e[i].link[0] == '/')
                cur[0] = 0;
            else
                cur[cl] = 0;
        }
    }
}

static void select_entries(table *t, const variant *v)
{
    for (size_t i = 0; i < t->n; i++) {
        entry *e = &t->e[i];
        entry *p = e->parent >= 0 ? &t->e[e->parent] : NULL;
        e->match_keep = (p && p->match_keep) || matches(&v->keep, e->rel);
        e->match_drop = (p && p->match_drop) || matches(&v->drop, e->rel);
    }
    t->e[0].keep = true;
    t->kept = 1;
    for (size_t i = 1; i < t->n; i++)
        if (t->e[i].match_keep && !t->e[i].match_drop)
            keep_with_parents(t, (int)i);
    /* Symlink closure; a newly kept link has a higher or lower index, so loop until
     * nothing changes (a few passes at most in practice). */
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < t->n; i++) {
            entry *e = &t->e[i];
            if (!e->keep || !e->link || e->closed)
                continue;
            e->closed = true;
            char dir[PATH_MAX];
            snprintf(dir, sizeof dir, "%s", e->rel);
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = 0;
            char *target = strdup(e->link);
            if (!target)
                continue;
            size_t before = t->kept;
            keep_target(t, dir, target);
            free(target);
            if (t->kept != before)
                changed = true;
        }
    }
}

/* ---- copying ---- */

static int copy_xattrs(const char *src, const char *dst, mk_err *err)
{
    char names[65536];
    ssize_t n = llistxattr(src, names, sizeof names);
    if (n < 0) {
        if (errno == ENOTSUP || errno == ENODATA)
            return 0;
        return mk_fail_errno(err, errno, "%s: cannot list xattrs", src);
    }
    for (ssize_t off = 0; off < n; off += (ssize_t)strlen(names + off) + 1) {
        char val[65536];
        ssize_t vl = lgetxattr(src, names + off, val, sizeof val);
        if (vl < 0)
            return mk_fail_errno(err, errno, "%s: cannot read xattr %s", src, names + off);
        if (lsetxattr(dst, names + off, val, (size_t)vl, 0) < 0)
            return mk_fail_errno(err, errno, "%s: cannot set xattr %s", dst, names + off);
    }
    return 0;
}

static int copy_data(const char *src, const char *dst, const struct stat *st, mk_err *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return mk_fail_errno(err, errno, "%s: cannot open", src);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) {
        int e = errno;
        close(in);
        return mk_fail_errno(err, e, "%s: cannot create", dst);
    }
    off_t left = st->st_size;
    bool fallback = false;
    int e = 0;
    while (left > 0 && !fallback) {
        ssize_t r = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
        if (r < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP))
            fallback = true;
        else if (r < 0) {
            e = errno;
            break;
        } else if (r == 0)
            break;
        else
            left -= r;
    }
    if (fallback) {
        char buf[131072];
        for (;;) {
            ssize_t r = read(in, buf, sizeof buf);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                e = r < 0 ? errno : 0;
                break;
            }
            for (ssize_t o = 0; o < r;) {
                ssize_t w = write(out, buf + o, (size_t)(r - o));
                if (w < 0) {
                    e = errno;
                    break;
                }
                o += w;
            }
            if (e)
                break;
        }
    }
    close(in);
    if (close(out) < 0 && !e)
        e = errno;
    if (e)
        return mk_fail_errno(err, e, "%s: cannot copy", dst);
    return 0;
}

typedef struct inomap {
    dev_t dev;
    ino_t ino;
    int idx;
} inomap;

static int copy_subset(table *t, const char *base, const char *dest, mk_err *err)
{
    inomap *links = NULL;
    size_t nl = 0;
    int rc = 0;
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        entry *e = &t->e[i];
        if (!e->keep)
            continue;
        char src[PATH_MAX], dst[PATH_MAX];
        snprintf(src, sizeof src, "%s%s", base, e->rel);
        if (snprintf(dst, sizeof dst, "%s%s", dest, e->rel) >= (int)sizeof dst) {
            rc = mk_fail(err, "%s: path too long", dst);
            break;
        }
        struct stat st;
        if (lstat(src, &st) < 0) {
            rc = mk_fail_errno(err, errno, "%s: cannot stat", src);
            break;
        }
        if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
            size_t k;
            for (k = 0; k < nl; k++)
                if (links[k].dev == st.st_dev && links[k].ino == st.st_ino)
                    break;
            if (k < nl) {
                char first[PATH_MAX];
                snprintf(first, sizeof first, "%s%s", dest, t->e[links[k].idx].rel);
                if (link(first, dst) < 0)
                    rc = mk_fail_errno(err, errno, "%s: cannot link", dst);
                continue;
            }
            inomap *nv = realloc(links, (nl + 1) * sizeof *nv);
            if (!nv) {
                rc = mk_fail(err, "staged tree: out of memory");
                break;
            }
            links = nv;
            links[nl++] = (inomap){st.st_dev, st.st_ino, (int)i};
        }
        if (i == 0)
            rc = mkdir(dst, 0700) < 0 ? mk_fail_errno(err, errno, "%s: cannot create", dst) : 0;
        else if (S_ISDIR(st.st_mode))
            rc = mkdir(dst, 0700) < 0 ? mk_fail_errno(err, errno, "%s: cannot create", dst) : 0;
        else if (S_ISREG(st.st_mode))
            rc = copy_data(src, dst, &st, err);
        else if (S_ISLNK(st.st_mode))
            rc = symlink(e->link, dst) < 0 ? mk_fail_errno(err, errno, "%s: cannot create", dst)
                                           : 0;
        else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode))
            rc = mknod(dst, st.st_mode & S_IFMT, st.st_rdev) < 0
                     ? mk_fail_errno(err, errno, "%s: cannot create", dst)
                     : 0;
        else
            continue; /* sockets do not belong in an image */
        if (rc)
            break;
        if (lchown(dst, st.st_uid, st.st_gid) < 0) {
            rc = mk_fail_errno(err, errno, "%s: cannot set owner", dst);
            break;
        }
        if (!S_ISLNK(st.st_mode) && chmod(dst, st.st_mode & 07777) < 0) {
            rc = mk_fail_errno(err, errno, "%s: cannot set mode", dst);
            break;
        }
        rc = copy_xattrs(src, dst, err);
        if (!S_ISDIR(st.st_mode))
            utimensat(AT_FDCWD, dst, (struct timespec[2]){st.st_atim, st.st_mtim},
                      AT_SYMLINK_NOFOLLOW);
    }
    /* Directory times last, children first, since creating entries changes them. */
    for (size_t i = t->n; rc == 0 && i-- > 0;) {
        entry *e = &t->e[i];
        if (!e->keep || !S_ISDIR(e->mode))
            continue;
        char src[PATH_MAX], dst[PATH_MAX];
        snprintf(src, sizeof src, "%s%s", base, e->rel);
        snprintf(dst, sizeof dst, "%s%s", dest, e->rel);
        struct stat st;
        if (lstat(src, &st) == 0)
            utimensat(AT_FDCWD, dst, (struct timespec[2]){st.st_atim, st.st_mtim}, 0);
    }
    free(links);
    return rc;
}

/* Removes what the variant does not keep from base, children before parents, and
 * restores the mtime of directories that lost entries. */
static int prune(table *t, const char *base, mk_err *err)
{
    for (size_t i = t->n; i-- > 1;) {
        entry *e = &t->e[i];
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s%s", base, e->rel);
        if (!e->keep) {
            if ((S_ISDIR(e->mode) ? rmdir(path) : unlink(path)) < 0)
                return mk_fail_errno(err, errno, "%s: cannot remove", path);
        }
    }
    return 0;
}

bool derive_keeps_all(const variant *v)
{
    if (v->drop.n)
        return false;
    for (size_t i = 0; i < v->keep.n; i++)
        if (!strcmp(v->keep.v[i], "/"))
            return true;
    return false;
}

int derive_tree(const char *base, const char *dest, const variant *v, bool consume, mk_err *err)
{
    if (consume && derive_keeps_all(v)) {
        if (rename(base, dest) < 0)
            return mk_fail_errno(err, errno, "%s: cannot rename to %s", base, dest);
        return 0;
    }
    table t = {0};
    entry root = {.rel = strdup(""), .parent = -1, .mode = S_IFDIR | 0755};
    if (!root.rel || table_add(&t, &root) < 0) {
        free(root.rel);
        table_free(&t);
        return mk_fail(err, "staged tree: out of memory");
    }
    int rc = walk(&t, base, 0, err);
    if (rc == 0) {
        select_entries(&t, v);
        if (consume) {
            /* Directory mtimes are restored after pruning, parents last. */
            struct timespec *times = calloc(t.n, sizeof *times * 2);
            if (!times)
                rc = mk_fail(err, "staged tree: out of memory");
            for (size_t i = 0; rc == 0 && i < t.n; i++) {
                char p[PATH_MAX];
                struct stat st;
                snprintf(p, sizeof p, "%s%s", base, t.e[i].rel);
                if (t.e[i].keep && S_ISDIR(t.e[i].mode) && lstat(p, &st) == 0) {
                    times[2 * i] = st.st_atim;
                    times[2 * i + 1] = st.st_mtim;
                }
            }
            if (rc == 0)
                rc = prune(&t, base, err);
            for (size_t i = t.n; rc == 0 && i-- > 0;) {
                char p[PATH_MAX];
                snprintf(p, sizeof p, "%s%s", base, t.e[i].rel);
                if (t.e[i].keep && S_ISDIR(t.e[i].mode))
                    utimensat(AT_FDCWD, p, &times[2 * i], 0);
            }
            free(times);
            if (rc == 0 && rename(base, dest) < 0)
                rc = mk_fail_errno(err, errno, "%s: cannot rename to %s", base, dest);
        } else {
            rc = copy_subset(&t, base, dest, err);
        }
    }
    table_free(&t);
    return rc;
}

/* Depth-first walk below root: visit() sees every entry (lstat), directories before their
 * contents. Used by the measurement and the fakeroot readability fix-up. */
typedef int (*tree_visit_fn)(const char *path, const struct stat *st, void *ctx, mk_err *err);

static int tree_walk(const char *root, tree_visit_fn visit, void *ctx, mk_err *err)
{
    DIR *d = opendir(root);
    if (!d)
        return mk_fail_errno(err, errno, "%s: cannot read", root);
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", root, de->d_name) >= (int)sizeof p) {
            rc = mk_fail(err, "%s: path too long", root);
            break;
        }
        struct stat st;
        if (lstat(p, &st) < 0) {
            rc = mk_fail_errno(err, errno, "%s: cannot stat", p);
            break;
        }
        rc = visit(p, &st, ctx, err);
        if (rc == 0 && S_ISDIR(st.st_mode))
            rc = tree_walk(p, visit, ctx, err);
    }
    closedir(d);
    return rc;
}

typedef struct measure_ctx {
    tree_measure *m;
    inomap *seen; /* hard-linked files already counted */
    size_t ns;
} measure_ctx;

static int measure_one(const char *path, const struct stat *st, void *ctx, mk_err *err)
{
    (void)path;
    (void)err;
    measure_ctx *c = ctx;
    c->m->entries++;
    if (!S_ISREG(st->st_mode))
        return 0;
    if (st->st_nlink > 1) {
        for (size_t k = 0; k < c->ns; k++)
            if (c->seen[k].dev == st->st_dev && c->seen[k].ino == st->st_ino)
                return 0;
        inomap *nv = realloc(c->seen, (c->ns + 1) * sizeof *nv);
        if (nv) {
            c->seen = nv;
            c->seen[c->ns++] = (inomap){st->st_dev, st->st_ino, 0};
        }
    }
    c->m->files++;
    c->m->bytes += (uint64_t)st->st_size;
    return 0;
}

int tree_measure_dir(const char *root, tree_measure *m, mk_err *err)
{
    memset(m, 0, sizeof *m);
    measure_ctx c = {.m = m};
    int rc = tree_walk(root, measure_one, &c, err);
    free(c.seen);
    return rc;
}

static int make_readable_one(const char *path, const struct stat *st, void *ctx, mk_err *err)
{
    (void)ctx;
    if (S_ISREG(st->st_mode) && access(path, R_OK) != 0 && chmod(path, st->st_mode & 07777) < 0)
        return mk_fail_errno(err, errno, "%s: cannot make readable", path);
    return 0;
}

int tree_make_readable(const char *root, mk_err *err)
{
    return tree_walk(root, make_readable_one, NULL, err);
}
