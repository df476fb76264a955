/* Filesystem service client (fsc.h): request pipelining over one socket, replies matched by
 * tag by a reader thread, each reply checked before the caller sees it. */
#include "fsc.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 64

typedef struct slot {
    bool busy, done;
    bool in_read;   /* the reader is in a read() into buf (deliver_direct) */
    bool abandoned; /* the caller gave up waiting: buf is no longer the reader's to fill */
    uint32_t tag;
    uint8_t type;       /* reply type */
    int err;            /* local failure (EIO, ENOTCONN) */
    void *buf;          /* caller's reply buffer */
    size_t cap, len;
    pthread_cond_t cv;
} slot;

struct fsc {
    int fd;
    unsigned timeout_ms;
    pthread_t reader;
    bool reader_started;
    pthread_mutex_t mu;      /* slots, tags, dead, faults */
    pthread_mutex_t wmu;     /* one record written at a time */
    pthread_cond_t free_cv;  /* a slot became free */
    slot slots[SLOTS];
    uint32_t next_tag;
    bool dead;
    unsigned faults;
    char last_fault[160];
    fsc_info info;
    uint8_t *rbuf;
};

static void fault(fsc *c, const char *fmt, ...)
{
    /* caller holds c->mu */
    c->faults++;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->last_fault, sizeof c->last_fault, fmt, ap);
    va_end(ap);
}

/* The reader's buffer: two maximal records, so a record that starts in the first half always
 * fits where it starts (the same in-place scheme as the guest helper's). */
#define RBUF_CAP (2 * (4 + (size_t)PROTO_FS_MAX_RECORD))
/* Reads into that buffer are at most this big, and a reply body above DIRECT_MIN that is not
 * all there yet is read straight into its caller's buffer: a 1 MiB READ reply is copied once
 * out of the socket instead of three times (staging buffer, reassembly, caller). */
#define READ_CHUNK (64u * 1024u)
#define DIRECT_MIN (16u * 1024u)

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The waiting slot of a reply's tag, or NULL; caller holds c->mu. */
static slot *slot_of(fsc *c, uint32_t tag)
{
    for (int i = 0; i < SLOTS && tag; i++)
        if (c->slots[i].busy && !c->slots[i].done && c->slots[i].tag == tag)
            return &c->slots[i];
    return NULL;
}

