/* FUSE low-level operations over the filesystem client (fuse_ops.h). One FUSE inode = one
 * guest node id; file handles are guest handles, directory handles a small host struct that
 * bounds what a directory may return (an endless or looping readdir from a hostile guest ends
 * with EIO instead of hanging the caller). */
#include "fuse_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define TIMEOUT 1.0             /* attribute and entry cache, seconds: the VM may change files */

static fsc *C(fuse_req_t req)
{
    return ((revm_fuse *)fuse_req_userdata(req))->c;
}

static void to_stat(const proto_fs_attr *a, uint64_t node, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = node ? node : (a->ino ? a->ino : 1); /* readdir hides d_ino 0 */
    st->st_size = (off_t)a->size;
    st->st_blocks = (blkcnt_t)a->blocks;
    st->st_mode = a->mode;
    st->st_nlink = a->nlink;
    st->st_uid = a->uid;
    st->st_gid = a->gid;
    st->st_rdev = (dev_t)a->rdev;
    st->st_blksize = a->blksize;
    st->st_atim = (struct timespec){a->atime, a->atime_ns};
    st->st_mtim = (struct timespec){a->mtime, a->mtime_ns};
    st->st_ctim = (struct timespec){a->ctime, a->ctime_ns};
}

static void reply_entry(fuse_req_t req, const proto_fs_entry *e)
{
    struct fuse_entry_param p;
    memset(&p, 0, sizeof p);
    p.ino = e->node;
    p.generation = 0;
    to_stat(&e->attr, e->node, &p.attr);
    p.attr_timeout = p.entry_timeout = TIMEOUT;
    if (fuse_reply_entry(req, &p) == -ENOENT)
        fsc_forget(C(req), e->node, 1); /* the caller was interrupted: undo the lookup */
}

static void reply_rc_entry(fuse_req_t req, int rc, const proto_fs_entry *e)
{
    if (rc)
        fuse_reply_err(req, rc);
    else
        reply_entry(req, e);
}

