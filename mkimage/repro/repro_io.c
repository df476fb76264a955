/* File I/O interposers. Always: pwrite applies the btrfs rdev fix-up
 * (repro_patch_block). With REVM_REPRO_FAST_IO=1 (mkfs.btrfs only) also batching,
 * because mkfs.btrfs 6.2 --rootdir moves every file through 4 KiB pread and pwrite
 * calls, two system calls per 4 KiB, most of its run time:
 *  - reads of source files (opened read-only by a relative name: mkfs chdirs into
 *    each directory of the tree) are served from a 256 KiB read-ahead window;
 *  - contiguous writes are gathered into one pending write of up to 1 MiB, flushed
 *    before anything that could observe or reorder it: a write elsewhere, any read,
 *    open or close of another file, fsync, ftruncate, ioctl, and process exit.
 * Source files are never written, so the read-ahead cannot go stale. A pending
 * write that then fails makes the next flushing call fail with its errno (mkfs
 * reports it); at exit it makes the process exit with status 1. */
#include "repro.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_TRACKED_FD 4096
#define WINDOW (256u * 1024)
#define PENDING_MAX (1024u * 1024)
#define DIRECT_MIN (64u * 1024) /* writes this large go straight through */

static pthread_mutex_t io_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char source_fd[MAX_TRACKED_FD];

static struct {
    int fd;
    off_t off;
    size_t len;
    unsigned char *buf;
} window = {.fd = -1};

static struct {
    int fd;
    off_t off;
    size_t len;
    unsigned char *buf;
} pending = {.fd = -1};

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);

static pwrite_fn next_pwrite64(void)
{
    static pwrite_fn next;
    if (!next)
        next = repro_next("pwrite64");
    return next;
}

static pread_fn next_pread64(void)
{
    static pread_fn next;
    if (!next)
        next = repro_next("pread64");
    return next;
}

static bool fast(void) { return repro_get()->fast_io; }

/* Writes out the pending bytes. Caller holds io_lock. */
static int flush_locked(void)
{
    size_t done = 0;
    while (done < pending.len) {
        ssize_t n = next_pwrite64()(pending.fd, pending.buf + done, pending.len - done,
                                    pending.off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            pending.len = 0;
            errno = e;
            return -1;
        }
        done += (size_t)n;
    }
    pending.len = 0;
    return 0;
}

static int flush(void)
{
    if (!fast())
        return 0;
    pthread_mutex_lock(&io_lock);
    int r = pending.len ? flush_locked() : 0;
    pthread_mutex_unlock(&io_lock);
    return r;
}

__attribute__((destructor)) static void flush_at_exit(void)
{
    if (flush() < 0) {
        fprintf(stderr, "mkimage-repro: writing the image failed: %s\n", strerror(errno));
        _exit(1);
    }
}

static bool is_source(int fd) { return fd >= 0 && fd < MAX_TRACKED_FD && source_fd[fd]; }

static void track_open(const char *path, int flags, int fd)
{
    if (!fast() || fd < 0 || fd >= MAX_TRACKED_FD)
        return;
    pthread_mutex_lock(&io_lock);
    source_fd[fd] = (flags & O_ACCMODE) == O_RDONLY && path && path[0] != '/';
    if (window.fd == fd)
        window.fd = -1;
    pthread_mutex_unlock(&io_lock);
}

/* Opening a file other than a source file may give a second view of the image. */
static int flush_before_open(const char *path, int flags)
{
    if ((flags & O_ACCMODE) == O_RDONLY && path && path[0] != '/')
        return 0;
    return flush();
}

int open(const char *path, int flags, ...)
{
    static int (*next)(const char *, int, ...);
    if (!next)
        next = repro_next("open");
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (flush_before_open(path, flags) < 0)
        return -1;
    int fd = next(path, flags, mode);
    track_open(path, flags, fd);
    return fd;
}

int __open_2(const char *path, int flags);
int __open_2(const char *path, int flags)
{
    static int (*next)(const char *, int);
    if (!next)
        next = repro_next("__open_2");
    if (flush_before_open(path, flags) < 0)
        return -1;
    int fd = next(path, flags);
    track_open(path, flags, fd);
    return fd;
}

int openat(int dirfd, const char *path, int flags, ...)
{
    static int (*next)(int, const char *, int, ...);
    if (!next)
        next = repro_next("openat");
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    /* Relative to a directory fd: not known to be in the tree, so no tracking. */
    if (flush() < 0)
        return -1;
    int fd = next(dirfd, path, flags, mode);
    track_open(NULL, flags, fd);
    return fd;
}

