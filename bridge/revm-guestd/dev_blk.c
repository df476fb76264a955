/* A block device served over the device service (PROTOCOL.md, Device service: block channel).
 * The main thread reads one request at a time into a free slot and hands it to a worker, so
 * up to GUEST_DEV_QUEUE requests run concurrently; with every slot busy it stops reading,
 * which is the back-pressure (the channel's credit runs out on the host side). Aligned I/O goes
 * through an O_DIRECT descriptor, the rest through a buffered one (Linux keeps them coherent);
 * FLUSH and FUA writes fsync both. */
#include "dev.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"

#define GUEST_DEV_QUEUE 16
#define GUEST_DEV_HEAD 16
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_KEEP_SIZE 0x01
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef BLKDISCARD
#define BLKDISCARD _IO(0x12, 119)
#endif

typedef struct blk_slot {
    struct blk_slot *next;
    uint8_t type;
    uint32_t tag;
    uint8_t head[GUEST_DEV_HEAD];
    size_t head_len;
    uint8_t *data;   /* 4096-aligned, PROTO_DEV_MAX_RECORD bytes */
    size_t data_len;
} blk_slot;

typedef struct blk_dev {
    int fd_direct, fd_buf;
    bool is_file;
    proto_blk_info info;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    blk_slot *free_slots, *work_head, *work_tail;
    bool done;
    unsigned busy;
} blk_dev;

static void blk_reply(blk_slot *s, uint32_t err, const void *data, size_t n)
{
    uint8_t e[4] = {(uint8_t)err, (uint8_t)(err >> 8), (uint8_t)(err >> 16), (uint8_t)(err >> 24)};
    guest_dev_send(PROTO_BLK_DONE, s->tag, e, 4, err ? NULL : data, err ? 0 : n);
}

static bool aligned(const blk_dev *d, uint64_t off, size_t n)
{
    return d->fd_direct >= 0 && off % d->info.sector == 0 && n % d->info.sector == 0;
}

static int do_pread(int fd, uint8_t *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno;
        if (r == 0) { /* a file shorter than its advertised size reads as zeros */
            memset(buf + got, 0, n - got);
            break;
        }
        got += (size_t)r;
    }
    return 0;
}

static int do_pwrite(int fd, const uint8_t *buf, size_t n, uint64_t off)
{
    size_t put = 0;
    while (put < n) {
        ssize_t w = pwrite(fd, buf + put, n - put, (off_t)(off + put));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        put += (size_t)w;
    }
    return 0;
}

static int do_flush(blk_dev *d)
{
    if (fsync(d->fd_buf) < 0)
        return errno;
    if (d->fd_direct >= 0 && fsync(d->fd_direct) < 0)
        return errno;
    return 0;
}

static int do_trim(blk_dev *d, uint64_t off, uint32_t len)
{
    if (d->is_file)
        return fallocate(d->fd_buf, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, len) < 0
                   ? errno : 0;
    uint64_t range[2] = {off, len};
    return ioctl(d->fd_buf, BLKDISCARD, range) < 0 ? errno : 0;
}

