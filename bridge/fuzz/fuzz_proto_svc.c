/* Host-side decoding of service channels (PROTOCOL.md, Service channels): a hostile guest's
 * record bytes through the reassembler, in chunks and with a maximum chosen by the input, and
 * the OPEN request decoder. Every record must respect the maximum; the reassembler must always
 * make progress (a stuck feed would hang the host) and never grow. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz/fuzz_records.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[4 + 4096];
    if (size < 2)
        return 0;
    size_t chunk = (size_t)data[0] % 64 + 1;
    size_t max = PROTO_REC_MIN + (size_t)data[1] * 16;
    data += 2;
    size -= 2;
    uint32_t flags;
    proto_str arg;
    if (proto_dec_svc_open(data, size, &flags, &arg) && arg.n > PROTO_SVC_MAX_ARG)
        __builtin_trap();
    fuzz_feed_records(buf, max, data, size, chunk, NULL, NULL);
    return 0;
}
