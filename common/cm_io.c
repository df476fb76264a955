/* EINTR-safe whole-buffer I/O (cm_io.h). */
#include "cm_io.h"

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

int cm_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w == 0) /* would loop forever */
            errno = EIO;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int cm_send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == ENOTSOCK) /* a pipe: the caller's SIGPIPE setting applies */
            w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w == 0)
            errno = EIO;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int cm_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = pwrite(fd, b, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w == 0)
            errno = EIO;
        if (w <= 0)
            return -1;
        b += w;
        off += w;
        n -= (size_t)w;
    }
    return 0;
}

ssize_t cm_read_full(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int cm_read_exact(int fd, void *p, size_t n)
{
    ssize_t r = cm_read_full(fd, p, n);
    if (r < 0)
        return -1;
    if ((size_t)r < n) {
        errno = ECONNRESET;
        return -1;
    }
    return 0;
}

int cm_pread_exact(int fd, void *p, size_t n, off_t off)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = pread(fd, b, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0) {
            errno = EIO;
            return -1;
        }
        b += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}
