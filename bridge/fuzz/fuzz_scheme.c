/* Redox scheme requests come from any process on the machine: arbitrary Sqe sequences must
 * never crash, leak, write outside the caller's buffers or break the handle table. The input
 * is a 512-byte caller memory image (mapped at FUZZ_BASE, the rest of the 4 KiB page zero)
 * followed by up to 256 raw 64-byte Sqes, run through the dispatcher against the in-memory
 * demo scheme with a small handle table and I/O cap. The first byte of the image also picks
 * root_only (bit 0) and deferred reads (bit 1: reads at end of file wait for data and are
 * answered after later writes, or cancelled). Checked after every request: answers echo the tag, the table stays in bounds;
 * at the end, every service handle was closed exactly once. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "scheme_abi.h"
#include "scheme_demo.h"
#include "scheme_server.h"

#define FUZZ_BASE 0x1000u
#define FUZZ_MEM 4096u
#define FUZZ_IMAGE 512u
#define FUZZ_MAX_HANDLES 8u
#define FUZZ_MAX_SQES 256u

typedef struct fuzz_mem {
    uint8_t page[FUZZ_MEM + 64];    /* guard bytes after the page: must stay untouched */
} fuzz_mem;

static void *fz_map(void *ctx, uint64_t addr, size_t len, bool writable)
{
    (void)writable;
    fuzz_mem *m = ctx;
    if (addr < FUZZ_BASE || addr - FUZZ_BASE > FUZZ_MEM || len > FUZZ_MEM - (addr - FUZZ_BASE))
        return NULL;
    return m->page + (addr - FUZZ_BASE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_mem m;
    memset(&m, 0, sizeof m);
    size_t image = size < FUZZ_IMAGE ? size : FUZZ_IMAGE;
    memcpy(m.page, data, image);

    scheme_demo *d = scheme_demo_new();
    if (!d)
        return 0;
    scheme_server_config cfg = {.name = "fuzz", .ops = scheme_demo_ops(), .svc = d,
                                .mem = {fz_map, &m}, .max_handles = FUZZ_MAX_HANDLES,
                                .max_io = 1024, .root_only = image > 0 && (data[0] & 1)};
    scheme_server *s = scheme_server_new(&cfg);
    if (!s) {
        scheme_demo_free(d);
        return 0;
    }
    scheme_demo_set_wait_for_data(d, image > 0 && (data[0] & 2));
    size_t n = 0;
    for (size_t off = FUZZ_IMAGE; off + SCHEME_SQE_SIZE <= size && n < FUZZ_MAX_SQES;
         off += SCHEME_SQE_SIZE, n++) {
        scheme_sqe q;
        scheme_cqe c;
        scheme_sqe_decode(data + off, &q);
        if (scheme_handle_request(s, &q, &c) && c.tag != q.tag)
            __builtin_trap();
        if (scheme_server_open_count(s) > FUZZ_MAX_HANDLES ||
            scheme_demo_live_handles(d) >= FUZZ_MAX_HANDLES)
            __builtin_trap();
        uint8_t raw[SCHEME_CQE_SIZE];
        scheme_cqe_encode(&c, raw);
        while (scheme_demo_poll(d, s, &c))
            scheme_cqe_encode(&c, raw);
        if (scheme_server_pending_count(s) != scheme_demo_waiting(d))
            __builtin_trap();
    }
    for (size_t i = FUZZ_MEM; i < sizeof m.page; i++)
        if (m.page[i] != 0)
            __builtin_trap();
    scheme_server_free(s);
    if (scheme_demo_live_handles(d) != 0)
        __builtin_trap();
    scheme_demo_free(d);
    return 0;
}
