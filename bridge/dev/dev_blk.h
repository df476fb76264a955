/* The host side of a block channel (PROTOCOL.md, Device service): a portable engine that
 * front ends (the NBD server on Linux, the Redox disk scheme) hand requests of any length to.
 * It splits them into requests of at most max_io bytes, keeps at most `queue` of them in
 * flight, matches completions to requests by tag, and checks everything the guest sends: a
 * completion for a tag not in flight is dropped and counted, a read completion with the wrong
 * amount of data fails its request with EIO, and data is only ever copied into the request's
 * own buffer at an offset the engine chose.
 *
 * The channel may go away (the driver VM restarts): dev_blk_detach keeps every unfinished
 * request, and the next dev_blk_attach sends them again (requests are idempotent), so users
 * just see a slow request. Single-threaded: the caller polls dev_blk_pollfd() and calls
 * dev_blk_step(). */
#ifndef BRIDGE_DEV_DEV_BLK_H
#define BRIDGE_DEV_DEV_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Largest request a user may submit (the NBD limit). */
#define DEV_BLK_MAX_REQ (32u << 20)

typedef struct dev_blk dev_blk;
typedef struct dev_blk_req dev_blk_req;

struct dev_blk_req {
    uint8_t op;        /* PROTO_BLK_READ, _WRITE, _FLUSH or _TRIM */
    uint32_t flags;    /* writes: PROTO_BLK_WRITE_FUA */
    uint64_t offset;
    uint32_t length;   /* 0 for FLUSH */
    uint8_t *buf;      /* READ: filled; WRITE: sent; length bytes */
    /* Called once, from dev_blk_step or dev_blk_submit; error 0 or an errno. It must not
     * submit or free other requests of the same engine. */
    void (*done)(dev_blk_req *r, uint32_t error);
    void *ctx;
    /* engine state */
    dev_blk_req *next;
    uint32_t issued, completed, error;
    unsigned inflight;
};

typedef struct dev_blk_stats {
    uint64_t requests, bytes_read, bytes_written;
    uint64_t bad_tags;     /* completions for tags not in flight */
    uint64_t bad_lengths;  /* completions with the wrong amount of data */
    uint64_t resent;       /* requests sent again after a reconnect */
} dev_blk_stats;

/* name: for log lines. log: receives one line per fault (NULL: stderr). */
dev_blk *dev_blk_new(const char *name, void (*log)(void *ctx, const char *line), void *log_ctx);
void dev_blk_free(dev_blk *b); /* fails every pending request with ESHUTDOWN first */

/* Starts using a connected, non-blocking service socket (the engine does not close it). The
 * guest's BLK_INFO arrives through dev_blk_step; until then requests wait. */
void dev_blk_attach(dev_blk *b, int fd);
/* Stops using the socket: unfinished requests will be sent again on the next attach. */
void dev_blk_detach(dev_blk *b);
bool dev_blk_attached(const dev_blk *b);
/* The device, once a BLK_INFO was received (ever): NULL before. */
const proto_blk_info *dev_blk_info(const dev_blk *b);

/* Queues a request. Checked against the device first (when known): out of range, a write to
 * a read-only device, ... complete at once with EINVAL/EPERM/EOPNOTSUPP. */
void dev_blk_submit(dev_blk *b, dev_blk_req *r);
/* Fails every queued and in-flight request with error (e.g. when giving up on a device). */
void dev_blk_fail_all(dev_blk *b, uint32_t error);
size_t dev_blk_pending(const dev_blk *b);

/* The events to poll the socket for (0 when detached). */
short dev_blk_events(const dev_blk *b);
/* Handles revents on the socket. 0, or -1 when the channel ended (EOF, error, or a record
 * that cannot be parsed): the caller detaches and reconnects later. */
int dev_blk_step(dev_blk *b, short revents);

const dev_blk_stats *dev_blk_get_stats(const dev_blk *b);

#endif
