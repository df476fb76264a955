/* Whole files (cm_file.h). */
#include "cm_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_io.h"

char *cm_read_file(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = S_ISREG(st.st_mode) ? errno : EINVAL;
        close(fd);
        errno = e;
        return NULL;
    }
    /* The size is a hint (a /proc or /sys file says 0 or 4096): read up to max + 1 bytes to
     * tell "exactly max" from "more". */
    size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 && (size_t)st.st_size <= max
                     ? (size_t)st.st_size + 1 : (max < 65536 ? max + 1 : 65536);
    char *buf = malloc(cap + 1);
    size_t n = 0;
    for (;;) {
        if (!buf)
            break;
        ssize_t r = cm_read_full(fd, buf + n, cap - n);
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        n += (size_t)r;
        if (n > max) {
            free(buf);
            close(fd);
            errno = EFBIG;
            return NULL;
        }
        if (n < cap)
            break;
        size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
        char *g = realloc(buf, ncap + 1);
        if (!g) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = g;
        cap = ncap;
    }
    close(fd);
    if (!buf) {
        errno = ENOMEM;
        return NULL;
    }
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

ssize_t cm_read_file_buf(const char *path, void *buf, size_t max)
{
    /* O_NONBLOCK: a FIFO put where a file is expected must not hang the caller. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)max) {
        int e = errno;
        e = fstat(fd, &st) < 0 ? e : !S_ISREG(st.st_mode) ? EINVAL : EFBIG;
        close(fd);
        errno = e;
        return -1;
    }
    ssize_t n = cm_read_full(fd, buf, max);
    int e = errno;
    close(fd);
    errno = e;
    return n;
}

int cm_mkdir_p(const char *path, mode_t mode)
{
    char p[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof p) {
        errno = n ? ENAMETOOLONG : ENOENT;
        return -1;
    }
    memcpy(p, path, n + 1);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(p, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int cm_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    /* Hidden temporary name in the same directory (so rename is atomic): readers that scan
     * the directory, like a launcher reading every entry, skip dot files. */
    char tmp[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int dl = slash ? (int)(slash - path + 1) : 0;
    int k = snprintf(tmp, sizeof tmp, "%.*s.%s.tmp-%ld", dl, path, path + dl, (long)getpid());
    if (k < 0 || (size_t)k >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -1;
    if (cm_write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}