static void op_init(void *ud, struct fuse_conn_info *conn)
{
    revm_fuse *f = ud;
    uint32_t io = fsc_get_info(f->c)->max_io;
    conn->max_write = io;
    conn->max_readahead = io;
    /* Many requests in flight: the guest round trip, not the host, is the slow part. */
    conn->max_background = 64;
    conn->congestion_threshold = 48;
    /* WRITE data arrives in a pipe (op_write_buf splices it on to the guest) when the kernel
     * can: libfuse falls back to plain reads when it cannot size its pipes. */
    if (conn->capable & FUSE_CAP_SPLICE_READ)
        conn->want |= FUSE_CAP_SPLICE_READ;
    /* POSIX and flock locks stay local to the host kernel (PROTOCOL.md). */
    conn->want &= ~(unsigned)(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    proto_fs_entry e;
    int rc = fsc_lookup(C(req), parent, name, &e);
    if (rc == ENOENT) {
        /* A negative entry the kernel may cache as briefly as positive ones: creating a file
         * then costs no second LOOKUP round trip to the guest. */
        struct fuse_entry_param p;
        memset(&p, 0, sizeof p);
        p.entry_timeout = TIMEOUT;
        fuse_reply_entry(req, &p);
        return;
    }
    reply_rc_entry(req, rc, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
    fsc_forget(C(req), ino, n);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *list)
{
    for (size_t i = 0; i < count; i++)
        fsc_forget(C(req), list[i].ino, list[i].nlookup);
    fuse_reply_none(req);
}

static void reply_attr(fuse_req_t req, int rc, fuse_ino_t ino, const proto_fs_attr *a)
{
    if (rc) {
        fuse_reply_err(req, rc);
        return;
    }
    struct stat st;
    to_stat(a, ino, &st);
    fuse_reply_attr(req, &st, TIMEOUT);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    proto_fs_attr a;
    int rc = fsc_getattr(C(req), ino, &a);
    reply_attr(req, rc, ino, &a);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *st, int to_set,
                       struct fuse_file_info *fi)
{
    uint32_t v = 0;
    proto_fs_attr w = {0}, out;
    if (to_set & FUSE_SET_ATTR_MODE)
        v |= PROTO_FS_SET_MODE, w.mode = st->st_mode;
    if (to_set & FUSE_SET_ATTR_UID)
        v |= PROTO_FS_SET_UID, w.uid = st->st_uid;
    if (to_set & FUSE_SET_ATTR_GID)
        v |= PROTO_FS_SET_GID, w.gid = st->st_gid;
    if (to_set & FUSE_SET_ATTR_SIZE)
        v |= PROTO_FS_SET_SIZE, w.size = (uint64_t)st->st_size;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW)
        v |= PROTO_FS_SET_ATIME_NOW;
    else if (to_set & FUSE_SET_ATTR_ATIME)
        v |= PROTO_FS_SET_ATIME, w.atime = st->st_atim.tv_sec, w.atime_ns = (uint32_t)st->st_atim.tv_nsec;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW)
        v |= PROTO_FS_SET_MTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_MTIME)
        v |= PROTO_FS_SET_MTIME, w.mtime = st->st_mtim.tv_sec, w.mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
    int rc = fsc_setattr(C(req), ino, fi ? fi->fh : 0, v, &w, &out);
    reply_attr(req, rc, ino, &out);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    char buf[PROTO_FS_MAX_LINK + 1];
    int rc = fsc_readlink(C(req), ino, buf, sizeof buf);
    if (rc)
        fuse_reply_err(req, rc);
    else
        fuse_reply_readlink(req, buf);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    const struct fuse_ctx *x = fuse_req_ctx(req);
    proto_fs_entry e;
    int rc = fsc_mknod(C(req), parent, name, mode, rdev, x->uid, x->gid, &e);
    reply_rc_entry(req, rc, &e);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    const struct fuse_ctx *x = fuse_req_ctx(req);
    proto_fs_entry e;
    int rc = fsc_mkdir(C(req), parent, name, mode, x->uid, x->gid, &e);
    reply_rc_entry(req, rc, &e);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    fuse_reply_err(req, fsc_unlink(C(req), parent, name));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    fuse_reply_err(req, fsc_rmdir(C(req), parent, name));
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    const struct fuse_ctx *x = fuse_req_ctx(req);
    proto_fs_entry e;
    int rc = fsc_symlink(C(req), parent, name, link, x->uid, x->gid, &e);
    reply_rc_entry(req, rc, &e);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    /* RENAME_NOREPLACE 1, RENAME_EXCHANGE 2 on Linux, as on the wire; WHITEOUT is refused. */
    if (flags & ~3u) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    fuse_reply_err(req, fsc_rename(C(req), parent, name, newparent, newname, flags));
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    proto_fs_entry e;
    int rc = fsc_link(C(req), ino, newparent, newname, &e);
    reply_rc_entry(req, rc, &e);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    uint64_t fh;
    int rc = fsc_open(C(req), ino, (uint32_t)fi->flags, &fh);
    if (rc) {
        fuse_reply_err(req, rc);
        return;
    }
    fi->fh = fh;
    if (fuse_reply_open(req, fi) == -ENOENT)
        fsc_release(C(req), fh);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    const struct fuse_ctx *x = fuse_req_ctx(req);
    proto_fs_entry e;
    uint64_t fh;
    int rc = fsc_create(C(req), parent, name, (uint32_t)fi->flags, mode, x->uid, x->gid, &e, &fh);
    if (rc) {
        fuse_reply_err(req, rc);
        return;
    }
    fi->fh = fh;
    struct fuse_entry_param p;
    memset(&p, 0, sizeof p);
    p.ino = e.node;
    to_stat(&e.attr, e.node, &p.attr);
    p.attr_timeout = p.entry_timeout = TIMEOUT;
    if (fuse_reply_create(req, &p, fi) == -ENOENT) {
        fsc_release(C(req), fh);
        fsc_forget(C(req), e.node, 1);
    }
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)ino;
    fsc *c = C(req);
    size_t max = fsc_get_info(c)->max_io;
    if (size > max)
        size = max;
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    size_t got = 0;
    int rc = fsc_read(c, fi->fh, (uint64_t)off, buf, size, &got);
    if (rc)
        fuse_reply_err(req, rc);
    else
        fuse_reply_buf(req, buf, got);
    free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)ino;
    fsc *c = C(req);
    size_t done = 0;
    while (done < size) {
        size_t w = 0;
        int rc = fsc_write(c, fi->fh, (uint64_t)off + done, buf + done, size - done, &w);
        if (rc) {
            if (done == 0) {
                fuse_reply_err(req, rc);
                return;
            }
            break;
        }
        if (w == 0)
            break;
        done += w;
    }
    fuse_reply_write(req, done);
}

/* Moves n bytes of a WRITE's data from FUSE's splice pipe to the service socket: the kernel
 * hands the written pages to the pipe by reference and the socket takes them the same way,
 * so the data is not copied through this process (two copies fewer per WRITE). */