static void blk_execute(blk_dev *d, blk_slot *s)
{
    const proto_blk_info *in = &d->info;
    uint64_t off;
    uint32_t len, wflags;
    int err = 0;
    switch (s->type) {
    case PROTO_BLK_READ:
        if (!proto_dec_blk_range(s->head, s->head_len, &off, &len) ||
            !proto_blk_range_ok(off, len, in->size, in->max_io)) {
            blk_reply(s, EINVAL, NULL, 0);
            return;
        }
        err = do_pread(aligned(d, off, len) ? d->fd_direct : d->fd_buf, s->data, len, off);
        blk_reply(s, (uint32_t)err, s->data, len);
        return;
    case PROTO_BLK_WRITE:
        if (s->head_len != PROTO_BLK_REQ_HDR) {
            blk_reply(s, EINVAL, NULL, 0);
            return;
        }
        {
            const uint8_t *unused;
            size_t ul;
            if (!proto_dec_blk_write(s->head, s->head_len, &off, &wflags, &unused, &ul) ||
                !proto_blk_range_ok(off, s->data_len, in->size, in->max_io)) {
                blk_reply(s, EINVAL, NULL, 0);
                return;
            }
        }
        if (in->flags & PROTO_BLK_RO) {
            blk_reply(s, EPERM, NULL, 0);
            return;
        }
        err = do_pwrite(aligned(d, off, s->data_len) ? d->fd_direct : d->fd_buf, s->data,
                        s->data_len, off);
        if (!err && (wflags & PROTO_BLK_WRITE_FUA))
            err = do_flush(d);
        blk_reply(s, (uint32_t)err, NULL, 0);
        return;
    case PROTO_BLK_FLUSH:
        blk_reply(s, (uint32_t)(s->head_len ? EINVAL : do_flush(d)), NULL, 0);
        return;
    case PROTO_BLK_TRIM:
        if (!proto_dec_blk_range(s->head, s->head_len, &off, &len) ||
            !proto_blk_range_ok(off, len, in->size, in->max_io)) {
            blk_reply(s, EINVAL, NULL, 0);
            return;
        }
        if (!(in->flags & PROTO_BLK_CAN_TRIM) || (in->flags & PROTO_BLK_RO)) {
            blk_reply(s, (in->flags & PROTO_BLK_RO) ? EPERM : EOPNOTSUPP, NULL, 0);
            return;
        }
        blk_reply(s, (uint32_t)do_trim(d, off, len), NULL, 0);
        return;
    default:
        blk_reply(s, EOPNOTSUPP, NULL, 0);
        return;
    }
}