/* One whole reply record: copied to its caller. */
static void deliver(fsc *c, const proto_rec *rec)
{
    pthread_mutex_lock(&c->mu);
    slot *s = slot_of(c, rec->tag);
    if (!s) {
        fault(c, "reply with unknown tag %u (type 0x%02x) dropped", rec->tag, rec->type);
    } else {
        s->type = rec->type;
        if (rec->body_len > s->cap) {
            fault(c, "reply of %zu bytes to a request that allows %zu", rec->body_len, s->cap);
            s->err = EIO;
        } else {
            memcpy(s->buf, rec->body, rec->body_len);
            s->len = rec->body_len;
        }
        s->done = true;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

/* Reads the rest of a reply whose header (hdr, 9 bytes) and first ngot body bytes (got) are
 * in hand, straight into its caller's buffer. The caller's buffer is written only inside a
 * read() that cannot block (poll said the socket is readable, and only this thread reads
 * it), marked by in_read: a caller that times out sets abandoned and waits out that one
 * read(), then takes its buffer back, and the rest of the record is read into scratch and
 * dropped. So a guest that stops mid-record still fails its caller after the timeout. The
 * slot is rechecked by tag before every read: a freed slot may serve a new request.
 * -1: the service ended. */
static int deliver_direct(fsc *c, const uint8_t *hdr, const uint8_t *got, size_t ngot,
                          uint8_t *scratch)
{
    uint8_t type = hdr[4];
    uint32_t tag = le32(hdr + 5);
    size_t body_len = le32(hdr) - PROTO_REC_MIN;
    pthread_mutex_lock(&c->mu);
    slot *s = slot_of(c, tag);
    if (!s) {
        fault(c, "reply with unknown tag %u (type 0x%02x) dropped", tag, type);
    } else if (body_len > s->cap) {
        fault(c, "reply of %zu bytes to a request that allows %zu", body_len, s->cap);
        s->type = type;
        s->err = EIO;
        s->done = true;
        pthread_cond_signal(&s->cv);
        s = NULL;
    } else {
        memcpy(s->buf, got, ngot);
    }
    pthread_mutex_unlock(&c->mu);
    size_t off = ngot;
    while (off < body_len) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, -1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return -1;
        pthread_mutex_lock(&c->mu);
        if (s && (!s->busy || s->done || s->tag != tag || s->abandoned))
            s = NULL;
        if (s)
            s->in_read = true;
        pthread_mutex_unlock(&c->mu);
        size_t want = body_len - off;
        if (!s && want > READ_CHUNK)
            want = READ_CHUNK;
        ssize_t k = read(c->fd, s ? (uint8_t *)s->buf + off : scratch, want);
        if (s) {
            pthread_mutex_lock(&c->mu);
            s->in_read = false;
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&c->mu);
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        off += (size_t)k;
    }
    pthread_mutex_lock(&c->mu);
    if (s && s->busy && !s->done && s->tag == tag && !s->abandoned) {
        s->type = type;
        s->len = body_len;
        s->done = true;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void *reader_main(void *arg)
{
    fsc *c = arg;
    uint8_t *b = c->rbuf, *scratch = malloc(READ_CHUNK);
    size_t start = 0, have = 0;
    while (scratch) {
        bool bad = false;
        while (have - start >= 4) {
            uint32_t len = le32(b + start);
            if (len < PROTO_REC_MIN || len > PROTO_FS_MAX_RECORD) {
                bad = true;
                break;
            }
            size_t avail = have - start;
            if (avail < 4 + (size_t)len) {
                if (avail < PROTO_REC_HDR || len - PROTO_REC_MIN <= DIRECT_MIN)
                    break;
                /* Incomplete, so everything buffered from start on is this record's. */
                if (deliver_direct(c, b + start, b + start + PROTO_REC_HDR,
                                   avail - PROTO_REC_HDR, scratch) < 0)
                    goto end;
                start = have = 0;
                continue;
            }
            /* A whole record: the codec's no-copy path (nothing pending in rs). */
            proto_rec_stream rs;
            proto_rec_stream_init(&rs, b, PROTO_FS_MAX_RECORD);
            size_t used;
            proto_rec rec;
            if (proto_rec_stream_feed(&rs, b + start, 4 + (size_t)len, &used, &rec) != PROTO_FRAME) {
                bad = true;
                break;
            }
            start += used;
            deliver(c, &rec);
        }
        if (bad) {
            pthread_mutex_lock(&c->mu);
            fault(c, "record length out of bounds from the guest; service closed");
            pthread_mutex_unlock(&c->mu);
            break;
        }
        if (start == have) {
            start = have = 0;
        } else if (start >= RBUF_CAP / 2) {
            memmove(b, b + start, have - start);
            have -= start;
            start = 0;
        }
        size_t want = RBUF_CAP - have < READ_CHUNK ? RBUF_CAP - have : READ_CHUNK;
        ssize_t k = read(c->fd, b + have, want);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        have += (size_t)k;
    }
end:
    free(scratch);
    pthread_mutex_lock(&c->mu);
    c->dead = true;
    for (int i = 0; i < SLOTS; i++)
        if (c->slots[i].busy && !c->slots[i].done) {
            c->slots[i].err = ENOTCONN;
            c->slots[i].done = true;
            pthread_cond_signal(&c->slots[i].cv);
        }
    pthread_cond_broadcast(&c->free_cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* The record's data either from memory (data) or written by fill (fsc_write_from). */
typedef struct data_src {
    const void *mem;
    fsc_fill_fn fill;
    void *ctx;
} data_src;

static int write_rec_src(fsc *c, uint8_t type, uint32_t tag, const void *body, size_t blen,
                         const data_src *src, size_t dlen)
{
    const void *data = src->fill ? NULL : src->mem;
    uint8_t hdr[PROTO_REC_HDR];
    proto_rec_hdr(hdr, type, tag, blen + dlen);
    struct iovec iov[3] = {{hdr, sizeof hdr}, {(void *)body, blen}, {(void *)data, dlen}};
    int n = src->fill ? 2 : 3, i = 0;
    pthread_mutex_lock(&c->wmu);
    int rc = 0;
    while (i < n) {
        ssize_t k = writev(c->fd, iov + i, n - i);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            rc = ENOTCONN;
            break;
        }
        while (i < n && (size_t)k >= iov[i].iov_len)
            k -= (ssize_t)iov[i++].iov_len;
        if (i < n) {
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + k;
            iov[i].iov_len -= (size_t)k;
        }
    }
    if (rc == 0 && src->fill && src->fill(src->ctx, c->fd, dlen) < 0) {
        /* The header promised dlen bytes: a stream that cannot deliver them is ended, not
         * left out of step with the guest. */
        shutdown(c->fd, SHUT_RDWR);
        rc = ENOTCONN;
    }
    pthread_mutex_unlock(&c->wmu);
    return rc;
}

static int write_rec(fsc *c, uint8_t type, uint32_t tag, const void *body, size_t blen,
                     const void *data, size_t dlen)
{
    data_src src = {data, NULL, NULL};
    return write_rec_src(c, type, tag, body, blen, &src, dlen);
}

static int call_src(fsc *c, uint8_t type, const void *body, size_t blen, const data_src *src,
                    size_t dlen, void *reply, size_t cap, size_t *rlen)
{
    if (blen + dlen > PROTO_FS_MAX_RECORD - PROTO_REC_MIN)
        return EMSGSIZE;
    pthread_mutex_lock(&c->mu);
    slot *s = NULL;
    for (;;) {
        if (c->dead) {
            pthread_mutex_unlock(&c->mu);
            return ENOTCONN;
        }
        for (int i = 0; i < SLOTS && !s; i++)
            if (!c->slots[i].busy)
                s = &c->slots[i];
        if (s)
            break;
        pthread_cond_wait(&c->free_cv, &c->mu);
    }
    if (++c->next_tag == 0)
        c->next_tag = 1;
    s->busy = true;
    s->done = false;
    s->abandoned = false;
    s->tag = c->next_tag;
    s->err = 0;
    s->buf = reply;
    s->cap = cap;
    s->len = 0;
    uint32_t tag = s->tag;
    pthread_mutex_unlock(&c->mu);

    int rc = write_rec_src(c, type, tag, body, blen, src, dlen);

    pthread_mutex_lock(&c->mu);
    if (rc == 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += c->timeout_ms / 1000;
        until.tv_nsec += (long)(c->timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!s->done) {
            if (c->timeout_ms == 0) {
                pthread_cond_wait(&s->cv, &c->mu);
            } else if (pthread_cond_timedwait(&s->cv, &c->mu, &until) == ETIMEDOUT && !s->done) {
                fault(c, "no reply to request type 0x%02x within %u ms", type, c->timeout_ms);
                s->err = ETIMEDOUT;
                /* The reader may be in a (non-blocking) read() into our buffer: wait that
                 * out before the buffer goes back to our caller. */
                s->abandoned = true;
                while (s->in_read)
                    pthread_cond_wait(&s->cv, &c->mu);
                break;
            }
        }
        rc = s->err;
    }
    if (rc == 0 && s->type == PROTO_FS_ERR) {
        uint32_t e;
        if (!proto_fs_dec_u32(reply, s->len, &e) || e == 0 || e > 4095) {
            fault(c, "malformed ERR reply to type 0x%02x", type);
            rc = EIO;
        } else {
            rc = (int)e;
        }
    } else if (rc == 0 && s->type != type) {
        fault(c, "reply type 0x%02x to a request of type 0x%02x", s->type, type);
        rc = EIO;
    }
    if (rlen)
        *rlen = s->len;
    s->busy = false;
    s->done = false;
    pthread_cond_signal(&c->free_cv);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int fsc_call(fsc *c, uint8_t type, const void *body, size_t blen, const void *data, size_t dlen,
             void *reply, size_t cap, size_t *rlen)
{
    data_src src = {data, NULL, NULL};
    return call_src(c, type, body, blen, &src, dlen, reply, cap, rlen);
}

/* Marks a reply that decoded badly. */
static int bad(fsc *c, uint8_t type)
{
    pthread_mutex_lock(&c->mu);
    fault(c, "malformed reply body for request type 0x%02x", type);
    pthread_mutex_unlock(&c->mu);
    return EIO;
}

fsc *fsc_new(int fd, bool list, unsigned timeout_ms, char *err, size_t errlen)
{
    fsc *c = calloc(1, sizeof *c);
    if (!c || !(c->rbuf = malloc(RBUF_CAP))) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->fd = fd;
    c->timeout_ms = timeout_ms;
    /* A 1 MiB WRITE leaves in one writev instead of five wakeups of the default unix socket
     * buffer. Best effort: FORCE needs CAP_NET_ADMIN, the plain call is capped by
     * net.core.wmem_max, and on a non-socket both fail harmlessly. */
    int sz = 2 * (int)(PROTO_REC_HDR + PROTO_FS_MAX_RECORD);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->wmu, NULL);
    pthread_cond_init(&c->free_cv, NULL);
    for (int i = 0; i < SLOTS; i++)
        pthread_cond_init(&c->slots[i].cv, NULL);
    if (pthread_create(&c->reader, NULL, reader_main, c) != 0) {
        snprintf(err, errlen, "cannot start the reader thread");
        fsc_free(c);
        return NULL;
    }
    c->reader_started = true;
    uint8_t rep[512];
    size_t n;
    /* The first answer may wait for the helper to start (a busy VM): at least 30 s. */
    if (timeout_ms && timeout_ms < 30000)
        c->timeout_ms = 30000;
    int rc = fsc_call(c, PROTO_FS_INFO, NULL, 0, NULL, 0, rep, sizeof rep, &n);
    c->timeout_ms = timeout_ms;
    proto_fs_info in;
    if (rc == 0 && !proto_fs_dec_info(rep, n, &in))
        rc = -1;
    if (rc) {
        if (rc == ENOTCONN)
            snprintf(err, errlen, "the filesystem service ended before answering (no such volume?)");
        else if (rc < 0)
            snprintf(err, errlen, "malformed INFO reply from the guest");
        else
            snprintf(err, errlen, "INFO failed: %s", strerror(rc));
        fsc_free(c);
        return NULL;
    }
    snprintf(c->info.volume, sizeof c->info.volume, "%.*s", (int)in.volume.n, in.volume.s);
    snprintf(c->info.fstype, sizeof c->info.fstype, "%.*s", (int)in.fstype.n, in.fstype.s);
    c->info.rdonly = in.flags & PROTO_FS_INFO_RDONLY;
    c->info.max_io = in.max_io;
    (void)list;
    return c;
}

void fsc_free(fsc *c)
{
    if (!c)
        return;
    if (c->reader_started) {
        shutdown(c->fd, SHUT_RDWR);
        pthread_join(c->reader, NULL);
    }
    free(c->rbuf);
    free(c);
}

const fsc_info *fsc_get_info(const fsc *c)
{
    return &c->info;
}

unsigned fsc_faults(fsc *c, char *last, size_t cap)
{
    pthread_mutex_lock(&c->mu);
    unsigned n = c->faults;
    if (last)
        snprintf(last, cap, "%s", c->last_fault);
    pthread_mutex_unlock(&c->mu);
    return n;
}

bool fsc_dead(fsc *c)
{
    pthread_mutex_lock(&c->mu);
    bool d = c->dead;
    pthread_mutex_unlock(&c->mu);
    return d;
}

/* ---- typed requests ---- */
typedef struct req {
    uint8_t b[PROTO_FS_MAX_LINK + 2 * PROTO_FS_MAX_NAME + 128];
    proto_wr w;
} req;

static void req_init(req *q)
{
    proto_wr_init(&q->w, q->b, sizeof q->b);
}

static int name_of(proto_wr *w, const char *name)
{
    size_t n = strlen(name);
    int e = proto_fs_name_check(name, n);
    if (e)
        return e;
    proto_wr_str(w, name, n);
    return 0;
}

static int call_entry(fsc *c, uint8_t type, req *q, proto_fs_entry *e)
{
    if (q->w.err)
        return EINVAL;
    uint8_t rep[8 + PROTO_FS_ATTR_SIZE];
    size_t n;
    int rc = fsc_call(c, type, q->b, q->w.len, NULL, 0, rep, sizeof rep, &n);
    if (rc)
        return rc;
    if (!proto_fs_dec_entry(rep, n, e))
        return bad(c, type);
    return 0;
}

static int call_empty(fsc *c, uint8_t type, req *q)
{
    if (q->w.err)
        return EINVAL;
    uint8_t rep[8];
    size_t n;
    int rc = fsc_call(c, type, q->b, q->w.len, NULL, 0, rep, sizeof rep, &n);
    if (rc == 0 && n != 0)
        return bad(c, type);
    return rc;
}

static int call_u64(fsc *c, uint8_t type, req *q, uint64_t *v)
{
    uint8_t rep[8];
    size_t n;
    int rc = fsc_call(c, type, q->b, q->w.len, NULL, 0, rep, sizeof rep, &n);
    if (rc == 0 && !proto_fs_dec_u64(rep, n, v))
        return bad(c, type);
    return rc;
}

int fsc_lookup(fsc *c, uint64_t parent, const char *name, proto_fs_entry *e)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, parent);
    int er = name_of(&q.w, name);
    return er ? er : call_entry(c, PROTO_FS_LOOKUP, &q, e);
}

void fsc_forget(fsc *c, uint64_t node, uint64_t count)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, node);
    proto_wr_u64(&q.w, count);
    write_rec(c, PROTO_FS_FORGET, 0, q.b, q.w.len, NULL, 0);
}

