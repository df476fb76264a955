/* Filesystem scheme adapter (fsc_scheme.h). */
#include "fsc_scheme.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct fs_handle {
    uint64_t node;
    uint64_t fh;    /* open file (0: none) */
    uint64_t dirfh; /* open directory, opened on the first getdents (0: none) */
    uint32_t mode;
    char path[SCHEME_PATH_MAX];
} fs_handle;

/* The scheme root is the NULL handle; its node is the volume root. */
static uint64_t node_of(const fs_handle *h)
{
    return h ? h->node : PROTO_FS_ROOT;
}

static int neg(int e)
{
    return e ? -e : 0;
}

/* Splits "a/b/c" into parent path "a/b" and name "c" (in place copies). */
static int split(const char *path, char *parent, size_t pcap, const char **name)
{
    const char *slash = strrchr(path, '/');
    size_t pl = slash ? (size_t)(slash - path) : 0;
    if (pl >= pcap)
        return -ENAMETOOLONG;
    memcpy(parent, path, pl);
    parent[pl] = 0;
    *name = slash ? slash + 1 : path;
    return **name ? 0 : -EINVAL;
}

static unsigned want_of(uint32_t flags)
{
    unsigned w = 0;
    if (flags & SCHEME_OPEN_READ)
        w |= SCHEME_PERM_R;
    if (flags & (SCHEME_OPEN_WRITE | SCHEME_OPEN_TRUNC | SCHEME_OPEN_APPEND))
        w |= SCHEME_PERM_W;
    return w;
}

static uint32_t linux_flags(uint32_t f)
{
    uint32_t l = (f & SCHEME_OPEN_READ) && (f & SCHEME_OPEN_WRITE) ? O_RDWR
               : (f & SCHEME_OPEN_WRITE) ? O_WRONLY : O_RDONLY;
    if (f & SCHEME_OPEN_TRUNC)
        l |= O_TRUNC;
    if (f & SCHEME_OPEN_APPEND)
        l |= O_APPEND;
    return l;
}

static int fs_openat(void *svc, const scheme_open_req *req, const scheme_caller *c, void **out,
                     uint8_t *fd_flags)
{
    fsc *fc = svc;
    bool follow = !(req->flags & (SCHEME_OPEN_NOFOLLOW | SCHEME_OPEN_SYMLINK));
    proto_fs_entry e;
    bool created = false;
    uint64_t fh = 0;
    int rc = fsc_walk(fc, req->path, follow, &e);
    if (rc == 0 && (req->flags & SCHEME_OPEN_CREATE) && (req->flags & SCHEME_OPEN_EXCL)) {
        if (e.node != PROTO_FS_ROOT)
            fsc_forget(fc, e.node, 1);
        return -EEXIST;
    }
    if (rc == ENOENT && (req->flags & SCHEME_OPEN_CREATE)) {
        char parent[SCHEME_PATH_MAX];
        const char *name;
        int r = split(req->path, parent, sizeof parent, &name);
        if (r)
            return r;
        proto_fs_entry p;
        if ((rc = fsc_walk(fc, parent, true, &p)))
            return -rc;
        if (!S_ISDIR(p.attr.mode))
            rc = ENOTDIR;
        else if (scheme_perm_check((uint16_t)p.attr.mode, p.attr.uid, p.attr.gid, c,
                                   SCHEME_PERM_W | SCHEME_PERM_X))
            rc = EACCES;
        else if (req->flags & SCHEME_OPEN_DIRECTORY)
            rc = fsc_mkdir(fc, p.node, name, req->mode & 07777, c->uid, c->gid, &e);
        else
            rc = fsc_create(fc, p.node, name, linux_flags(req->flags) | O_EXCL, req->mode & 07777,
                            c->uid, c->gid, &e, &fh);
        if (p.node != PROTO_FS_ROOT)
            fsc_forget(fc, p.node, 1);
        if (rc)
            return -rc;
        created = true;
    } else if (rc) {
        return -rc;
    }
    bool is_dir = S_ISDIR(e.attr.mode);
    if ((req->flags & SCHEME_OPEN_DIRECTORY) && !is_dir)
        rc = ENOTDIR;
    else if (is_dir && (req->flags & (SCHEME_OPEN_WRITE | SCHEME_OPEN_TRUNC)))
        rc = EISDIR;
    else if (!created && !(req->flags & SCHEME_OPEN_STAT) &&
             scheme_perm_check((uint16_t)e.attr.mode, e.attr.uid, e.attr.gid, c,
                               want_of(req->flags) | (is_dir ? 0 : 0)))
        rc = EACCES;
    else if (!created && S_ISREG(e.attr.mode) && !(req->flags & SCHEME_OPEN_STAT))
        rc = fsc_open(fc, e.node, linux_flags(req->flags), &fh);
    if (rc) {
        if (e.node != PROTO_FS_ROOT)
            fsc_forget(fc, e.node, 1);
        return -rc;
    }
    fs_handle *h = calloc(1, sizeof *h);
    if (!h) {
        if (fh)
            fsc_release(fc, fh);
        if (e.node != PROTO_FS_ROOT)
            fsc_forget(fc, e.node, 1);
        return -ENOMEM;
    }
    h->node = e.node;
    h->fh = fh;
    h->mode = e.attr.mode;
    memcpy(h->path, req->path, req->path_len < sizeof h->path ? req->path_len : sizeof h->path - 1);
    *out = h;
    *fd_flags = S_ISREG(e.attr.mode) ? SCHEME_FD_POSITIONED : 0;
    return 0;
}

