/* The fs helper's request loop (PROTOCOL.md, Filesystem service): records in on fd 0, one
 * reply each out on fd 1, served in order. Every name is one component resolved with *at()
 * beneath the parent node's O_PATH descriptor, never following a symlink. */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

/* Bulk data is kept page-aligned in both buffers, which the kernel's copies to and from user
 * memory like (measured here: a warm pread into offset 9 ran 15-30% slower than into a page;
 * cold reads and pwrite showed no difference). A READ reply's data starts at BODY, page
 * aligned; a WRITE's data starts WRITE_DATA bytes into its record, which is page aligned
 * when the record starts at IN_BASE (where the input buffer restarts whenever it empties,
 * as it does between sequential writes). */
#define ALIGN 4096u
#define WRITE_DATA (4u + PROTO_REC_MIN + 16u) /* len, type, tag, fh, offset */
#define IN_BASE (ALIGN - WRITE_DATA)
/* Two halves (see guest_fs_main), each a maximal record past IN_BASE. */
#define IN_HALF (IN_BASE + 4u + PROTO_FS_MAX_RECORD)
static uint8_t inbuf[2 * IN_HALF] __attribute__((aligned(ALIGN)));
static uint8_t outbuf[ALIGN + PROTO_FS_MAX_RECORD] __attribute__((aligned(ALIGN)));
static uint8_t *const out = outbuf + ALIGN - PROTO_REC_HDR;
static int rootfd = -1;
static bool rdonly;
static char volname[72], fstype[32];

