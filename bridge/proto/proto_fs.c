/* Filesystem service structures and reply decoders (PROTOCOL.md, Filesystem service).
 * The host decodes every guest reply here, so each decoder checks every bound and demands
 * that the whole body is consumed. */
#include <string.h>

#include "proto.h"

#define NSEC_LIMIT 1000000000u

void proto_fs_wr_attr(proto_wr *w, const proto_fs_attr *a)
{
    proto_wr_u64(w, a->ino);
    proto_wr_u64(w, a->size);
    proto_wr_u64(w, a->blocks);
    proto_wr_u32(w, a->mode);
    proto_wr_u32(w, a->nlink);
    proto_wr_u32(w, a->uid);
    proto_wr_u32(w, a->gid);
    proto_wr_u64(w, a->rdev);
    proto_wr_u32(w, a->blksize);
    proto_wr_u64(w, (uint64_t)a->atime);
    proto_wr_u32(w, a->atime_ns);
    proto_wr_u64(w, (uint64_t)a->mtime);
    proto_wr_u32(w, a->mtime_ns);
    proto_wr_u64(w, (uint64_t)a->ctime);
    proto_wr_u32(w, a->ctime_ns);
}

void proto_fs_wr_entry(proto_wr *w, const proto_fs_entry *e)
{
    proto_wr_u64(w, e->node);
    proto_fs_wr_attr(w, &e->attr);
}

bool proto_fs_rd_attr(proto_rd *r, proto_fs_attr *a)
{
    a->ino = proto_rd_u64(r);
    a->size = proto_rd_u64(r);
    a->blocks = proto_rd_u64(r);
    a->mode = proto_rd_u32(r);
    a->nlink = proto_rd_u32(r);
    a->uid = proto_rd_u32(r);
    a->gid = proto_rd_u32(r);
    a->rdev = proto_rd_u64(r);
    a->blksize = proto_rd_u32(r);
    a->atime = (int64_t)proto_rd_u64(r);
    a->atime_ns = proto_rd_u32(r);
    a->mtime = (int64_t)proto_rd_u64(r);
    a->mtime_ns = proto_rd_u32(r);
    a->ctime = (int64_t)proto_rd_u64(r);
    a->ctime_ns = proto_rd_u32(r);
    if (a->atime_ns >= NSEC_LIMIT || a->mtime_ns >= NSEC_LIMIT || a->ctime_ns >= NSEC_LIMIT)
        r->err = true;
    return !r->err;
}

bool proto_fs_rd_entry(proto_rd *r, proto_fs_entry *e)
{
    e->node = proto_rd_u64(r);
    if (!proto_fs_rd_attr(r, &e->attr))
        return false;
    if (e->node == 0)
        r->err = true;
    return !r->err;
}

bool proto_fs_dec_attr(const uint8_t *p, size_t n, proto_fs_attr *a)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    return proto_fs_rd_attr(&r, a) && proto_rd_done(&r);
}

bool proto_fs_dec_entry(const uint8_t *p, size_t n, proto_fs_entry *e)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    return proto_fs_rd_entry(&r, e) && proto_rd_done(&r);
}

bool proto_fs_dec_u64(const uint8_t *p, size_t n, uint64_t *v)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *v = proto_rd_u64(&r);
    return proto_rd_done(&r);
}

bool proto_fs_dec_u32(const uint8_t *p, size_t n, uint32_t *v)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *v = proto_rd_u32(&r);
    return proto_rd_done(&r);
}

bool proto_fs_dec_create(const uint8_t *p, size_t n, proto_fs_entry *e, uint64_t *fh)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    if (!proto_fs_rd_entry(&r, e))
        return false;
    *fh = proto_rd_u64(&r);
    return proto_rd_done(&r);
}

int proto_fs_name_check(const char *s, size_t n)
{
    if (n == 0 || memchr(s, '/', n) || memchr(s, 0, n))
        return 22; /* EINVAL */
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return 22;
    if (n > PROTO_FS_MAX_NAME)
        return 36; /* ENAMETOOLONG */
    return 0;
}

bool proto_fs_volume_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64 || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool proto_fs_dec_info(const uint8_t *p, size_t n, proto_fs_info *m)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    m->version = proto_rd_u32(&r);
    m->max_io = proto_rd_u32(&r);
    m->flags = proto_rd_u32(&r);
    proto_rd_str(&r, &m->volume.s, &m->volume.n);
    proto_rd_str(&r, &m->fstype.s, &m->fstype.n);
    if (!proto_rd_done(&r))
        return false;
    return m->version >= 1 && m->max_io >= 4096 && m->max_io <= PROTO_FS_MAX_IO &&
           m->volume.n <= 64 && m->fstype.n <= 32;
}