int fsc_getattr(fsc *c, uint64_t node, proto_fs_attr *a)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, node);
    uint8_t rep[PROTO_FS_ATTR_SIZE];
    size_t n;
    int rc = fsc_call(c, PROTO_FS_GETATTR, q.b, q.w.len, NULL, 0, rep, sizeof rep, &n);
    if (rc == 0 && !proto_fs_dec_attr(rep, n, a))
        return bad(c, PROTO_FS_GETATTR);
    return rc;
}

int fsc_setattr(fsc *c, uint64_t node, uint64_t fh, uint32_t valid, const proto_fs_attr *want,
                proto_fs_attr *out)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, node);
    proto_wr_u64(&q.w, fh);
    proto_wr_u32(&q.w, valid);
    proto_wr_u32(&q.w, want->mode);
    proto_wr_u32(&q.w, want->uid);
    proto_wr_u32(&q.w, want->gid);
    proto_wr_u64(&q.w, want->size);
    proto_wr_u64(&q.w, (uint64_t)want->atime);
    proto_wr_u32(&q.w, want->atime_ns);
    proto_wr_u64(&q.w, (uint64_t)want->mtime);
    proto_wr_u32(&q.w, want->mtime_ns);
    uint8_t rep[PROTO_FS_ATTR_SIZE];
    size_t n;
    int rc = fsc_call(c, PROTO_FS_SETATTR, q.b, q.w.len, NULL, 0, rep, sizeof rep, &n);
    if (rc == 0 && !proto_fs_dec_attr(rep, n, out))
        return bad(c, PROTO_FS_SETATTR);
    return rc;
}