/* ---- output ---- */
static int write_all(const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(1, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The reply body is written by the handler at out + PROTO_REC_HDR. */
#define BODY (out + PROTO_REC_HDR)
#define BODY_CAP (PROTO_FS_MAX_RECORD - PROTO_REC_MIN)

static int send_reply(uint8_t type, uint32_t tag, size_t body_len)
{
    proto_rec_hdr(out, type, tag, body_len);
    return write_all(out, PROTO_REC_HDR + body_len);
}

static int send_err(uint32_t tag, int e)
{
    proto_wr w;
    proto_wr_init(&w, BODY, BODY_CAP);
    proto_wr_u32(&w, (uint32_t)(e > 0 ? e : EIO));
    return send_reply(PROTO_FS_ERR, tag, w.len);
}

/* ---- helpers ---- */
static void to_attr(const struct stat *st, proto_fs_attr *a)
{
    a->ino = st->st_ino;
    a->size = (uint64_t)st->st_size;
    a->blocks = (uint64_t)st->st_blocks;
    a->mode = st->st_mode;
    a->nlink = (uint32_t)st->st_nlink;
    a->uid = st->st_uid;
    a->gid = st->st_gid;
    a->rdev = st->st_rdev;
    a->blksize = (uint32_t)st->st_blksize;
    a->atime = st->st_atim.tv_sec;
    a->atime_ns = (uint32_t)st->st_atim.tv_nsec;
    a->mtime = st->st_mtim.tv_sec;
    a->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
    a->ctime = st->st_ctim.tv_sec;
    a->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
}

/* A NUL-terminated copy of a checked name (names are <= 255 bytes). */
typedef struct name_buf {
    char s[PROTO_FS_MAX_NAME + 1];
} name_buf;

static int rd_name(proto_rd *r, name_buf *nb)
{
    const char *s;
    uint32_t n;
    proto_rd_str(r, &s, &n);
    if (r->err)
        return EINVAL;
    int e = proto_fs_name_check(s, n);
    if (e)
        return e;
    memcpy(nb->s, s, n);
    nb->s[n] = 0;
    return 0;
}

static void proc_path(char *buf, size_t cap, int fd)
{
    snprintf(buf, cap, "/proc/self/fd/%d", fd);
}

/* Parent directory descriptor of a node id: must be a directory. */
static int dir_fd(uint64_t id, int *e)
{
    mode_t t;
    int fd = guest_fs_node_fd(id, &t);
    if (fd < 0) {
        *e = ESTALE;
        return -1;
    }
    if (!S_ISDIR(t)) {
        *e = ENOTDIR;
        return -1;
    }
    return fd;
}

/* LOOKUP-style reply: the entry for name beneath parentfd. */
static int reply_entry(uint8_t type, uint32_t tag, int parentfd, const char *name, uint64_t fh)
{
    struct stat st;
    uint64_t id = guest_fs_node_lookup(parentfd, name, &st);
    if (!id) {
        int e = errno;
        if (fh)
            guest_fs_handle_close(fh);
        return send_err(tag, e);
    }
    proto_fs_entry en = {.node = id};
    to_attr(&st, &en.attr);
    proto_wr w;
    proto_wr_init(&w, BODY, BODY_CAP);
    proto_fs_wr_entry(&w, &en);
    if (fh)
        proto_wr_u64(&w, fh);
    return send_reply(type, tag, w.len);
}

static void chown_new(int parentfd, const char *name, uint32_t uid, uint32_t gid)
{
    if (uid != UINT32_MAX || gid != UINT32_MAX)
        (void)fchownat(parentfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
}

static int reply_empty(uint8_t type, uint32_t tag, int rc)
{
    if (rc < 0)
        return send_err(tag, errno);
    return send_reply(type, tag, 0);
}

static int reply_attr(uint8_t type, uint32_t tag, int fd)
{
    struct stat st;
    if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
        return send_err(tag, errno);
    proto_fs_attr a;
    to_attr(&st, &a);
    proto_wr w;
    proto_wr_init(&w, BODY, BODY_CAP);
    proto_fs_wr_attr(&w, &a);
    return send_reply(type, tag, w.len);
}

/* ---- READ without copies ----
 * A large READ's data goes from the page cache to fd 1 by reference: spliced into a private
 * pipe (which also tells how much there is, for the record header), then on to fd 1 after the
 * header. Each copy skipped is a full pass over the data (measured locally: the pread copy
 * was the helper's largest cost in a sequential read). What the pipe cannot take (it holds
 * PROTO_FS_MAX_IO when /proc/sys/fs/pipe-max-size allows, less when the read is not page
 * aligned) is read with pread after it, so a reply is short only at end of file, as before.
 * The pages are the file's own: the host copies them out before it sees the reply to any
 * later request (the helper serves in order), so a later WRITE cannot show through. */
#define SPLICE_MIN (64u * 1024u)
static int spl[2] = {-1, -1};
static bool spl_off; /* no usable pipe: pread only */

/* 1: not done, use pread; else send_reply's result. */
static int read_spliced(uint32_t tag, int fd, uint64_t off, uint32_t size)
{
    if (spl_off)
        return 1;
    if (spl[0] < 0) {
        if (pipe2(spl, O_CLOEXEC | O_NONBLOCK) < 0 ||
            fcntl(spl[1], F_SETPIPE_SZ, (int)PROTO_FS_MAX_IO) < (int)SPLICE_MIN) {
            spl_off = true;
            return 1;
        }
    }
    loff_t o = (loff_t)off;
    size_t in = 0;
    while (in < size) {
        ssize_t k = splice(fd, &o, spl[1], NULL, size - in, SPLICE_F_NONBLOCK);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k < 0 && in == 0)
                return 1; /* pread gives the errno (EBADF for a write-only handle, ...) or
                           * serves what splice does not (EINVAL) */
            break; /* end of file, pipe full (EAGAIN), or an error after some data */
        }
        in += (size_t)k;
    }
    /* The rest after the pipe's share, if the pipe filled before size or end of file. */
    size_t more = 0;
    while (in + more < size) {
        ssize_t k = pread(fd, BODY + more, size - in - more, (off_t)(off + in + more));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        more += (size_t)k;
    }
    uint8_t hdr[PROTO_REC_HDR];
    proto_rec_hdr(hdr, PROTO_FS_READ, tag, in + more);
    if (write_all(hdr, sizeof hdr) < 0)
        return -1;
    while (in) {
        /* Blocking on fd 1 (the host's pace); the pipe holds exactly `in` bytes. */
        ssize_t k = splice(spl[0], NULL, 1, NULL, in, SPLICE_F_MOVE);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = 1, .events = POLLOUT};
            poll(&pfd, 1, -1);
            continue;
        }
        if (k <= 0)
            return -1; /* the stream is out of step: end, as for any write failure */
        in -= (size_t)k;
    }
    return write_all(BODY, more);
}

/* ---- volume list ---- */
static int do_volumes(uint32_t tag)
{
    static guest_fs_vol vols[64];
    size_t n = guest_fs_volumes_scan(vols, 64);
    proto_wr w;
    proto_wr_init(&w, BODY, BODY_CAP);
    proto_wr_u32(&w, (uint32_t)n + 1);
    for (size_t i = 0; i <= n; i++) {
        char path[256];
        const char *name = i < n ? vols[i].name : "root", *fst = i < n ? vols[i].fstype : "root";
        if (i < n)
            snprintf(path, sizeof path, "%s/%.100s", GUEST_FS_VOLDIR, name);
        else
            snprintf(path, sizeof path, "/");
        struct statvfs sv;
        uint64_t size = 0, freeb = 0;
        uint32_t fl = i < n && vols[i].rdonly ? PROTO_FS_INFO_RDONLY : 0;
        if (statvfs(path, &sv) == 0) {
            size = (uint64_t)sv.f_blocks * sv.f_frsize;
            freeb = (uint64_t)sv.f_bavail * sv.f_frsize;
            if (sv.f_flag & ST_RDONLY)
                fl |= PROTO_FS_INFO_RDONLY;
        }
        proto_wr_str(&w, name, strlen(name));
        proto_wr_str(&w, fst, strlen(fst));
        proto_wr_u64(&w, size);
        proto_wr_u64(&w, freeb);
        proto_wr_u32(&w, fl);
    }
    if (w.err)
        return send_err(tag, EOVERFLOW);
    return send_reply(PROTO_FS_VOLUMES, tag, w.len);
}

