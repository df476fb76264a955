/* The socket side both channel engines (dev_blk, dev_net) share: reading what arrived on the
 * non-blocking service socket and cutting it into records, and sending the engine's buffered
 * records without ever blocking (a stalled guest must not stall the host's loop). */
#ifndef BRIDGE_DEV_DEV_CHAN_H
#define BRIDGE_DEV_DEV_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Handles one record: 0, or -1 to end the channel. */
typedef int (*dev_chan_record_fn)(void *ctx, const proto_rec *rec);

/* Reads into in[cap] (at most `rounds` reads, so one busy channel cannot starve the others)
 * and hands every complete record to fn. 0 when nothing more is there for now; -1 when the
 * channel ended: end of file, a read error, fn's -1, or a record length out of bounds (then
 * *bad_length is set, for the caller's log line). */
int dev_chan_read(int fd, uint8_t *in, size_t cap, int rounds, proto_rec_stream *rs,
                  dev_chan_record_fn fn, void *ctx, bool *bad_length);

/* Unsent bytes are out[*off, *len). Sends what the socket takes now; when everything went,
 * both become 0. 0, or -1 when the peer is gone. */
int dev_chan_flush(int fd, const uint8_t *out, size_t *off, size_t *len);

/* True when need more bytes fit in out[cap], moving the unsent bytes to the front first when
 * that makes them fit. */
bool dev_chan_room(uint8_t *out, size_t cap, size_t *off, size_t *len, size_t need);

#endif
