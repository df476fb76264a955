/* The host's block engine (dev/dev_blk.h) fed a hostile guest's bytes: with reads, writes and
 * a flush in flight, whatever the guest answers (unknown or repeated tags, wrong lengths,
 * records out of bounds, garbage) must not crash, write outside a request's buffer (ASan) or
 * complete a request twice. The input is the guest's stream; the first byte picks the chunk
 * size, and the engine's own requests are drained between chunks. */
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dev/dev_blk.h"

static int completions[4];

static void done(dev_blk_req *r, uint32_t error)
{
    (void)error;
    int *c = r->ctx;
    if (++*c > 1)
        __builtin_trap(); /* completed twice */
}

static void quiet(void *ctx, const char *line)
{
    (void)ctx, (void)line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t rbuf[3 * 65536 + 7], wbuf[70000], sink[1 << 16];
    if (size < 1 || size > 1 << 16)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 0;
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    dev_blk *b = dev_blk_new("fuzz", quiet, NULL);
    memset(completions, 0, sizeof completions);
    dev_blk_req rq[4] = {
        {.op = PROTO_BLK_READ, .offset = 0, .length = sizeof rbuf, .buf = rbuf},
        {.op = PROTO_BLK_WRITE, .offset = 4096, .length = sizeof wbuf, .buf = wbuf},
        {.op = PROTO_BLK_FLUSH},
        {.op = PROTO_BLK_TRIM, .offset = 512, .length = 512},
    };
    dev_blk_attach(b, sv[0]);
    for (int i = 0; i < 4; i++) {
        rq[i].done = done;
        rq[i].ctx = &completions[i];
        dev_blk_submit(b, &rq[i]);
    }
    size_t chunk = (size_t)data[0] * 64 + 1;
    data++, size--;
    for (size_t off = 0; off < size;) {
        size_t n = size - off < chunk ? size - off : chunk;
        ssize_t w = write(sv[1], data + off, n);
        if (w <= 0)
            break;
        off += (size_t)w;
        while (read(sv[1], sink, sizeof sink) > 0)
            ;
        if (dev_blk_step(b, POLLIN | POLLOUT) < 0) {
            dev_blk_detach(b);
            break;
        }
    }
    dev_blk_free(b);
    for (int i = 0; i < 4; i++)
        if (completions[i] != 1)
            __builtin_trap(); /* every request completes exactly once */
    close(sv[0]);
    close(sv[1]);
    return 0;
}