static int do_info(uint32_t tag)
{
    proto_wr w;
    proto_wr_init(&w, BODY, BODY_CAP);
    proto_wr_u32(&w, PROTO_FS_VERSION);
    proto_wr_u32(&w, PROTO_FS_MAX_IO);
    proto_wr_u32(&w, rdonly ? PROTO_FS_INFO_RDONLY : 0);
    proto_wr_str(&w, volname, strlen(volname));
    proto_wr_str(&w, fstype, strlen(fstype));
    return send_reply(PROTO_FS_INFO, tag, w.len);
}

/* ---- READDIR ---- */
static int do_readdir(uint32_t tag, proto_rd *r)
{
    uint64_t fh = proto_rd_u64(r), off = proto_rd_u64(r);
    uint32_t max = proto_rd_u32(r), plus = proto_rd_u32(r);
    if (!proto_rd_done(r) || plus > 1)
        return send_err(tag, EINVAL);
    DIR *d = guest_fs_handle_dir(fh);
    if (!d)
        return send_err(tag, EBADF);
    if (max > BODY_CAP)
        max = BODY_CAP;
    if (off == 0)
        rewinddir(d);
    else
        seekdir(d, (long)off);
    proto_wr w;
    proto_wr_init(&w, BODY, max);
    proto_wr_u32(&w, 0);
    uint32_t count = 0;
    int dfd = dirfd(d);
    for (;;) {
        long pos = telldir(d);
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno && count == 0)
                return send_err(tag, errno);
            break;
        }
        size_t nl = strlen(de->d_name);
        size_t need = 8 + 4 + 4 + nl + (plus ? 8 + PROTO_FS_ATTR_SIZE : 0);
        if (w.len + need > max) {
            seekdir(d, pos);
            if (count == 0)
                return send_err(tag, EINVAL); /* max too small for one entry */
            break;
        }
        bool dot = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
        proto_fs_entry en = {0};
        if (plus) {
            struct stat st;
            if (dot) {
                if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                    memset(&st, 0, sizeof st);
            } else {
                en.node = guest_fs_node_lookup(dfd, de->d_name, &st);
                if (!en.node)
                    continue; /* vanished since readdir, or table full: skip it */
            }
            to_attr(&st, &en.attr);
        }
        proto_wr_u64(&w, (uint64_t)telldir(d));
        proto_wr_u32(&w, de->d_type);
        proto_wr_str(&w, de->d_name, nl);
        if (plus)
            proto_fs_wr_entry(&w, &en);
        count++;
    }
    BODY[0] = (uint8_t)count;
    BODY[1] = (uint8_t)(count >> 8);
    BODY[2] = (uint8_t)(count >> 16);
    BODY[3] = (uint8_t)(count >> 24);
    return send_reply(PROTO_FS_READDIR, tag, w.len);
}