int close(int fd)
{
    static int (*next)(int);
    if (!next)
        next = repro_next("close");
    if (fast()) {
        pthread_mutex_lock(&io_lock);
        int r = 0;
        if (pending.len && (pending.fd == fd || !is_source(fd)))
            r = flush_locked();
        if (fd >= 0 && fd < MAX_TRACKED_FD)
            source_fd[fd] = 0;
        if (window.fd == fd)
            window.fd = -1;
        pthread_mutex_unlock(&io_lock);
        if (r < 0) {
            int e = errno;
            next(fd);
            errno = e;
            return -1;
        }
    }
    return next(fd);
}

static ssize_t read_source(int fd, void *buf, size_t n, off_t off)
{
    pthread_mutex_lock(&io_lock);
    if (!window.buf && !(window.buf = malloc(WINDOW))) {
        pthread_mutex_unlock(&io_lock);
        return next_pread64()(fd, buf, n, off);
    }
    /* A window shorter than WINDOW ended at end of file, so it answers any read
     * from its start on (with fewer bytes, or none, past the end). */
    bool mine = window.fd == fd && off >= window.off;
    bool hit = mine && (off + (off_t)n <= window.off + (off_t)window.len || window.len < WINDOW);
    if (!hit) {
        ssize_t r;
        do
            r = next_pread64()(fd, window.buf, WINDOW, off);
        while (r < 0 && errno == EINTR);
        if (r < 0) {
            int e = errno;
            window.fd = -1;
            pthread_mutex_unlock(&io_lock);
            errno = e;
            return -1;
        }
        window.fd = fd;
        window.off = off;
        window.len = (size_t)r;
    }
    size_t from = (size_t)(off - window.off);
    size_t avail = window.len > from ? window.len - from : 0;
    size_t take = n < avail ? n : avail;
    memcpy(buf, window.buf + from, take);
    pthread_mutex_unlock(&io_lock);
    return (ssize_t)take;
}

static ssize_t do_pread(int fd, void *buf, size_t n, off_t off)
{
    if (fast()) {
        if (is_source(fd) && n <= WINDOW)
            return read_source(fd, buf, n, off);
        if (flush() < 0)
            return -1;
    }
    return next_pread64()(fd, buf, n, off);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off) { return do_pread(fd, buf, n, off); }
ssize_t pread64(int fd, void *buf, size_t n, off64_t off) { return do_pread(fd, buf, n, off); }

ssize_t read(int fd, void *buf, size_t n)
{
    static ssize_t (*next)(int, void *, size_t);
    if (!next)
        next = repro_next("read");
    if (fast() && !is_source(fd) && flush() < 0)
        return -1;
    return next(fd, buf, n);
}

static ssize_t do_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    unsigned char *patched = repro_patch_block(buf, n);
    const unsigned char *data = patched ? patched : buf;
    ssize_t r;
    if (!fast()) {
        r = next_pwrite64()(fd, data, n, off);
        free(patched);
        return r;
    }
    pthread_mutex_lock(&io_lock);
    if (!pending.buf && !(pending.buf = malloc(PENDING_MAX))) {
        pthread_mutex_unlock(&io_lock);
        r = next_pwrite64()(fd, data, n, off);
        free(patched);
        return r;
    }
    bool appends = pending.len && pending.fd == fd && off == pending.off + (off_t)pending.len &&
                   pending.len + n <= PENDING_MAX;
    if (!appends && pending.len && flush_locked() < 0) {
        pthread_mutex_unlock(&io_lock);
        free(patched);
        return -1;
    }
    if (n >= DIRECT_MIN) {
        r = next_pwrite64()(fd, data, n, off);
    } else {
        if (!appends) {
            pending.fd = fd;
            pending.off = off;
        }
        memcpy(pending.buf + pending.len, data, n);
        pending.len += n;
        r = (ssize_t)n;
    }
    pthread_mutex_unlock(&io_lock);
    free(patched);
    return r;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) { return do_pwrite(fd, buf, n, off); }
ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    return do_pwrite(fd, buf, n, off);
}

int fsync(int fd)
{
    static int (*next)(int);
    if (!next)
        next = repro_next("fsync");
    if (flush() < 0)
        return -1;
    return next(fd);
}

int ftruncate(int fd, off_t len)
{
    static int (*next)(int, off_t);
    if (!next)
        next = repro_next("ftruncate");
    if (flush() < 0)
        return -1;
    return next(fd, len);
}

int ftruncate64(int fd, off64_t len)
{
    static int (*next)(int, off64_t);
    if (!next)
        next = repro_next("ftruncate64");
    if (flush() < 0)
        return -1;
    return next(fd, len);
}

int ioctl(int fd, unsigned long request, ...)
{
    static int (*next)(int, unsigned long, ...);
    if (!next)
        next = repro_next("ioctl");
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (flush() < 0)
        return -1;
    return next(fd, request, arg);
}
