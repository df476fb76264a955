/* Scheme socket loop; see scheme_loop.h. */
#include "scheme_loop.h"

#include <errno.h>
#include <unistd.h>

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int scheme_loop_handle_ready(scheme_server *s, int fd)
{
    uint8_t in[SCHEME_LOOP_BATCH * SCHEME_SQE_SIZE], out[SCHEME_LOOP_BATCH * SCHEME_CQE_SIZE];
    ssize_t n;
    do
        n = read(fd, in, sizeof in);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if (n == 0)
        return 0;
    size_t answers = 0;
    for (size_t i = 0; i + SCHEME_SQE_SIZE <= (size_t)n; i += SCHEME_SQE_SIZE)
        if (scheme_handle_packet(s, in + i, out + answers * SCHEME_CQE_SIZE))
            answers++;
    int r = write_all(fd, out, answers * SCHEME_CQE_SIZE);
    if (r < 0)
        return r;
    return (size_t)n % SCHEME_SQE_SIZE ? -EPROTO : 1;
}

int scheme_loop_serve(scheme_server *s, int fd)
{
    int r;
    while ((r = scheme_loop_handle_ready(s, fd)) == 1) {
    }
    return r;
}

int scheme_loop_complete(scheme_server *s, int fd, uint32_t tag, int64_t result)
{
    scheme_cqe c;
    uint8_t raw[SCHEME_CQE_SIZE];
    if (!scheme_server_complete(s, tag, result, &c))
        return -ENOENT;
    scheme_cqe_encode(&c, raw);
    return write_all(fd, raw, sizeof raw);
}

int scheme_loop_post_fevent(const scheme_server *s, int fd, const void *h, uint32_t events)
{
    scheme_cqe c;
    uint8_t raw[SCHEME_CQE_SIZE];
    if (!scheme_server_fevent(s, h, events, &c))
        return -EBADF;
    scheme_cqe_encode(&c, raw);
    return write_all(fd, raw, sizeof raw);
}