int fsc_readlink(fsc *c, uint64_t node, char *buf, size_t cap)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, node);
    uint8_t rep[4 + PROTO_FS_MAX_LINK];
    size_t n;
    int rc = fsc_call(c, PROTO_FS_READLINK, q.b, q.w.len, NULL, 0, rep, sizeof rep, &n);
    if (rc)
        return rc;
    proto_rd r;
    proto_rd_init(&r, rep, n);
    const char *s;
    uint32_t sl;
    proto_rd_str(&r, &s, &sl);
    if (!proto_rd_done(&r) || sl == 0)
        return bad(c, PROTO_FS_READLINK);
    if (sl + 1 > cap)
        return ENAMETOOLONG;
    memcpy(buf, s, sl);
    buf[sl] = 0;
    return 0;
}

int fsc_mkdir(fsc *c, uint64_t parent, const char *name, uint32_t mode, uint32_t uid,
              uint32_t gid, proto_fs_entry *e)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, parent);
    int er = name_of(&q.w, name);
    proto_wr_u32(&q.w, mode);
    proto_wr_u32(&q.w, uid);
    proto_wr_u32(&q.w, gid);
    return er ? er : call_entry(c, PROTO_FS_MKDIR, &q, e);
}

int fsc_mknod(fsc *c, uint64_t parent, const char *name, uint32_t mode, uint64_t rdev,
              uint32_t uid, uint32_t gid, proto_fs_entry *e)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, parent);
    int er = name_of(&q.w, name);
    proto_wr_u32(&q.w, mode);
    proto_wr_u64(&q.w, rdev);
    proto_wr_u32(&q.w, uid);
    proto_wr_u32(&q.w, gid);
    return er ? er : call_entry(c, PROTO_FS_MKNOD, &q, e);
}