/* ---- SETATTR ---- */
static int do_setattr(uint32_t tag, proto_rd *r)
{
    uint64_t id = proto_rd_u64(r), fh = proto_rd_u64(r);
    uint32_t valid = proto_rd_u32(r), mode = proto_rd_u32(r), uid = proto_rd_u32(r),
             gid = proto_rd_u32(r);
    uint64_t size = proto_rd_u64(r);
    int64_t as = (int64_t)proto_rd_u64(r);
    uint32_t an = proto_rd_u32(r);
    int64_t ms = (int64_t)proto_rd_u64(r);
    uint32_t mn = proto_rd_u32(r);
    if (!proto_rd_done(r) || an >= 1000000000u || mn >= 1000000000u)
        return send_err(tag, EINVAL);
    mode_t t;
    int fd = guest_fs_node_fd(id, &t);
    if (fd < 0)
        return send_err(tag, ESTALE);
    char pp[64];
    proc_path(pp, sizeof pp, fd);
    if (valid & PROTO_FS_SET_MODE) {
        if (S_ISLNK(t))
            return send_err(tag, EOPNOTSUPP);
        if (chmod(pp, mode & 07777) < 0)
            return send_err(tag, errno);
    }
    if (valid & (PROTO_FS_SET_UID | PROTO_FS_SET_GID)) {
        uid_t u = valid & PROTO_FS_SET_UID ? uid : (uid_t)-1;
        gid_t g = valid & PROTO_FS_SET_GID ? gid : (gid_t)-1;
        if (fchownat(fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
            return send_err(tag, errno);
    }
    if (valid & PROTO_FS_SET_SIZE) {
        int hfd = fh ? guest_fs_handle_fd(fh) : -1;
        if (!S_ISREG(t))
            return send_err(tag, S_ISDIR(t) ? EISDIR : EINVAL);
        if (size > (uint64_t)INT64_MAX)
            return send_err(tag, EFBIG);
        int rc = hfd >= 0 ? ftruncate(hfd, (off_t)size) : truncate(pp, (off_t)size);
        if (rc < 0)
            return send_err(tag, errno);
    }
    if (valid & (PROTO_FS_SET_ATIME | PROTO_FS_SET_MTIME | PROTO_FS_SET_ATIME_NOW |
                 PROTO_FS_SET_MTIME_NOW)) {
        struct timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
        if (valid & PROTO_FS_SET_ATIME_NOW)
            ts[0].tv_nsec = UTIME_NOW;
        else if (valid & PROTO_FS_SET_ATIME)
            ts[0] = (struct timespec){as, an};
        if (valid & PROTO_FS_SET_MTIME_NOW)
            ts[1].tv_nsec = UTIME_NOW;
        else if (valid & PROTO_FS_SET_MTIME)
            ts[1] = (struct timespec){ms, mn};
        if (!S_ISLNK(t) && utimensat(AT_FDCWD, pp, ts, 0) < 0)
            return send_err(tag, errno);
    }
    return reply_attr(PROTO_FS_SETATTR, tag, fd);
}

/* Linux open flags the host may ask for; everything else is dropped. */
#define OPEN_MASK (O_ACCMODE | O_TRUNC | O_APPEND | O_SYNC | O_DSYNC)

static int xattr_reply(uint8_t type, uint32_t tag, ssize_t k, uint32_t size)
{
    if (k < 0)
        return send_err(tag, errno);
    if (size == 0) {
        proto_wr w;
        proto_wr_init(&w, BODY, BODY_CAP);
        proto_wr_u32(&w, (uint32_t)k);
        return send_reply(type, tag, w.len);
    }
    return send_reply(type, tag, (size_t)k);
}

static int handle(const proto_rec *rec)
{
    proto_rd rd, *r = &rd;
    proto_rd_init(r, rec->body, rec->body_len);
    uint32_t tag = rec->tag;
    name_buf nb, nb2;
    int e = 0;
    char pp[64];

    switch (rec->type) {
    case PROTO_FS_INFO:
        return do_info(tag);
    case PROTO_FS_VOLUMES:
        return do_volumes(tag);
    case PROTO_FS_FORGET: {
        uint64_t id = proto_rd_u64(r), count = proto_rd_u64(r);
        if (proto_rd_done(r))
            guest_fs_node_forget(id, count);
        return 0;
    }
    }
    if (rootfd < 0)
        return send_err(tag, ENOSYS); /* the volume list channel */

    switch (rec->type) {
    case PROTO_FS_LOOKUP: {
        uint64_t parent = proto_rd_u64(r);
        if ((e = rd_name(r, &nb)) || !proto_rd_done(r))
            return send_err(tag, e ? e : EINVAL);
        int pfd = dir_fd(parent, &e);
        if (pfd < 0)
            return send_err(tag, e);
        return reply_entry(PROTO_FS_LOOKUP, tag, pfd, nb.s, 0);
    }
    case PROTO_FS_GETATTR: {
        uint64_t id = proto_rd_u64(r);
        if (!proto_rd_done(r))
            return send_err(tag, EINVAL);
        int fd = guest_fs_node_fd(id, NULL);
        if (fd < 0)
            return send_err(tag, ESTALE);
        return reply_attr(PROTO_FS_GETATTR, tag, fd);
    }
    case PROTO_FS_SETATTR:
        return do_setattr(tag, r);
    case PROTO_FS_READLINK: {
        uint64_t id = proto_rd_u64(r);
        if (!proto_rd_done(r))
            return send_err(tag, EINVAL);
        mode_t t;
        int fd = guest_fs_node_fd(id, &t);
        if (fd < 0)
            return send_err(tag, ESTALE);
        if (!S_ISLNK(t))
            return send_err(tag, EINVAL);
        char buf[PROTO_FS_MAX_LINK + 1];
        ssize_t k = readlinkat(fd, "", buf, sizeof buf);
        if (k < 0)
            return send_err(tag, errno);
        if ((size_t)k > PROTO_FS_MAX_LINK || memchr(buf, 0, (size_t)k))
            return send_err(tag, ENAMETOOLONG);
        proto_wr w;
        proto_wr_init(&w, BODY, BODY_CAP);
        proto_wr_str(&w, buf, (size_t)k);
        return send_reply(PROTO_FS_READLINK, tag, w.len);
    }
    case PROTO_FS_MKDIR:
    case PROTO_FS_MKNOD: {
        uint64_t parent = proto_rd_u64(r);
        e = rd_name(r, &nb);
        uint32_t mode = proto_rd_u32(r);
        uint64_t rdev = rec->type == PROTO_FS_MKNOD ? proto_rd_u64(r) : 0;
        uint32_t uid = proto_rd_u32(r), gid = proto_rd_u32(r);
        if (e || !proto_rd_done(r))
            return send_err(tag, e ? e : EINVAL);
        int pfd = dir_fd(parent, &e);
        if (pfd < 0)
            return send_err(tag, e);
        int rc = rec->type == PROTO_FS_MKDIR ? mkdirat(pfd, nb.s, mode & 07777)
                                             : mknodat(pfd, nb.s, mode, (dev_t)rdev);
        if (rc < 0)
            return send_err(tag, errno);
        chown_new(pfd, nb.s, uid, gid);
        return reply_entry(rec->type, tag, pfd, nb.s, 0);
    }
    case PROTO_FS_SYMLINK: {
        uint64_t parent = proto_rd_u64(r);
        e = rd_name(r, &nb);
        const char *t;
        uint32_t tn;
        proto_rd_str(r, &t, &tn);
        uint32_t uid = proto_rd_u32(r), gid = proto_rd_u32(r);
        if (e || !proto_rd_done(r) || tn == 0)
            return send_err(tag, e ? e : EINVAL);
        int pfd = dir_fd(parent, &e);
        if (pfd < 0)
            return send_err(tag, e);
        char target[PROTO_FS_MAX_LINK + 1];
        memcpy(target, t, tn);
        target[tn] = 0;
        if (symlinkat(target, pfd, nb.s) < 0)
            return send_err(tag, errno);
        chown_new(pfd, nb.s, uid, gid);
        return reply_entry(PROTO_FS_SYMLINK, tag, pfd, nb.s, 0);
    }
    case PROTO_FS_LINK: {
        uint64_t id = proto_rd_u64(r), np = proto_rd_u64(r);
        if ((e = rd_name(r, &nb)) || !proto_rd_done(r))
            return send_err(tag, e ? e : EINVAL);
        mode_t t;
        int fd = guest_fs_node_fd(id, &t);
        int pfd = dir_fd(np, &e);
        if (fd < 0 || pfd < 0)
            return send_err(tag, fd < 0 ? ESTALE : e);
        if (S_ISDIR(t))
            return send_err(tag, EPERM);
        if (linkat(fd, "", pfd, nb.s, AT_EMPTY_PATH) < 0) {
            if (errno != ENOENT && errno != EPERM)
                return send_err(tag, errno);
            proc_path(pp, sizeof pp, fd);
            if (linkat(AT_FDCWD, pp, pfd, nb.s, AT_SYMLINK_FOLLOW) < 0)
                return send_err(tag, errno);
        }
        return reply_entry(PROTO_FS_LINK, tag, pfd, nb.s, 0);
    }
    case PROTO_FS_UNLINK:
    case PROTO_FS_RMDIR: {
        uint64_t parent = proto_rd_u64(r);
        if ((e = rd_name(r, &nb)) || !proto_rd_done(r))
            return send_err(tag, e ? e : EINVAL);
        int pfd = dir_fd(parent, &e);
        if (pfd < 0)
            return send_err(tag, e);
        return reply_empty(rec->type, tag,
                           unlinkat(pfd, nb.s, rec->type == PROTO_FS_RMDIR ? AT_REMOVEDIR : 0));
    }
    case PROTO_FS_RENAME: {
        uint64_t p1 = proto_rd_u64(r);
        e = rd_name(r, &nb);
        uint64_t p2 = proto_rd_u64(r);
        int e2 = rd_name(r, &nb2);
        uint32_t fl = proto_rd_u32(r);
        if (e || e2 || !proto_rd_done(r) || (fl & ~3u) || fl == 3)
            return send_err(tag, e ? e : e2 ? e2 : EINVAL);
        int f1 = dir_fd(p1, &e);
        if (f1 < 0)
            return send_err(tag, e);
        int f2 = dir_fd(p2, &e);
        if (f2 < 0)
            return send_err(tag, e);
        /* RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2: the wire uses the Linux values. */
        long rc = syscall(SYS_renameat2, f1, nb.s, f2, nb2.s, (unsigned)fl);
        return reply_empty(PROTO_FS_RENAME, tag, rc < 0 ? -1 : 0);
    }
    case PROTO_FS_OPEN: {
        uint64_t id = proto_rd_u64(r);
        uint32_t fl = proto_rd_u32(r);
        if (!proto_rd_done(r))
            return send_err(tag, EINVAL);
        mode_t t;
        int fd = guest_fs_node_fd(id, &t);
        if (fd < 0)
            return send_err(tag, ESTALE);
        if (S_ISLNK(t))
            return send_err(tag, ELOOP);
        if (S_ISDIR(t) && (fl & O_ACCMODE) != O_RDONLY)
            return send_err(tag, EISDIR);
        proc_path(pp, sizeof pp, fd);
        int nfd = open(pp, (int)(fl & OPEN_MASK) | O_CLOEXEC | O_NOCTTY);
        if (nfd < 0)
            return send_err(tag, errno);
        uint64_t fh = guest_fs_handle_add(nfd, NULL);
        if (!fh)
            return send_err(tag, ENFILE);
        proto_wr w;
        proto_wr_init(&w, BODY, BODY_CAP);
        proto_wr_u64(&w, fh);
        return send_reply(PROTO_FS_OPEN, tag, w.len);
    }
    case PROTO_FS_CREATE: {
        uint64_t parent = proto_rd_u64(r);
        e = rd_name(r, &nb);
        uint32_t fl = proto_rd_u32(r), mode = proto_rd_u32(r), uid = proto_rd_u32(r),
                 gid = proto_rd_u32(r);
        if (e || !proto_rd_done(r))
            return send_err(tag, e ? e : EINVAL);
        int pfd = dir_fd(parent, &e);
        if (pfd < 0)
            return send_err(tag, e);
        int nfd = openat(pfd, nb.s, (int)(fl & (OPEN_MASK | O_EXCL)) | O_CREAT | O_NOFOLLOW |
                                        O_CLOEXEC | O_NOCTTY, mode & 07777);
        if (nfd < 0)
            return send_err(tag, errno);
        if (uid != UINT32_MAX || gid != UINT32_MAX)
            (void)fchown(nfd, uid, gid);
        uint64_t fh = guest_fs_handle_add(nfd, NULL);
        if (!fh)
            return send_err(tag, ENFILE);
        return reply_entry(PROTO_FS_CREATE, tag, pfd, nb.s, fh);
    }
    case PROTO_FS_READ: {
        uint64_t fh = proto_rd_u64(r), off = proto_rd_u64(r);
        uint32_t size = proto_rd_u32(r);
        if (!proto_rd_done(r) || off > (uint64_t)INT64_MAX)
            return send_err(tag, EINVAL);
        int fd = guest_fs_handle_fd(fh);
        if (fd < 0)
            return send_err(tag, EBADF);
        if (size > PROTO_FS_MAX_IO)
            size = PROTO_FS_MAX_IO;
        if (size >= SPLICE_MIN) {
            int rc = read_spliced(tag, fd, off, size);
            if (rc != 1)
                return rc;
        }
        size_t got = 0;
        while (got < size) {
            ssize_t k = pread(fd, BODY + got, size - got, (off_t)(off + got));
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                if (got == 0)
                    return send_err(tag, errno);
                break;
            }
            if (k == 0)
                break;
            got += (size_t)k;
        }
        return send_reply(PROTO_FS_READ, tag, got);
    }
    case PROTO_FS_WRITE: {
        uint64_t fh = proto_rd_u64(r), off = proto_rd_u64(r);
        if (r->err || off > (uint64_t)INT64_MAX)
            return send_err(tag, EINVAL);
        const uint8_t *data = rec->body + r->off;
        size_t n = rec->body_len - r->off;
        if (n > PROTO_FS_MAX_IO)
            return send_err(tag, EINVAL);
        int fd = guest_fs_handle_fd(fh);
        if (fd < 0)
            return send_err(tag, EBADF);
        size_t done = 0;
        while (done < n) {
            ssize_t k = pwrite(fd, data + done, n - done, (off_t)(off + done));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                if (done == 0)
                    return send_err(tag, k < 0 ? errno : EIO);
                break;
            }
            done += (size_t)k;
        }
        proto_wr w;
        proto_wr_init(&w, BODY, BODY_CAP);
        proto_wr_u32(&w, (uint32_t)done);
        return send_reply(PROTO_FS_WRITE, tag, w.len);
    }
    case PROTO_FS_RELEASE:
    case PROTO_FS_RELEASEDIR: {
        uint64_t fh = proto_rd_u64(r);
        if (!proto_rd_done(r))
            return send_err(tag, EINVAL);
        return reply_empty(rec->type, tag, guest_fs_handle_close(fh));
    }
    case PROTO_FS_FSYNC: {
        uint64_t fh = proto_rd_u64(r);
        uint32_t ds = proto_rd_u32(r);
        if (!proto_rd_done(r))
            return send_err(tag, EINVAL);
        int fd = guest_fs_handle_fd(fh);
        if (fd < 0)
            return send_err(tag, EBADF);
        return reply_empty(PROTO_FS_FSYNC, tag, ds ? fdatasync(fd) : fsync(fd));
    }
    case PROTO_FS_OPENDIR: {
        uint64_t id = proto_rd_u64(r);
        if (!proto_rd_done(r))
            return send_err(tag, EINVAL);
        int pfd = dir_fd(id, &e);
        if (pfd < 0)
            return send_err(tag, e);
        int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return send_err(tag, errno);
        DIR *d = fdopendir(fd);
        if (!d) {
            e = errno;
            close(fd);
            return send_err(tag, e);
        }
        uint64_t fh = guest_fs_handle_add(fd, d);
        if (!fh)
            return send_err(tag, ENFILE);
        proto_wr w;
        proto_wr_init(&w, BODY, BODY_CAP);
        proto_wr_u64(&w, fh);
        return send_reply(PROTO_FS_OPENDIR, tag, w.len);
    }
    case PROTO_FS_READDIR:
        return do_readdir(tag, r);
    case PROTO_FS_STATFS: {
        struct statvfs sv;
        if (fstatvfs(rootfd, &sv) < 0)
            return send_err(tag, errno);
        proto_fs_statfs s = {sv.f_blocks, sv.f_bfree, sv.f_bavail, sv.f_files, sv.f_ffree,
                             (uint32_t)sv.f_bsize, (uint32_t)sv.f_frsize, (uint32_t)sv.f_namemax};
        proto_wr w;
        proto_wr_init(&w, BODY, BODY_CAP);
        proto_fs_wr_statfs(&w, &s);
        return send_reply(PROTO_FS_STATFS, tag, w.len);
    }
    case PROTO_FS_GETXATTR:
    case PROTO_FS_SETXATTR:
    case PROTO_FS_LISTXATTR:
    case PROTO_FS_REMOVEXATTR: {
        uint64_t id = proto_rd_u64(r);
        const char *xn = "";
        uint32_t xl = 0, size = 0, fl = 0;
        char xname[256];
        if (rec->type != PROTO_FS_LISTXATTR) {
            proto_rd_str(r, &xn, &xl);
            if (r->err || xl == 0 || xl > 255)
                return send_err(tag, r->err ? EINVAL : ERANGE);
            memcpy(xname, xn, xl);
            xname[xl] = 0;
        }
        if (rec->type == PROTO_FS_GETXATTR || rec->type == PROTO_FS_LISTXATTR)
            size = proto_rd_u32(r);
        if (rec->type == PROTO_FS_SETXATTR)
            fl = proto_rd_u32(r);
        if (r->err || (rec->type != PROTO_FS_SETXATTR && !proto_rd_done(r)))
            return send_err(tag, EINVAL);
        mode_t t;
        int fd = guest_fs_node_fd(id, &t);
        if (fd < 0)
            return send_err(tag, ESTALE);
        if (S_ISLNK(t))
            return send_err(tag, EOPNOTSUPP);
        proc_path(pp, sizeof pp, fd);
        if (size > PROTO_FS_MAX_XATTR)
            size = PROTO_FS_MAX_XATTR;
        if (rec->type == PROTO_FS_GETXATTR)
            return xattr_reply(rec->type, tag, getxattr(pp, xname, size ? BODY : NULL, size), size);
        if (rec->type == PROTO_FS_LISTXATTR)
            return xattr_reply(rec->type, tag, listxattr(pp, size ? (char *)BODY : NULL, size), size);
        if (rec->type == PROTO_FS_REMOVEXATTR)
            return reply_empty(rec->type, tag, removexattr(pp, xname));
        size_t vn = rec->body_len - r->off;
        if (vn > PROTO_FS_MAX_XATTR || (fl & ~3u))
            return send_err(tag, vn > PROTO_FS_MAX_XATTR ? E2BIG : EINVAL);
        return reply_empty(rec->type, tag, setxattr(pp, xname, rec->body + r->off, vn, (int)fl));
    }
    default:
        return send_err(tag, ENOSYS);
    }
}

