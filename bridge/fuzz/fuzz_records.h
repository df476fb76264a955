/* The part every record-service fuzz target shares: a hostile guest's byte stream fed to the
 * record reassembler in chunks of an input-chosen size, each complete record handed on. The
 * reassembler must always make progress (a stuck feed would hang the host) and never hand out
 * a record above its maximum. Header-only: each target is one program. */
#ifndef BRIDGE_FUZZ_FUZZ_RECORDS_H
#define BRIDGE_FUZZ_FUZZ_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef void (*fuzz_record_fn)(void *ctx, const proto_rec *r);

/* buf holds at least 4 + max bytes. */
static inline void fuzz_feed_records(uint8_t *buf, size_t max, const uint8_t *data, size_t size,
                                     size_t chunk, fuzz_record_fn fn, void *ctx)
{
    proto_rec_stream s;
    proto_rec_stream_init(&s, buf, max);
    for (size_t off = 0; off < size;) {
        size_t n = size - off < chunk ? size - off : chunk, used;
        proto_rec r;
        int st = proto_rec_stream_feed(&s, data + off, n, &used, &r);
        if (st == PROTO_BAD_FRAME)
            return;
        if (used == 0 && st != PROTO_FRAME)
            __builtin_trap();
        off += used;
        if (st != PROTO_FRAME)
            continue;
        if (r.body_len + PROTO_REC_MIN > max)
            __builtin_trap();
        if (fn)
            fn(ctx, &r);
    }
}

#endif