int fsc_symlink(fsc *c, uint64_t parent, const char *name, const char *target, uint32_t uid,
                uint32_t gid, proto_fs_entry *e)
{
    size_t tn = strlen(target);
    if (tn == 0 || tn > PROTO_FS_MAX_LINK)
        return tn ? ENAMETOOLONG : ENOENT;
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, parent);
    int er = name_of(&q.w, name);
    proto_wr_str(&q.w, target, tn);
    proto_wr_u32(&q.w, uid);
    proto_wr_u32(&q.w, gid);
    return er ? er : call_entry(c, PROTO_FS_SYMLINK, &q, e);
}

int fsc_link(fsc *c, uint64_t node, uint64_t newparent, const char *name, proto_fs_entry *e)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, node);
    proto_wr_u64(&q.w, newparent);
    int er = name_of(&q.w, name);
    return er ? er : call_entry(c, PROTO_FS_LINK, &q, e);
}

static int unlink_like(fsc *c, uint8_t type, uint64_t parent, const char *name)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, parent);
    int er = name_of(&q.w, name);
    return er ? er : call_empty(c, type, &q);
}

int fsc_unlink(fsc *c, uint64_t parent, const char *name)
{
    return unlink_like(c, PROTO_FS_UNLINK, parent, name);
}

int fsc_rmdir(fsc *c, uint64_t parent, const char *name)
{
    return unlink_like(c, PROTO_FS_RMDIR, parent, name);
}