/* Opens the volume root; "" / "list" leave rootfd -1 (the volume list channel). */
static int open_volume(const char *arg)
{
    if (!*arg || !strcmp(arg, "list")) {
        snprintf(volname, sizeof volname, "list");
        return 0;
    }
    char path[PATH_MAX];
    if (arg[0] == '/') {
        snprintf(path, sizeof path, "%s", arg);
        snprintf(volname, sizeof volname, "local");
        snprintf(fstype, sizeof fstype, "local");
    } else if (!strcmp(arg, "root")) {
        /* REVM_SVC_ROOT: tests run the daemon on a host and serve a directory as "root" */
        const char *r = getenv("REVM_SVC_ROOT");
        snprintf(path, sizeof path, "%s", r && *r ? r : "/");
        snprintf(volname, sizeof volname, "root");
        snprintf(fstype, sizeof fstype, "root");
    } else {
        if (!proto_fs_volume_name_ok(arg, strlen(arg))) {
            fprintf(stderr, "fs: bad volume name: %s\n", arg);
            return -1;
        }
        static guest_fs_vol vols[64];
        size_t n = guest_fs_volumes_scan(vols, 64);
        size_t i = 0;
        while (i < n && strcmp(vols[i].name, arg))
            i++;
        if (i == n) {
            fprintf(stderr, "fs: no such volume: %s\n", arg);
            return -1;
        }
        snprintf(path, sizeof path, "%s/%s", GUEST_FS_VOLDIR, arg);
        snprintf(volname, sizeof volname, "%s", arg);
        snprintf(fstype, sizeof fstype, "%s", vols[i].fstype);
    }
    rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        fprintf(stderr, "fs: cannot open volume %s (%s): %s\n", arg, path, strerror(errno));
        return -1;
    }
    struct statvfs sv;
    rdonly = fstatvfs(rootfd, &sv) == 0 && (sv.f_flag & ST_RDONLY);
    guest_fs_nodes_init(rootfd);
    return 0;
}

