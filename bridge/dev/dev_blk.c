/* Block channel engine (dev_blk.h). */
#include "dev_blk.h"

#include "dev_chan.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLK_OUT_CAP (2u * (PROTO_DEV_MAX_RECORD + PROTO_REC_HDR))
#define BLK_IN_CAP (256u * 1024u)
#define BLK_LOG_LIMIT 20 /* fault lines per attach: a hostile guest cannot flood the log */

typedef struct blk_slot {
    dev_blk_req *req;
    uint32_t tag, off, len;
} blk_slot;

struct dev_blk {
    char name[64];
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
    unsigned logged;
    int fd;
    bool have_info, info_now;
    proto_blk_info info;
    dev_blk_req *head, *tail;
    size_t npending;
    blk_slot slots[PROTO_DEV_MAX_QUEUE];
    unsigned inflight;
    uint32_t gen;
    uint8_t *out;
    size_t out_off, out_len;
    uint8_t *in, *recbuf;
    proto_rec_stream rs;
    dev_blk_stats stats;
};

static void blk_log(dev_blk *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void blk_log(dev_blk *b, const char *fmt, ...)
{
    if (b->logged >= BLK_LOG_LIMIT)
        return;
    b->logged++;
    char line[512];
    int k = snprintf(line, sizeof line, "%s: ", b->name);
    va_list ap;
    va_start(ap, fmt);
    if (b->logged == BLK_LOG_LIMIT)
        snprintf(line, sizeof line, "%s: further faults of this channel are not logged", b->name);
    else if (k > 0 && (size_t)k < sizeof line)
        vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
    va_end(ap);
    if (b->log)
        b->log(b->log_ctx, line);
    else
        fprintf(stderr, "%s\n", line);
}

dev_blk *dev_blk_new(const char *name, void (*log)(void *ctx, const char *line), void *log_ctx)
{
    dev_blk *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->out = malloc(BLK_OUT_CAP);
    b->in = malloc(BLK_IN_CAP);
    b->recbuf = malloc(4 + PROTO_DEV_MAX_RECORD);
    if (!b->out || !b->in || !b->recbuf) {
        free(b->out), free(b->in), free(b->recbuf), free(b);
        return NULL;
    }
    snprintf(b->name, sizeof b->name, "%s", name);
    b->log = log;
    b->log_ctx = log_ctx;
    b->fd = -1;
    return b;
}

static void finish(dev_blk *b, dev_blk_req *r, uint32_t error)
{
    dev_blk_req **pp = &b->head, *prev = NULL;
    while (*pp && *pp != r)
        prev = *pp, pp = &(*pp)->next;
    if (*pp) {
        *pp = r->next;
        if (b->tail == r)
            b->tail = prev;
        b->npending--;
    }
    r->next = NULL;
    if (!error) {
        if (r->op == PROTO_BLK_READ)
            b->stats.bytes_read += r->length;
        else if (r->op == PROTO_BLK_WRITE)
            b->stats.bytes_written += r->length;
    }
    r->done(r, error);
}

void dev_blk_fail_all(dev_blk *b, uint32_t error)
{
    for (unsigned i = 0; i < PROTO_DEV_MAX_QUEUE; i++)
        b->slots[i].req = NULL;
    b->inflight = 0;
    while (b->head)
        finish(b, b->head, error);
}

void dev_blk_free(dev_blk *b)
{
    if (!b)
        return;
    dev_blk_fail_all(b, ESHUTDOWN);
    free(b->out), free(b->in), free(b->recbuf), free(b);
}

void dev_blk_attach(dev_blk *b, int fd)
{
    b->fd = fd;
    b->info_now = false;
    b->logged = 0;
    b->out_off = b->out_len = 0;
    proto_rec_stream_init(&b->rs, b->recbuf, PROTO_DEV_MAX_RECORD);
}

void dev_blk_detach(dev_blk *b)
{
    for (unsigned i = 0; i < PROTO_DEV_MAX_QUEUE; i++)
        b->slots[i].req = NULL;
    b->inflight = 0;
    for (dev_blk_req *r = b->head; r; r = r->next) {
        if (r->issued)
            b->stats.resent++;
        r->issued = r->completed = r->error = 0;
        r->inflight = 0;
    }
    b->fd = -1;
    b->info_now = false;
    b->out_off = b->out_len = 0;
}

bool dev_blk_attached(const dev_blk *b)
{
    return b->fd >= 0;
}

const proto_blk_info *dev_blk_info(const dev_blk *b)
{
    return b->have_info ? &b->info : NULL;
}

size_t dev_blk_pending(const dev_blk *b)
{
    return b->npending;
}

const dev_blk_stats *dev_blk_get_stats(const dev_blk *b)
{
    return &b->stats;
}

/* 0 when the request can go to this device, else the errno it completes with. */
static uint32_t check(const dev_blk *b, const dev_blk_req *r)
{
    const proto_blk_info *in = &b->info;
    switch (r->op) {
    case PROTO_BLK_FLUSH:
        return r->length == 0 ? 0 : EINVAL;
    case PROTO_BLK_READ:
    case PROTO_BLK_WRITE:
    case PROTO_BLK_TRIM:
        if (r->length == 0 || r->length > DEV_BLK_MAX_REQ || r->offset > in->size ||
            r->length > in->size - r->offset)
            return EINVAL;
        if (r->op != PROTO_BLK_READ && (in->flags & PROTO_BLK_RO))
            return EPERM;
        if (r->op == PROTO_BLK_TRIM && !(in->flags & PROTO_BLK_CAN_TRIM))
            return EOPNOTSUPP;
        if (r->op == PROTO_BLK_WRITE && (r->flags & ~PROTO_BLK_WRITE_FUA))
            return EINVAL;
        return 0;
    default:
        return EINVAL;
    }
}

static uint32_t need_of(const dev_blk_req *r)
{
    return r->op == PROTO_BLK_FLUSH ? 1 : r->length;
}

void dev_blk_submit(dev_blk *b, dev_blk_req *r)
{
    r->next = NULL;
    r->issued = r->completed = r->error = 0;
    r->inflight = 0;
    b->stats.requests++;
    if (b->have_info) {
        uint32_t e = check(b, r);
        if (e) {
            r->done(r, e);
            return;
        }
    }
    if (b->tail)
        b->tail->next = r;
    else
        b->head = r;
    b->tail = r;
    b->npending++;
    dev_blk_step(b, 0);
}

short dev_blk_events(const dev_blk *b)
{
    if (b->fd < 0)
        return 0;
    return (short)(POLLIN | (b->out_len > b->out_off ? POLLOUT : 0));
}

static int free_slot(const dev_blk *b)
{
    for (unsigned i = 0; i < b->info.queue && i < PROTO_DEV_MAX_QUEUE; i++)
        if (!b->slots[i].req)
            return (int)i;
    return -1;
}

/* Puts as many request pieces into the output buffer as the queue and the buffer allow. */
static void fill(dev_blk *b)
{
    if (b->fd < 0 || !b->info_now)
        return;
    dev_blk_req *r = b->head;
    while (r && b->inflight < b->info.queue) {
        if (r->issued == 0 && r->inflight == 0) {
            uint32_t e = check(b, r);
            if (e) {
                dev_blk_req *n = r->next;
                finish(b, r, e);
                r = n;
                continue;
            }
        }
        if (r->issued >= need_of(r)) {
            r = r->next;
            continue;
        }
        uint32_t len = 0, off = r->issued;
        size_t body = 0;
        if (r->op != PROTO_BLK_FLUSH) {
            len = r->length - off;
            if (len > b->info.max_io)
                len = b->info.max_io;
            body = PROTO_BLK_REQ_HDR + (r->op == PROTO_BLK_WRITE ? len : 0);
        }
        if (!dev_chan_room(b->out, BLK_OUT_CAP, &b->out_off, &b->out_len, PROTO_REC_HDR + body))
            break;
        int slot = free_slot(b);
        if (slot < 0)
            break;
        b->gen = (b->gen + 1) & 0xffffffu;
        if (!b->gen)
            b->gen = 1;
        uint32_t tag = b->gen << 8 | (uint32_t)slot;
        b->slots[slot] = (blk_slot){.req = r, .tag = tag, .off = off, .len = len};
        uint8_t *o = b->out + b->out_len;
        proto_rec_hdr(o, r->op, tag, body);
        o += PROTO_REC_HDR;
        if (r->op == PROTO_BLK_WRITE) {
            proto_enc_blk_write_head(o, r->offset + off, r->flags);
            memcpy(o + PROTO_BLK_REQ_HDR, r->buf + off, len);
        } else if (r->op != PROTO_BLK_FLUSH) {
            proto_enc_blk_range(o, PROTO_BLK_REQ_HDR, r->offset + off, len);
        }
        b->out_len += PROTO_REC_HDR + body;
        r->issued += r->op == PROTO_BLK_FLUSH ? 1 : len;
        r->inflight++;
        b->inflight++;
    }
}

static int on_done(dev_blk *b, const proto_rec *rec)
{
    uint32_t error;
    const uint8_t *data;
    size_t n;
    if (!proto_dec_blk_done(rec->body, rec->body_len, &error, &data, &n)) {
        blk_log(b, "malformed completion (tag %u): ending the channel", rec->tag);
        return -1;
    }
    unsigned idx = rec->tag & 0xffu;
    blk_slot *s = idx < PROTO_DEV_MAX_QUEUE ? &b->slots[idx] : NULL;
    if (!s || !s->req || s->tag != rec->tag) {
        b->stats.bad_tags++;
        blk_log(b, "completion for tag %u, which is not in flight: dropped", rec->tag);
        return 0;
    }
    dev_blk_req *r = s->req;
    /* The errno is the guest's word: users (NBD replies, Redox results, where a large value
     * would read as a byte count) only ever see a real errno. */
    if (error > 4095)
        error = EIO;
    size_t want = r->op == PROTO_BLK_READ && !error ? s->len : 0;
    if (n != want) {
        b->stats.bad_lengths++;
        blk_log(b, "completion of tag %u carries %zu bytes instead of %zu: request failed", rec->tag,
                n, want);
        error = EIO;
    }
    if (!error && r->op == PROTO_BLK_READ)
        memcpy(r->buf + s->off, data, s->len);
    s->req = NULL;
    b->inflight--;
    r->inflight--;
    r->completed += r->op == PROTO_BLK_FLUSH ? 1 : s->len;
    if (error && !r->error) {
        r->error = error;
        r->issued = need_of(r); /* nothing more of it goes out */
    }
    if (r->inflight == 0 && r->issued >= need_of(r))
        finish(b, r, r->error);
    return 0;
}

static int on_record(void *ctx, const proto_rec *rec)
{
    dev_blk *b = ctx;
    switch (rec->type) {
    case PROTO_BLK_INFO: {
        proto_blk_info in;
        if (rec->tag != 0 || !proto_dec_blk_info(rec->body, rec->body_len, &in)) {
            blk_log(b, "malformed BLK_INFO: ending the channel");
            return -1;
        }
        if (b->have_info && in.size != b->info.size)
            blk_log(b, "device size changed from %llu to %llu bytes",
                    (unsigned long long)b->info.size, (unsigned long long)in.size);
        b->info = in;
        b->have_info = b->info_now = true;
        return 0;
    }
    case PROTO_BLK_DONE:
        if (!b->info_now) {
            blk_log(b, "completion before BLK_INFO: ending the channel");
            return -1;
        }
        return on_done(b, rec);
    default:
        blk_log(b, "unexpected record type 0x%02x: ending the channel", rec->type);
        return -1;
    }
}

int dev_blk_step(dev_blk *b, short revents)
{
    if (b->fd < 0)
        return 0;
    if (revents & POLLIN) {
        bool bad_length;
        if (dev_chan_read(b->fd, b->in, BLK_IN_CAP, 16, &b->rs, on_record, b, &bad_length) < 0) {
            if (bad_length)
                blk_log(b, "record length out of bounds: ending the channel");
            return -1;
        }
    } else if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
        return -1;
    }
    fill(b);
    return dev_chan_flush(b->fd, b->out, &b->out_off, &b->out_len);
}