static void fs_close(void *svc, void *hv)
{
    fs_handle *h = hv;
    if (!h)
        return;
    if (h->fh)
        fsc_release(svc, h->fh);
    if (h->dirfh)
        fsc_releasedir(svc, h->dirfh);
    if (h->node != PROTO_FS_ROOT)
        fsc_forget(svc, h->node, 1);
    free(h);
}

static int64_t fs_read(void *svc, void *hv, void *buf, size_t len, uint64_t off, uint32_t flags,
                       const scheme_caller *c)
{
    (void)flags, (void)c;
    fs_handle *h = hv;
    if (!h || !h->fh)
        return S_ISDIR(h ? h->mode : S_IFDIR) ? -EISDIR : -EBADF;
    size_t got = 0;
    int rc = fsc_read(svc, h->fh, off, buf, len, &got);
    return rc ? -rc : (int64_t)got;
}

static int64_t fs_write(void *svc, void *hv, const void *buf, size_t len, uint64_t off,
                        uint32_t flags, const scheme_caller *c)
{
    (void)flags, (void)c;
    fs_handle *h = hv;
    if (!h || !h->fh)
        return -EBADF;
    size_t done = 0;
    while (done < len) {
        size_t w = 0;
        int rc = fsc_write(svc, h->fh, off + done, (const uint8_t *)buf + done, len - done, &w);
        if (rc)
            return done ? (int64_t)done : -rc;
        if (w == 0)
            break;
        done += w;
    }
    return (int64_t)done;
}

static int64_t fs_fsize(void *svc, void *hv, const scheme_caller *c)
{
    (void)c;
    proto_fs_attr a;
    int rc = fsc_getattr(svc, node_of(hv), &a);
    return rc ? -rc : (int64_t)(a.size & INT64_MAX);
}

static int fs_fstat(void *svc, void *hv, scheme_stat *st, const scheme_caller *c)
{
    (void)c;
    proto_fs_attr a;
    int rc = fsc_getattr(svc, node_of(hv), &a);
    if (rc)
        return -rc;
    memset(st, 0, sizeof *st);
    st->ino = a.ino;
    st->mode = (uint16_t)a.mode; /* Linux and Redox share the S_IF* and permission bits */
    st->nlink = a.nlink;
    st->uid = a.uid;
    st->gid = a.gid;
    st->size = a.size;
    st->blksize = a.blksize;
    st->blocks = a.blocks;
    st->atime = (uint64_t)a.atime, st->atime_nsec = a.atime_ns;
    st->mtime = (uint64_t)a.mtime, st->mtime_nsec = a.mtime_ns;
    st->ctime = (uint64_t)a.ctime, st->ctime_nsec = a.ctime_ns;
    return 0;
}

static int fs_fstatvfs(void *svc, void *hv, scheme_statvfs *st, const scheme_caller *c)
{
    (void)hv, (void)c;
    proto_fs_statfs s;
    int rc = fsc_statfs(svc, &s);
    if (rc)
        return -rc;
    st->bsize = s.frsize ? s.frsize : s.bsize;
    st->blocks = s.blocks;
    st->bfree = s.bfree;
    st->bavail = s.bavail;
    return 0;
}