static void *blk_worker(void *arg)
{
    blk_dev *d = arg;
    pthread_mutex_lock(&d->lock);
    for (;;) {
        while (!d->work_head && !d->done)
            pthread_cond_wait(&d->cond, &d->lock);
        if (!d->work_head)
            break;
        blk_slot *s = d->work_head;
        d->work_head = s->next;
        if (!d->work_head)
            d->work_tail = NULL;
        pthread_mutex_unlock(&d->lock);
        blk_execute(d, s);
        pthread_mutex_lock(&d->lock);
        s->next = d->free_slots;
        d->free_slots = s;
        d->busy--;
        pthread_cond_broadcast(&d->cond);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* Reads the next request into a slot. 1, 0 at end of input, -1 on a protocol fault. */
static int blk_read_request(blk_slot *s)
{
    uint8_t h[PROTO_REC_HDR];
    int r = guest_dev_read_full(0, h, sizeof h);
    if (r <= 0)
        return r;
    uint32_t len = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    if (len < PROTO_REC_MIN || len > PROTO_DEV_MAX_RECORD) {
        guest_dev_log("record length %u out of bounds: ending the channel", len);
        return -1;
    }
    s->type = h[4];
    s->tag = (uint32_t)h[5] | (uint32_t)h[6] << 8 | (uint32_t)h[7] << 16 | (uint32_t)h[8] << 24;
    size_t body = len - PROTO_REC_MIN;
    s->head_len = s->data_len = 0;
    if (s->type == PROTO_BLK_WRITE && body >= PROTO_BLK_REQ_HDR) {
        s->head_len = PROTO_BLK_REQ_HDR;
        s->data_len = body - PROTO_BLK_REQ_HDR;
    } else if (body <= GUEST_DEV_HEAD) {
        s->head_len = body;
    } else {
        s->data_len = body; /* not a request we know: read, then refuse */
        s->type = 0;
    }
    if (s->head_len && guest_dev_read_full(0, s->head, s->head_len) != 1)
        return -1;
    if (s->data_len && guest_dev_read_full(0, s->data, s->data_len) != 1)
        return -1;
    return 1;
}

static int blk_open(blk_dev *d, const char *path, uint32_t flags)
{
    bool ro = flags & PROTO_DEV_OPEN_RO;
    int mode = ro ? O_RDONLY : O_RDWR;
    d->fd_buf = open(path, mode | O_CLOEXEC);
    if (d->fd_buf < 0 && errno == EROFS && !ro) {
        ro = true;
        mode = O_RDONLY;
        d->fd_buf = open(path, mode | O_CLOEXEC);
    }
    if (d->fd_buf < 0) {
        guest_dev_log("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(d->fd_buf, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
        guest_dev_log("%s is not a block device or a file", path);
        return -1;
    }
    d->is_file = S_ISREG(st.st_mode);
    d->fd_direct = open(path, mode | O_DIRECT | O_CLOEXEC); /* -1 on tmpfs: buffered only */
    uint64_t size = (uint64_t)st.st_size;
    int sector = 512;
    if (!d->is_file) {
        if (ioctl(d->fd_buf, BLKGETSIZE64, &size) < 0 || ioctl(d->fd_buf, BLKSSZGET, &sector) < 0) {
            guest_dev_log("cannot read the size of %s: %s", path, strerror(errno));
            return -1;
        }
    }
    if (sector < 512 || sector > 65536 || (sector & (sector - 1)))
        sector = 512;
    d->info.sector = (uint32_t)sector;
    d->info.size = size - size % (uint64_t)sector;
    /* 1 MiB pieces: measured against 256 KiB, the same through a VM's bridge (~37 MB/s under
     * TCG either way) and clearly faster without one (fewer records per byte). */
    d->info.max_io = PROTO_DEV_MAX_IO;
    d->info.queue = GUEST_DEV_QUEUE;
    d->info.flags = PROTO_BLK_CAN_FLUSH | (ro ? PROTO_BLK_RO : 0);
    if (d->is_file) {
        d->info.flags |= PROTO_BLK_CAN_TRIM;
    } else {
        char p[512], v[64];
        const char *base = strrchr(path, '/');
        snprintf(p, sizeof p, "%s/block/%s/queue/discard_max_bytes", guest_dev_sysfs(),
                 base ? base + 1 : path);
        if (guest_dev_read_line(p, v, sizeof v) && strtoull(v, NULL, 10) > 0)
            d->info.flags |= PROTO_BLK_CAN_TRIM;
    }
    return 0;
}

int guest_dev_block(const char *path, const char *name, uint32_t flags)
{
    static blk_dev d = {.fd_direct = -1, .fd_buf = -1};
    if (blk_open(&d, path, flags) < 0)
        return 2;
    pthread_mutex_init(&d.lock, NULL);
    pthread_cond_init(&d.cond, NULL);
    static blk_slot slots[GUEST_DEV_QUEUE];
    for (int i = 0; i < GUEST_DEV_QUEUE; i++) {
        if (posix_memalign((void **)&slots[i].data, 4096, PROTO_DEV_MAX_RECORD) != 0) {
            guest_dev_log("out of memory for I/O buffers");
            return 2;
        }
        slots[i].next = d.free_slots;
        d.free_slots = &slots[i];
    }
    uint8_t body[64];
    size_t n = proto_enc_blk_info(body, sizeof body, &d.info);
    if (guest_dev_send(PROTO_BLK_INFO, 0, body, n, NULL, 0) < 0)
        return 0;
    guest_dev_log("serving %s: %llu bytes, sector %u%s%s", name, (unsigned long long)d.info.size,
                  d.info.sector, d.fd_direct >= 0 ? ", O_DIRECT" : "",
                  (d.info.flags & PROTO_BLK_RO) ? ", read-only" : "");
    pthread_t th[GUEST_DEV_QUEUE];
    int nth = 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int i = 0; i < GUEST_DEV_QUEUE; i++)
        if (pthread_create(&th[nth], &attr, blk_worker, &d) == 0)
            nth++;
    if (nth == 0) {
        guest_dev_log("cannot start I/O threads");
        return 2;
    }
    int rc = 0;
    for (;;) {
        pthread_mutex_lock(&d.lock);
        while (!d.free_slots)
            pthread_cond_wait(&d.cond, &d.lock);
        blk_slot *s = d.free_slots;
        d.free_slots = s->next;
        pthread_mutex_unlock(&d.lock);
        int r = blk_read_request(s);
        pthread_mutex_lock(&d.lock);
        if (r <= 0) {
            s->next = d.free_slots;
            d.free_slots = s;
            d.done = true;
            pthread_cond_broadcast(&d.cond);
            pthread_mutex_unlock(&d.lock);
            rc = r < 0 ? 1 : 0;
            break;
        }
        s->next = NULL;
        if (d.work_tail)
            d.work_tail->next = s;
        else
            d.work_head = s;
        d.work_tail = s;
        d.busy++;
        pthread_cond_signal(&d.cond);
        pthread_mutex_unlock(&d.lock);
    }
    for (int i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    return rc;
}