void proto_fs_wr_statfs(proto_wr *w, const proto_fs_statfs *s)
{
    proto_wr_u64(w, s->blocks);
    proto_wr_u64(w, s->bfree);
    proto_wr_u64(w, s->bavail);
    proto_wr_u64(w, s->files);
    proto_wr_u64(w, s->ffree);
    proto_wr_u32(w, s->bsize);
    proto_wr_u32(w, s->frsize);
    proto_wr_u32(w, s->namemax);
}

bool proto_fs_dec_statfs(const uint8_t *p, size_t n, proto_fs_statfs *s)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    s->blocks = proto_rd_u64(&r);
    s->bfree = proto_rd_u64(&r);
    s->bavail = proto_rd_u64(&r);
    s->files = proto_rd_u64(&r);
    s->ffree = proto_rd_u64(&r);
    s->bsize = proto_rd_u32(&r);
    s->frsize = proto_rd_u32(&r);
    s->namemax = proto_rd_u32(&r);
    return proto_rd_done(&r);
}

/* Smallest encoded entries, to reject counts the body cannot hold before walking it. */
#define DIRENT_MIN (8u + 4u + 4u + 1u)
#define DIRENT_PLUS_MIN (DIRENT_MIN + 8u + PROTO_FS_ATTR_SIZE)
#define VOLUME_MIN (4u + 1u + 4u + 8u + 8u + 4u)

bool proto_fs_dir_begin(proto_fs_dirit *it, const uint8_t *p, size_t n, bool plus)
{
    proto_rd_init(&it->r, p, n);
    it->plus = plus;
    it->left = proto_rd_u32(&it->r);
    if (it->r.err)
        return false;
    return (uint64_t)it->left * (plus ? DIRENT_PLUS_MIN : DIRENT_MIN) <= n - 4;
}

int proto_fs_dir_next(proto_fs_dirit *it, proto_fs_dirent *d)
{
    if (it->left == 0)
        return proto_rd_done(&it->r) ? 0 : -1;
    it->left--;
    d->next = proto_rd_u64(&it->r);
    d->dtype = proto_rd_u32(&it->r);
    proto_rd_str(&it->r, &d->name.s, &d->name.n);
    if (it->r.err)
        return -1;
    bool dot = (d->name.n == 1 && d->name.s[0] == '.') ||
               (d->name.n == 2 && d->name.s[0] == '.' && d->name.s[1] == '.');
    if (d->dtype > 15 || (!dot && proto_fs_name_check(d->name.s, d->name.n) != 0))
        return -1;
    memset(&d->entry, 0, sizeof d->entry);
    if (it->plus) {
        d->entry.node = proto_rd_u64(&it->r);
        if (!proto_fs_rd_attr(&it->r, &d->entry.attr))
            return -1;
        if (!dot && d->entry.node == 0)
            return -1;
        if (dot && d->entry.node != 0)
            return -1;
    }
    return 1;
}

bool proto_fs_vol_begin(proto_fs_dirit *it, const uint8_t *p, size_t n)
{
    proto_rd_init(&it->r, p, n);
    it->plus = false;
    it->left = proto_rd_u32(&it->r);
    if (it->r.err)
        return false;
    return (uint64_t)it->left * VOLUME_MIN <= n - 4;
}

int proto_fs_vol_next(proto_fs_dirit *it, proto_fs_volume *v)
{
    if (it->left == 0)
        return proto_rd_done(&it->r) ? 0 : -1;
    it->left--;
    proto_rd_str(&it->r, &v->name.s, &v->name.n);
    proto_rd_str(&it->r, &v->fstype.s, &v->fstype.n);
    v->size = proto_rd_u64(&it->r);
    v->free = proto_rd_u64(&it->r);
    v->flags = proto_rd_u32(&it->r);
    if (it->r.err || !proto_fs_volume_name_ok(v->name.s, v->name.n) || v->fstype.n > 32)
        return -1;
    for (uint32_t i = 0; i < v->fstype.n; i++)
        if ((unsigned char)v->fstype.s[i] < 0x21 || (unsigned char)v->fstype.s[i] > 0x7e)
            return -1;
    return 1;
}