static int fs_fsync(void *svc, void *hv, const scheme_caller *c)
{
    (void)c;
    fs_handle *h = hv;
    return h && h->fh ? neg(fsc_fsync(svc, h->fh, false)) : 0;
}

static int setattr(void *svc, fs_handle *h, uint32_t valid, const proto_fs_attr *w)
{
    proto_fs_attr out;
    return neg(fsc_setattr(svc, node_of(h), h ? h->fh : 0, valid, w, &out));
}

/* Owner or root may change modes and times; only root changes owners (POSIX). */
static int owner_check(void *svc, fs_handle *h, const scheme_caller *c)
{
    proto_fs_attr a;
    int rc = fsc_getattr(svc, node_of(h), &a);
    if (rc)
        return -rc;
    return c->uid == 0 || c->uid == a.uid ? 0 : -EPERM;
}

static int fs_ftruncate(void *svc, void *hv, uint64_t len, const scheme_caller *c)
{
    (void)c;
    fs_handle *h = hv;
    if (!h || !h->fh)
        return -EBADF;
    proto_fs_attr w = {.size = len};
    return setattr(svc, h, PROTO_FS_SET_SIZE, &w);
}

static int fs_fchmod(void *svc, void *hv, uint16_t mode, const scheme_caller *c)
{
    int rc = owner_check(svc, hv, c);
    proto_fs_attr w = {.mode = mode & 07777u};
    return rc ? rc : setattr(svc, hv, PROTO_FS_SET_MODE, &w);
}

static int fs_fchown(void *svc, void *hv, uint32_t uid, uint32_t gid, const scheme_caller *c)
{
    if (c->uid != 0)
        return -EPERM;
    proto_fs_attr w = {.uid = uid, .gid = gid};
    uint32_t v = (uid != UINT32_MAX ? PROTO_FS_SET_UID : 0) | (gid != UINT32_MAX ? PROTO_FS_SET_GID : 0);
    return v ? setattr(svc, hv, v, &w) : 0;
}

static int fs_futimens(void *svc, void *hv, const scheme_timespec *t, size_t n,
                       const scheme_caller *c)
{
    int rc = owner_check(svc, hv, c);
    if (rc)
        return rc;
    proto_fs_attr w = {0};
    uint32_t v = 0;
    if (n == 0)
        v = PROTO_FS_SET_ATIME_NOW | PROTO_FS_SET_MTIME_NOW;
    for (size_t i = 0; i < n && i < 2; i++) {
        if (t[i].nsec < 0 || t[i].nsec >= 1000000000)
            return -EINVAL;
        if (i == 0)
            w.atime = t[0].sec, w.atime_ns = (uint32_t)t[0].nsec, v |= PROTO_FS_SET_ATIME;
        else
            w.mtime = t[1].sec, w.mtime_ns = (uint32_t)t[1].nsec, v |= PROTO_FS_SET_MTIME;
    }
    return setattr(svc, hv, v, &w);
}

static int fs_getdents(void *svc, void *hv, uint64_t opaque, scheme_dirent_sink *sink,
                       const scheme_caller *c)
{
    (void)c;
    fs_handle *h = hv;
    /* The scheme root has no handle of ours: it opens its directory per request (the
     * offsets are the guest's telldir cookies, valid across opens of one directory). */
    fs_handle root = {.node = PROTO_FS_ROOT, .mode = S_IFDIR};
    int rc;
    if (!h) {
        if ((rc = fsc_opendir(svc, PROTO_FS_ROOT, &root.dirfh)))
            return -rc;
        rc = fs_getdents(svc, &root, opaque, sink, c);
        fsc_releasedir(svc, root.dirfh);
        return rc;
    }
    if (!S_ISDIR(h->mode))
        return -ENOTDIR;
    if (!h->dirfh && (rc = fsc_opendir(svc, h->node, &h->dirfh)))
        return -rc;
    static uint8_t buf[64 * 1024];
    uint64_t off = opaque;
    for (;;) {
        proto_fs_dirit it;
        if ((rc = fsc_readdir(svc, h->dirfh, off, false, buf, sizeof buf, &it)))
            return -rc;
        proto_fs_dirent d;
        int k, n = 0;
        while ((k = proto_fs_dir_next(&it, &d)) == 1) {
            n++;
            if (d.next == off)
                return -EIO; /* a directory that would never end */
            bool dot = (d.name.n == 1 && d.name.s[0] == '.') ||
                       (d.name.n == 2 && d.name.s[0] == '.' && d.name.s[1] == '.');
            if (!dot) {
                int r = scheme_dirent_add(sink, 0, d.next, (uint8_t)d.dtype, d.name.s, d.name.n);
                if (r == 1)
                    return 0; /* full: the caller continues from the last added entry */
                if (r < 0)
                    return r;
            }
            off = d.next;
        }
        if (k < 0)
            return -EIO;
        if (n == 0)
            return 0;
    }
}