int fsc_rename(fsc *c, uint64_t parent, const char *name, uint64_t newparent,
               const char *newname, uint32_t flags)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, parent);
    int er = name_of(&q.w, name);
    proto_wr_u64(&q.w, newparent);
    int er2 = name_of(&q.w, newname);
    proto_wr_u32(&q.w, flags);
    return er ? er : er2 ? er2 : call_empty(c, PROTO_FS_RENAME, &q);
}

int fsc_open(fsc *c, uint64_t node, uint32_t flags, uint64_t *fh)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, node);
    proto_wr_u32(&q.w, flags);
    return call_u64(c, PROTO_FS_OPEN, &q, fh);
}

int fsc_create(fsc *c, uint64_t parent, const char *name, uint32_t flags, uint32_t mode,
               uint32_t uid, uint32_t gid, proto_fs_entry *e, uint64_t *fh)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, parent);
    int er = name_of(&q.w, name);
    if (er)
        return er;
    proto_wr_u32(&q.w, flags);
    proto_wr_u32(&q.w, mode);
    proto_wr_u32(&q.w, uid);
    proto_wr_u32(&q.w, gid);
    uint8_t rep[16 + PROTO_FS_ATTR_SIZE];
    size_t n;
    int rc = fsc_call(c, PROTO_FS_CREATE, q.b, q.w.len, NULL, 0, rep, sizeof rep, &n);
    if (rc == 0 && !proto_fs_dec_create(rep, n, e, fh))
        return bad(c, PROTO_FS_CREATE);
    return rc;
}

