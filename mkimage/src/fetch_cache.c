#include "fetch_cache.h"

#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_file.h"

int fetch_default_cache_dir(char out[PATH_MAX], mk_err *err)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && *xdg == '/')
        n = snprintf(out, PATH_MAX, "%s/revm/mkimage", xdg);
    else if (home && *home)
        n = snprintf(out, PATH_MAX, "%s/.cache/revm/mkimage", home);
    else
        return mk_fail(err, "cache: neither XDG_CACHE_HOME nor HOME is set; give --cache DIR");
    if (n < 0 || n >= PATH_MAX)
        return mk_fail(err, "cache: directory path too long");
    return 0;
}

int cache_mkdirs(const char *dir, mk_err *err)
{
    char p[PATH_MAX];
    if (strlen(dir) >= sizeof p)
        return mk_fail(err, "%s: path too long", dir);
    strcpy(p, dir);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return mk_fail_errno(err, errno, "%s: cannot create directory", p);
            *s = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
        return mk_fail(err, "%s: not a directory", p);
    return 0;
}

int cache_lock_open(const char *path, int *fd_out, mk_err *err)
{
    for (;;) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return mk_fail_errno(err, errno, "%s: cannot open", path);
        while (flock(fd, LOCK_EX) < 0) {
            if (errno != EINTR) {
                int e = errno;
                close(fd);
                return mk_fail_errno(err, e, "%s: cannot lock", path);
            }
        }
        /* Whoever held the lock may have renamed or removed the file meanwhile. */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            *fd_out = fd;
            return 0;
        }
        close(fd);
    }
}

int read_small_file(const char *path, size_t max, char **data, size_t *len, mk_err *err)
{
    *data = cm_read_file(path, max, len);
    if (*data)
        return 0;
    if (errno == EFBIG)
        return mk_fail(err, "%s: larger than %zu bytes", path, max);
    if (errno == EINVAL)
        return mk_fail(err, "%s: not a regular file", path);
    return mk_fail_errno(err, errno, "%s: cannot read", path);
}