static int walk_parent(void *svc, const char *path, proto_fs_entry *p, const char **name,
                       char *parent, size_t cap)
{
    int r = split(path, parent, cap, name);
    if (r)
        return r;
    return neg(fsc_walk(svc, parent, true, p));
}

static void put(void *svc, uint64_t node)
{
    if (node != PROTO_FS_ROOT)
        fsc_forget(svc, node, 1);
}

/* Write permission on the directory, and the sticky bit's owner rule. */
static int dir_entry_perm(void *svc, const proto_fs_entry *p, const char *name,
                          const scheme_caller *c)
{
    if (scheme_perm_check((uint16_t)p->attr.mode, p->attr.uid, p->attr.gid, c,
                          SCHEME_PERM_W | SCHEME_PERM_X))
        return -EACCES;
    if ((p->attr.mode & S_ISVTX) && c->uid != 0 && c->uid != p->attr.uid) {
        proto_fs_entry e;
        int rc = fsc_lookup(svc, p->node, name, &e);
        if (rc)
            return -rc;
        put(svc, e.node);
        if (e.attr.uid != c->uid)
            return -EPERM;
    }
    return 0;
}

static int fs_unlinkat(void *svc, const char *path, bool is_dir, const scheme_caller *c)
{
    char parent[SCHEME_PATH_MAX];
    const char *name;
    proto_fs_entry p;
    int rc = walk_parent(svc, path, &p, &name, parent, sizeof parent);
    if (rc)
        return rc;
    rc = dir_entry_perm(svc, &p, name, c);
    if (!rc)
        rc = neg(is_dir ? fsc_rmdir(svc, p.node, name) : fsc_unlink(svc, p.node, name));
    put(svc, p.node);
    return rc;
}

static int fs_frename(void *svc, void *hv, const char *path, const scheme_caller *c)
{
    fs_handle *h = hv;
    if (!h)
        return -EBUSY; /* the volume root */
    char op[SCHEME_PATH_MAX], np[SCHEME_PATH_MAX];
    const char *oname, *nname;
    proto_fs_entry po, pn;
    int rc = walk_parent(svc, h->path, &po, &oname, op, sizeof op);
    if (rc)
        return rc;
    rc = walk_parent(svc, path, &pn, &nname, np, sizeof np);
    if (rc) {
        put(svc, po.node);
        return rc;
    }
    rc = dir_entry_perm(svc, &po, oname, c);
    if (!rc && scheme_perm_check((uint16_t)pn.attr.mode, pn.attr.uid, pn.attr.gid, c,
                                 SCHEME_PERM_W | SCHEME_PERM_X))
        rc = -EACCES;
    if (!rc)
        rc = neg(fsc_rename(svc, po.node, oname, pn.node, nname, 0));
    if (!rc)
        snprintf(h->path, sizeof h->path, "%s", path);
    put(svc, po.node);
    put(svc, pn.node);
    return rc;
}

const scheme_ops fsc_scheme_ops = {
    .openat = fs_openat,
    .close = fs_close,
    .read = fs_read,
    .write = fs_write,
    .fsize = fs_fsize,
    .fstat = fs_fstat,
    .fstatvfs = fs_fstatvfs,
    .fsync = fs_fsync,
    .ftruncate = fs_ftruncate,
    .fchmod = fs_fchmod,
    .fchown = fs_fchown,
    .futimens = fs_futimens,
    .getdents = fs_getdents,
    .frename = fs_frename,
    .unlinkat = fs_unlinkat,
};