static int splice_fill(void *ctx, int sock, size_t n)
{
    int pipefd = *(int *)ctx;
    while (n) {
        ssize_t k = splice(pipefd, NULL, sock, NULL, n, SPLICE_F_MOVE);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        n -= (size_t)k;
    }
    return 0;
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
                         struct fuse_file_info *fi)
{
    fsc *c = C(req);
    size_t size = fuse_buf_size(bufv);
    const struct fuse_buf *b = &bufv->buf[bufv->idx];
    if (bufv->count == bufv->idx + 1 && bufv->off == 0 && b->size == size) {
        if (!(b->flags & FUSE_BUF_IS_FD)) {
            op_write(req, ino, b->mem, size, off, fi);
            return;
        }
        /* In the pipe (FUSE_CAP_SPLICE_READ): max_write is max_io, so one record. */
        if (!(b->flags & FUSE_BUF_FD_SEEK) && size <= fsc_get_info(c)->max_io) {
            int fd = b->fd;
            size_t w = 0;
            int rc = fsc_write_from(c, fi->fh, (uint64_t)off, size, splice_fill, &fd, &w);
            if (rc)
                fuse_reply_err(req, rc);
            else
                fuse_reply_write(req, w);
            return;
        }
    }
    /* Any other shape: into memory, then as before. */
    char *mem = malloc(size ? size : 1);
    if (!mem) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
    dst.buf[0].mem = mem;
    ssize_t got = fuse_buf_copy(&dst, bufv, 0);
    if (got < 0)
        fuse_reply_err(req, (int)-got);
    else
        op_write(req, ino, mem, (size_t)got, off, fi);
    free(mem);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino, (void)fi;
    fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    fuse_reply_err(req, fsc_release(C(req), fi->fh));
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)ino;
    fuse_reply_err(req, fsc_fsync(C(req), fi->fh, datasync != 0));
}

typedef struct dirh {
    uint64_t fh;
    uint64_t seen;
} dirh;

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    dirh *d = calloc(1, sizeof *d);
    if (!d) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int rc = fsc_opendir(C(req), ino, &d->fh);
    if (rc) {
        free(d);
        fuse_reply_err(req, rc);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)d;
    if (fuse_reply_open(req, fi) == -ENOENT) {
        fsc_releasedir(C(req), d->fh);
        free(d);
    }
}