int fsc_read(fsc *c, uint64_t fh, uint64_t off, void *buf, size_t size, size_t *got)
{
    if (size > c->info.max_io)
        size = c->info.max_io;
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, fh);
    proto_wr_u64(&q.w, off);
    proto_wr_u32(&q.w, (uint32_t)size);
    /* cap = size: a longer reply is a fault (EIO), never an overrun */
    return fsc_call(c, PROTO_FS_READ, q.b, q.w.len, NULL, 0, buf, size, got);
}

static int write_src(fsc *c, uint64_t fh, uint64_t off, const data_src *src, size_t n,
                     size_t *written)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, fh);
    proto_wr_u64(&q.w, off);
    uint8_t rep[4];
    size_t rn;
    int rc = call_src(c, PROTO_FS_WRITE, q.b, q.w.len, src, n, rep, sizeof rep, &rn);
    if (rc)
        return rc;
    uint32_t w;
    if (!proto_fs_dec_u32(rep, rn, &w) || w > n)
        return bad(c, PROTO_FS_WRITE);
    *written = w;
    return 0;
}

int fsc_write(fsc *c, uint64_t fh, uint64_t off, const void *buf, size_t n, size_t *written)
{
    if (n > c->info.max_io)
        n = c->info.max_io;
    data_src src = {buf, NULL, NULL};
    return write_src(c, fh, off, &src, n, written);
}

int fsc_write_from(fsc *c, uint64_t fh, uint64_t off, size_t n, fsc_fill_fn fill, void *ctx,
                   size_t *written)
{
    if (n > c->info.max_io)
        return EINVAL; /* fill must deliver exactly n: the caller splits, not us */
    data_src src = {NULL, fill, ctx};
    return write_src(c, fh, off, &src, n, written);
}

static int fh_only(fsc *c, uint8_t type, uint64_t fh)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, fh);
    return call_empty(c, type, &q);
}

int fsc_release(fsc *c, uint64_t fh)
{
    return fh_only(c, PROTO_FS_RELEASE, fh);
}

int fsc_releasedir(fsc *c, uint64_t fh)
{
    return fh_only(c, PROTO_FS_RELEASEDIR, fh);
}

int fsc_fsync(fsc *c, uint64_t fh, bool datasync)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, fh);
    proto_wr_u32(&q.w, datasync);
    return call_empty(c, PROTO_FS_FSYNC, &q);
}

int fsc_opendir(fsc *c, uint64_t node, uint64_t *fh)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, node);
    return call_u64(c, PROTO_FS_OPENDIR, &q, fh);
}

