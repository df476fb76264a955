/* The real system calls of the Orbital back end (win_orbital.h). Only built on Redox: the
 * whole file is inside __redox__, so the Linux wildcard build compiles it to nothing. */
#ifdef __redox__

#include "win_orbital.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

static int orb_open(void *ctx, const char *path)
{
    (void)ctx;
    return open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
}

static int orb_write(void *ctx, int fd, const char *cmd, size_t n)
{
    (void)ctx;
    return write(fd, cmd, n) == (ssize_t)n ? 0 : -1;
}

static uint32_t *orb_map(void *ctx, int fd, size_t w, size_t h)
{
    (void)ctx;
    void *p = mmap(NULL, w * h * 4, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void orb_unmap(void *ctx, int fd, uint32_t *px, size_t w, size_t h)
{
    (void)ctx, (void)fd;
    if (px)
        munmap(px, w * h * 4);
}

static long orb_read(void *ctx, int fd, void *buf, size_t n)
{
    (void)ctx;
    return (long)read(fd, buf, n);
}

static int orb_sync(void *ctx, int fd)
{
    (void)ctx;
    return fsync(fd);
}

/* relibc exports Redox's dup-with-path without a header (like redox_open_v1 in
 * scheme/scheme_redox.c); the result is a value or -errno as an unsigned word. */
extern uintptr_t redox_dup_v1(size_t fd, const char *buf, size_t len);

static int clip_fd(int fd)
{
    uintptr_t r = redox_dup_v1((size_t)fd, "clipboard", 9);
    return r > (uintptr_t)-4096 ? -1 : (int)r;
}

static long orb_clip_read(void *ctx, int fd, char *buf, size_t cap)
{
    (void)ctx;
    int c = clip_fd(fd);
    if (c < 0)
        return -1;
    size_t got = 0;
    for (ssize_t k; got < cap && (k = read(c, buf + got, cap - got)) > 0;)
        got += (size_t)k;
    close(c);
    return (long)got;
}

static int orb_clip_write(void *ctx, int fd, const char *text, size_t n)
{
    (void)ctx;
    int c = clip_fd(fd);
    if (c < 0)
        return -1;
    int rc = write(c, text, n) == (ssize_t)n ? 0 : -1;
    close(c);
    return rc;
}

static void orb_close(void *ctx, int fd)
{
    (void)ctx;
    close(fd);
}

const win_orb_sys win_orb_redox_sys = {.open = orb_open, .write = orb_write, .map = orb_map,
                                       .unmap = orb_unmap, .sync = orb_sync, .read = orb_read,
                                       .clip_read = orb_clip_read, .clip_write = orb_clip_write,
                                       .close = orb_close};

#endif
