/* disk.NAME scheme over block channels (dev_scheme.h). */
#include "dev_scheme.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct disk_op {
    dev_blk_req r;
    dev_disk_scheme *owner;
    uint32_t tag;
    uint8_t *user;  /* the caller's buffer (reads: filled on completion unless cancelled) */
    bool cancelled;
    struct disk_op *next;
} disk_op;

typedef struct disk_handle {
    int index;
} disk_handle;

struct dev_disk_scheme {
    dev_scheme_hooks hooks;
    dev_blk *disks[DEV_DISK_SCHEME_MAX];
    disk_handle handles[DEV_DISK_SCHEME_MAX];
    int n;
    disk_op *ops; /* deferred, not yet completed */
};

dev_disk_scheme *dev_disk_scheme_new(const dev_scheme_hooks *hooks)
{
    dev_disk_scheme *d = calloc(1, sizeof *d);
    if (d)
        d->hooks = *hooks;
    return d;
}

int dev_disk_scheme_add(dev_disk_scheme *d, dev_blk *blk)
{
    if (d->n >= DEV_DISK_SCHEME_MAX)
        return -1;
    d->handles[d->n].index = d->n;
    d->disks[d->n] = blk;
    return d->n++;
}

void dev_disk_scheme_free(dev_disk_scheme *d)
{
    if (!d)
        return;
    /* Engines still holding requests would call back into freed memory: mark them. */
    for (disk_op *o = d->ops; o; o = o->next)
        o->owner = NULL, o->cancelled = true;
    free(d);
}

static void unlink_op(dev_disk_scheme *d, disk_op *o)
{
    for (disk_op **pp = &d->ops; *pp; pp = &(*pp)->next)
        if (*pp == o) {
            *pp = o->next;
            return;
        }
}

static void op_done(dev_blk_req *r, uint32_t error)
{
    disk_op *o = r->ctx;
    dev_disk_scheme *d = o->owner;
    if (d)
        unlink_op(d, o);
    if (d && !o->cancelled) {
        if (!error && o->r.op == PROTO_BLK_READ)
            memcpy(o->user, o->r.buf, o->r.length);
        int64_t res = error ? -(int64_t)error : (int64_t)o->r.length;
        d->hooks.complete(d->hooks.ctx, o->tag, res);
    }
    free(o->r.buf);
    free(o);
}

static disk_handle *handle_of(dev_disk_scheme *d, void *h)
{
    for (int i = 0; i < d->n; i++)
        if (h == &d->handles[i])
            return &d->handles[i];
    return NULL;
}

static int disk_openat(void *svc, const scheme_open_req *req, const scheme_caller *c,
                       void **out, uint8_t *fd_flags)
{
    (void)c;
    dev_disk_scheme *d = svc;
    if (req->path_len == 0) {
        *out = NULL;
        *fd_flags = 0;
        return 0;
    }
    char *end;
    unsigned long i = strtoul(req->path, &end, 10);
    if (*end || req->path[0] < '0' || req->path[0] > '9' || (req->path[0] == '0' && req->path[1]) ||
        i >= (unsigned long)d->n)
        return -ENOENT;
    if (!dev_blk_info(d->disks[i]))
        return -EIO;
    *out = &d->handles[i];
    *fd_flags = SCHEME_FD_POSITIONED;
    return 0;
}

static int disk_getdents(void *svc, void *h, uint64_t opaque, scheme_dirent_sink *sink,
                         const scheme_caller *c)
{
    (void)c;
    dev_disk_scheme *d = svc;
    if (h)
        return -ENOTDIR;
    for (uint64_t i = opaque; i < (uint64_t)d->n; i++) {
        char name[16];
        int k = snprintf(name, sizeof name, "%u", (unsigned)i);
        int r = scheme_dirent_add(sink, i + 1, i + 1, SCHEME_DT_BLK, name, (size_t)k);
        if (r == 1)
            break;
        if (r < 0)
            return r;
    }
    return 0;
}

