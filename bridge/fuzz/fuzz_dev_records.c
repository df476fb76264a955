/* Host-side decoding of the device service (PROTOCOL.md, Device service): a hostile guest's
 * stream-1 bytes through the record reassembler with the service's maximum, in chunks chosen
 * by the input, then every record through the decoder of its type. Decoded values must
 * respect their bounds; nothing may crash, hang or read outside the record. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dev/dev_inv.h"
#include "fuzz/fuzz_records.h"
#include "proto.h"

static void decode(void *ctx, const proto_rec *r)
{
    (void)ctx;
    proto_dev_info d;
    proto_blk_info bi;
    proto_net_info ni;
    proto_str name;
    uint8_t kind;
    uint32_t err;
    const uint8_t *p;
    size_t pn;
    char line[512];
    switch (r->type) {
    case PROTO_DEV_ADD:
        if (proto_dec_dev_add(r->body, r->body_len, &d)) {
            if (!proto_dev_name_ok(d.name.s, d.name.n) || d.driver.n > PROTO_DEV_DRIVER_MAX ||
                d.model.n > PROTO_DEV_MODEL_MAX)
                __builtin_trap();
            dev_inv_format(&d, line, sizeof line);
            if (strchr(line, '\n'))
                __builtin_trap();
        }
        break;
    case PROTO_DEV_REMOVE:
        if (proto_dec_dev_remove(r->body, r->body_len, &kind, &name) && !proto_dev_name_ok(name.s, name.n))
            __builtin_trap();
        break;
    case PROTO_BLK_INFO:
        if (proto_dec_blk_info(r->body, r->body_len, &bi) &&
            (bi.max_io > PROTO_DEV_MAX_IO || bi.queue > PROTO_DEV_MAX_QUEUE || !bi.queue))
            __builtin_trap();
        break;
    case PROTO_BLK_DONE:
        if (proto_dec_blk_done(r->body, r->body_len, &err, &p, &pn) && (p + pn != r->body + r->body_len))
            __builtin_trap();
        break;
    case PROTO_NET_INFO:
        if (proto_dec_net_info(r->body, r->body_len, &ni) &&
            (ni.mtu < PROTO_DEV_MIN_MTU || ni.mtu > PROTO_DEV_MAX_MTU))
            __builtin_trap();
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[4 + PROTO_DEV_MAX_RECORD];
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 64 + 1;
    fuzz_feed_records(buf, PROTO_DEV_MAX_RECORD, data + 1, size - 1, chunk, decode, NULL);
    return 0;
}