int guest_fs_main(const char *arg, uint32_t flags)
{
    (void)flags;
    umask(0); /* the host sends modes with its caller's umask applied */
    /* One descriptor per node and per open handle. */
    struct rlimit rl = {GUEST_FS_MAX_NODES + GUEST_FS_MAX_HANDLES + 64,
                        GUEST_FS_MAX_NODES + GUEST_FS_MAX_HANDLES + 64};
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (open_volume(arg) < 0)
        return 2;
    /* Bigger transport buffers: a 1 MiB WRITE or READ then crosses in one or two wakeups
     * instead of sixteen (64 KiB pipes) or five (the default unix socket buffer). Best effort:
     * fds 0/1 are pipes in a VM (the limit is /proc/sys/fs/pipe-max-size) and one socket when
     * the helper runs locally (its send buffer is what bounds what is in flight towards the
     * host; FORCE needs CAP_NET_ADMIN); whichever call does not apply fails harmlessly. */
    for (int fd = 0; fd <= 1; fd++) {
        int sz = 2 * (int)(PROTO_REC_HDR + PROTO_FS_MAX_RECORD);
        if (fcntl(fd, F_SETPIPE_SZ, sz) < 0)
            fcntl(fd, F_SETPIPE_SZ, (int)PROTO_FS_MAX_IO); /* pipe-max-size's default */
        if (fd == 1 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) < 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    }
    /* Records are read in place into inbuf and served from there: a WRITE's data is copied
     * once (read into inbuf), not twice (into a staging buffer, then reassembled). inbuf
     * holds two halves of IN_HALF, so a record that starts in the first half always fits
     * where it starts; only a partial record beyond that is moved back to IN_BASE (at most
     * one record's bytes per move). Every length is checked before it is used (4 + len <=
     * 4 + PROTO_FS_MAX_RECORD), so a hostile host cannot make it grow or overrun. */
    size_t start = IN_BASE, have = IN_BASE;
    for (;;) {
        while (have - start >= 4) {
            const uint8_t *p = inbuf + start;
            uint32_t len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24;
            if (len < PROTO_REC_MIN || len > PROTO_FS_MAX_RECORD) {
                fprintf(stderr, "fs: record out of bounds from the host; ending\n");
                return 1;
            }
            if (have - start < 4 + (size_t)len)
                break;
            /* A whole record with nothing pending: the codec's no-copy path. */
            proto_rec_stream rs;
            proto_rec_stream_init(&rs, inbuf, PROTO_FS_MAX_RECORD);
            size_t used;
            proto_rec rec;
            if (proto_rec_stream_feed(&rs, p, 4 + (size_t)len, &used, &rec) != PROTO_FRAME)
                return 1;
            start += used;
            if (handle(&rec) < 0)
                return 0; /* the host went away */
        }
        if (start == have) {
            start = have = IN_BASE;
        } else if (start >= IN_HALF) {
            memmove(inbuf + IN_BASE, inbuf + start, have - start);
            have = IN_BASE + have - start;
            start = IN_BASE;
        }
        ssize_t k = read(0, inbuf + have, sizeof inbuf - have);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return 0;
        have += (size_t)k;
    }
}