/* Reads and writes: clamp to the device, copy through our own buffer, answer later. */
static int64_t disk_io(dev_disk_scheme *d, void *h, uint8_t op, void *buf, size_t len,
                       uint64_t off, const scheme_caller *c)
{
    disk_handle *dh = handle_of(d, h);
    if (!dh)
        return -EISDIR;
    dev_blk *blk = d->disks[dh->index];
    const proto_blk_info *in = dev_blk_info(blk);
    if (off >= in->size || len == 0)
        return 0; /* end of the disk */
    if (len > in->size - off)
        len = (size_t)(in->size - off);
    if (len > DEV_BLK_MAX_REQ)
        len = DEV_BLK_MAX_REQ;
    if (op == PROTO_BLK_WRITE && (in->flags & PROTO_BLK_RO))
        return -EROFS;
    disk_op *o = calloc(1, sizeof *o);
    uint8_t *bounce = malloc(len);
    if (!o || !bounce) {
        free(o), free(bounce);
        return -ENOMEM;
    }
    if (op == PROTO_BLK_WRITE)
        memcpy(bounce, buf, len);
    o->owner = d;
    o->tag = c->tag;
    o->user = buf;
    o->r = (dev_blk_req){.op = op, .offset = off, .length = (uint32_t)len, .buf = bounce,
                         .flags = op == PROTO_BLK_WRITE ? PROTO_BLK_WRITE_FUA : 0,
                         .done = op_done, .ctx = o};
    o->next = d->ops;
    d->ops = o;
    dev_blk_submit(blk, &o->r);
    return SCHEME_PENDING;
}

static int64_t disk_read(void *svc, void *h, void *buf, size_t len, uint64_t off, uint32_t flags,
                         const scheme_caller *c)
{
    (void)flags;
    return disk_io(svc, h, PROTO_BLK_READ, buf, len, off, c);
}

static int64_t disk_write(void *svc, void *h, const void *buf, size_t len, uint64_t off,
                          uint32_t flags, const scheme_caller *c)
{
    (void)flags;
    return disk_io(svc, h, PROTO_BLK_WRITE, (void *)buf, len, off, c);
}

static int64_t disk_fsize(void *svc, void *h, const scheme_caller *c)
{
    (void)c;
    dev_disk_scheme *d = svc;
    disk_handle *dh = handle_of(d, h);
    return dh ? (int64_t)dev_blk_info(d->disks[dh->index])->size : 0;
}

static int disk_fstat(void *svc, void *h, scheme_stat *st, const scheme_caller *c)
{
    (void)c;
    dev_disk_scheme *d = svc;
    memset(st, 0, sizeof *st);
    disk_handle *dh = handle_of(d, h);
    if (!dh) {
        st->mode = SCHEME_MODE_DIR | 0700;
        return 0;
    }
    const proto_blk_info *in = dev_blk_info(d->disks[dh->index]);
    st->mode = SCHEME_MODE_BLK | ((in->flags & PROTO_BLK_RO) ? 0400 : 0600);
    st->size = in->size;
    st->blksize = in->sector;
    st->blocks = in->size / 512;
    st->nlink = 1;
    st->ino = (uint64_t)dh->index + 1;
    return 0;
}

/* Writes are FUA (durable when answered), as Redox's disk drivers write through: fsync has
 * nothing left to do, and the layer has no deferred fsync to wait on a FLUSH with. */
static int disk_fsync(void *svc, void *h, const scheme_caller *c)
{
    (void)svc, (void)h, (void)c;
    return 0;
}

static void disk_cancel(void *svc, uint32_t tag)
{
    dev_disk_scheme *d = svc;
    for (disk_op *o = d->ops; o; o = o->next)
        if (o->tag == tag && !o->cancelled)
            o->cancelled = true; /* the engine finishes it; the caller's buffer is not touched */
}

const scheme_ops dev_disk_scheme_ops = {
    .openat = disk_openat,
    .getdents = disk_getdents,
    .read = disk_read,
    .write = disk_write,
    .fsize = disk_fsize,
    .fstat = disk_fstat,
    .fsync = disk_fsync,
    .cancel = disk_cancel,
};