static void do_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi, bool plus)
{
    fsc *c = C(req);
    dirh *d = (dirh *)(uintptr_t)fi->fh;
    size_t cap = size < 4096 ? 4096 : size;
    uint8_t *in = malloc(cap), *out = malloc(size);
    if (!in || !out) {
        free(in), free(out);
        fuse_reply_err(req, ENOMEM);
        return;
    }
    proto_fs_dirit it;
    int rc = fsc_readdir(c, d->fh, (uint64_t)off, plus, in, cap, &it);
    size_t used = 0;
    if (rc == 0) {
        proto_fs_dirent de;
        int k;
        while ((k = proto_fs_dir_next(&it, &de)) == 1) {
            revm_fuse *rf = fuse_req_userdata(req);
            if (de.next == (uint64_t)off || de.next > INT64_MAX || ++d->seen > rf->max_dir_entries) {
                rc = EIO; /* a directory that would loop forever */
                if (plus && de.entry.node)
                    fsc_forget(c, de.entry.node, 1);
                break;
            }
            char name[PROTO_FS_MAX_NAME + 1];
            memcpy(name, de.name.s, de.name.n);
            name[de.name.n] = 0;
            struct stat st;
            size_t n;
            if (plus) {
                struct fuse_entry_param p;
                memset(&p, 0, sizeof p);
                p.ino = de.entry.node;
                to_stat(&de.entry.attr, de.entry.node, &p.attr);
                p.attr_timeout = p.entry_timeout = TIMEOUT;
                n = fuse_add_direntry_plus(req, (char *)out + used, size - used, name, &p, (off_t)de.next);
            } else {
                memset(&st, 0, sizeof st);
                st.st_ino = 0xffffffffu; /* unknown: the kernel looks it up */
                st.st_mode = (mode_t)de.dtype << 12;
                n = fuse_add_direntry(req, (char *)out + used, size - used, name, &st, (off_t)de.next);
            }
            if (n > size - used) {
                /* Does not fit: the kernel asks again from the previous entry's offset. */
                if (plus && de.entry.node)
                    fsc_forget(c, de.entry.node, 1);
                break;
            }
            used += n;
        }
        /* Entries after a failure in a plus reply were looked up by the guest: give them back. */
        if (plus)
            while (proto_fs_dir_next(&it, &de) == 1)
                if (de.entry.node)
                    fsc_forget(c, de.entry.node, 1);
        if (k < 0 && used == 0)
            rc = EIO;
    }
    if (rc && used == 0)
        fuse_reply_err(req, rc);
    else
        fuse_reply_buf(req, (char *)out, used);
    free(in);
    free(out);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)ino;
    do_readdir(req, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    (void)ino;
    do_readdir(req, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    dirh *d = (dirh *)(uintptr_t)fi->fh;
    int rc = fsc_releasedir(C(req), d->fh);
    free(d);
    fuse_reply_err(req, rc);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    proto_fs_statfs s;
    int rc = fsc_statfs(C(req), &s);
    if (rc) {
        fuse_reply_err(req, rc);
        return;
    }
    struct statvfs sv;
    memset(&sv, 0, sizeof sv);
    sv.f_bsize = s.bsize;
    sv.f_frsize = s.frsize;
    sv.f_blocks = s.blocks;
    sv.f_bfree = s.bfree;
    sv.f_bavail = s.bavail;
    sv.f_files = s.files;
    sv.f_ffree = s.ffree;
    sv.f_namemax = s.namemax;
    fuse_reply_statfs(req, &sv);
}

/* The host kernel asks for "security.capability" before every WRITE (to drop file
 * capabilities on a write; FUSE mounts never get the kernel's S_NOSEC shortcut without
 * handle_killpriv_v2, which libfuse 3.14 cannot ask for): a round trip to the guest per
 * write, usually for ENODATA. That answer is kept per inode for TIMEOUT, as attributes are;
 * SETXATTR and REMOVEXATTR through this mount drop it at once, a change made in the VM shows
 * within TIMEOUT. Direct-mapped by inode number, bounded; a collision only costs a lookup. */
#define NOCAP_SLOTS 1024u
static const char NOCAP_NAME[] = "security.capability";
static struct {
    fuse_ino_t ino;
    struct timespec until;
} nocap[NOCAP_SLOTS];
static pthread_mutex_t nocap_mu = PTHREAD_MUTEX_INITIALIZER;

static bool nocap_known(fuse_ino_t ino)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&nocap_mu);
    unsigned i = (unsigned)(ino % NOCAP_SLOTS);
    bool hit = nocap[i].ino == ino && (now.tv_sec < nocap[i].until.tv_sec ||
                                       (now.tv_sec == nocap[i].until.tv_sec &&
                                        now.tv_nsec < nocap[i].until.tv_nsec));
    pthread_mutex_unlock(&nocap_mu);
    return hit;
}

static void nocap_set(fuse_ino_t ino, bool none)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += (time_t)TIMEOUT;
    pthread_mutex_lock(&nocap_mu);
    unsigned i = (unsigned)(ino % NOCAP_SLOTS);
    if (none)
        nocap[i].ino = ino, nocap[i].until = t;
    else if (nocap[i].ino == ino)
        nocap[i].ino = 0;
    pthread_mutex_unlock(&nocap_mu);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    int rc = fsc_setxattr(C(req), ino, name, value, size, (uint32_t)flags);
    nocap_set(ino, false);
    fuse_reply_err(req, rc);
}

static void xattr_reply(fuse_req_t req, int rc, size_t size, const void *buf, size_t len)
{
    if (rc)
        fuse_reply_err(req, rc);
    else if (size == 0)
        fuse_reply_xattr(req, len);
    else
        fuse_reply_buf(req, buf, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    bool cap = !strcmp(name, NOCAP_NAME);
    if (cap && nocap_known(ino)) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    void *buf = size ? malloc(size) : NULL;
    size_t len = 0;
    int rc = size && !buf ? ENOMEM : fsc_getxattr(C(req), ino, name, buf, size, &len);
    if (cap)
        nocap_set(ino, rc == ENODATA);
    xattr_reply(req, rc, size, buf, len);
    free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    void *buf = size ? malloc(size) : NULL;
    size_t len = 0;
    int rc = size && !buf ? ENOMEM : fsc_listxattr(C(req), ino, buf, size, &len);
    xattr_reply(req, rc, size, buf, len);
    free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    int rc = fsc_removexattr(C(req), ino, name);
    nocap_set(ino, false);
    fuse_reply_err(req, rc);
}

const struct fuse_lowlevel_ops revm_fuse_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .open = op_open,
    .create = op_create,
    .read = op_read,
    .write = op_write,
    .write_buf = op_write_buf,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .statfs = op_statfs,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
};