int fsc_readdir(fsc *c, uint64_t fh, uint64_t off, bool plus, uint8_t *buf, size_t cap,
                proto_fs_dirit *it)
{
    if (cap > c->info.max_io)
        cap = c->info.max_io;
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, fh);
    proto_wr_u64(&q.w, off);
    proto_wr_u32(&q.w, (uint32_t)cap);
    proto_wr_u32(&q.w, plus);
    size_t n;
    int rc = fsc_call(c, PROTO_FS_READDIR, q.b, q.w.len, NULL, 0, buf, cap, &n);
    if (rc)
        return rc;
    if (!proto_fs_dir_begin(it, buf, n, plus))
        return bad(c, PROTO_FS_READDIR);
    return 0;
}

int fsc_statfs(fsc *c, proto_fs_statfs *s)
{
    uint8_t rep[64];
    size_t n;
    int rc = fsc_call(c, PROTO_FS_STATFS, NULL, 0, NULL, 0, rep, sizeof rep, &n);
    if (rc == 0 && !proto_fs_dec_statfs(rep, n, s))
        return bad(c, PROTO_FS_STATFS);
    return rc;
}

static int xattr_get(fsc *c, uint8_t type, uint64_t node, const char *name, void *buf,
                     size_t size, size_t *len)
{
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, node);
    if (name) {
        size_t nl = strlen(name);
        if (nl == 0 || nl > 255)
            return ERANGE;
        proto_wr_str(&q.w, name, nl);
    }
    if (size > PROTO_FS_MAX_XATTR)
        size = PROTO_FS_MAX_XATTR;
    proto_wr_u32(&q.w, (uint32_t)size);
    uint8_t small[4];
    size_t n;
    int rc = fsc_call(c, type, q.b, q.w.len, NULL, 0, size ? buf : small, size ? size : 4, &n);
    if (rc)
        return rc;
    if (size == 0) {
        uint32_t v;
        if (!proto_fs_dec_u32(small, n, &v) || v > PROTO_FS_MAX_XATTR)
            return bad(c, type);
        *len = v;
    } else {
        *len = n;
    }
    return 0;
}

int fsc_getxattr(fsc *c, uint64_t node, const char *name, void *buf, size_t size, size_t *len)
{
    return xattr_get(c, PROTO_FS_GETXATTR, node, name, buf, size, len);
}

int fsc_listxattr(fsc *c, uint64_t node, void *buf, size_t size, size_t *len)
{
    return xattr_get(c, PROTO_FS_LISTXATTR, node, NULL, buf, size, len);
}

int fsc_setxattr(fsc *c, uint64_t node, const char *name, const void *val, size_t n,
                 uint32_t flags)
{
    size_t nl = strlen(name);
    if (nl == 0 || nl > 255)
        return ERANGE;
    if (n > PROTO_FS_MAX_XATTR)
        return E2BIG;
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, node);
    proto_wr_str(&q.w, name, nl);
    proto_wr_u32(&q.w, flags);
    uint8_t rep[8];
    size_t rn;
    int rc = fsc_call(c, PROTO_FS_SETXATTR, q.b, q.w.len, val, n, rep, sizeof rep, &rn);
    if (rc == 0 && rn != 0)
        return bad(c, PROTO_FS_SETXATTR);
    return rc;
}

int fsc_removexattr(fsc *c, uint64_t node, const char *name)
{
    size_t nl = strlen(name);
    if (nl == 0 || nl > 255)
        return ERANGE;
    req q;
    req_init(&q);
    proto_wr_u64(&q.w, node);
    proto_wr_str(&q.w, name, nl);
    return call_empty(c, PROTO_FS_REMOVEXATTR, &q);
}

int fsc_volumes(fsc *c, uint8_t *buf, size_t cap, proto_fs_dirit *it)
{
    size_t n;
    int rc = fsc_call(c, PROTO_FS_VOLUMES, NULL, 0, NULL, 0, buf, cap, &n);
    if (rc)
        return rc;
    if (!proto_fs_vol_begin(it, buf, n))
        return bad(c, PROTO_FS_VOLUMES);
    return 0;
}
