/* Record I/O on a device channel's socket (dev_chan.h). */
#include "dev_chan.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int dev_chan_read(int fd, uint8_t *in, size_t cap, int rounds, proto_rec_stream *rs,
                  dev_chan_record_fn fn, void *ctx, bool *bad_length)
{
    *bad_length = false;
    for (int round = 0; round < rounds; round++) {
        ssize_t k = read(fd, in, cap);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (k <= 0)
            return -1;
        size_t off = 0;
        while (off < (size_t)k) {
            size_t used;
            proto_rec rec;
            int st = proto_rec_stream_feed(rs, in + off, (size_t)k - off, &used, &rec);
            off += used;
            if (st == PROTO_BAD_FRAME) {
                *bad_length = true;
                return -1;
            }
            if (st == PROTO_NEED_MORE)
                break;
            if (fn(ctx, &rec) < 0)
                return -1;
        }
        if ((size_t)k < cap)
            return 0;
    }
    return 0;
}

int dev_chan_flush(int fd, const uint8_t *out, size_t *off, size_t *len)
{
    while (*off < *len) {
        ssize_t w = send(fd, out + *off, *len - *off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == ENOTSOCK) /* a pipe (tests): fd is non-blocking */
            w = write(fd, out + *off, *len - *off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        *off += (size_t)w;
    }
    *off = *len = 0;
    return 0;
}

bool dev_chan_room(uint8_t *out, size_t cap, size_t *off, size_t *len, size_t need)
{
    if (*off && *len + need > cap) {
        memmove(out, out + *off, *len - *off);
        *len -= *off;
        *off = 0;
    }
    return *len + need <= cap;
}
