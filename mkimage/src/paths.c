#include "paths.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int paths_libdir(char out[PATH_MAX], mk_err *err)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0)
        return mk_fail_errno(err, errno, "/proc/self/exe: cannot find own executable");
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return mk_fail(err, "%s: not an absolute path", exe);
    *slash = 0;
    char guess[PATH_MAX + 16];
    snprintf(guess, sizeof guess, "%s/../lib/revm", exe);
    if (!realpath(guess, out))
        return mk_fail_errno(err, errno, "%s: data directory missing", guess);
    return 0;
}

int paths_data(const char *name, char out[PATH_MAX], mk_err *err)
{
    char lib[PATH_MAX];
    if (paths_libdir(lib, err) < 0)
        return -1;
    if (snprintf(out, PATH_MAX, "%s/%s", lib, name) >= PATH_MAX)
        return mk_fail(err, "%s: path too long", name);
    if (access(out, F_OK) < 0)
        return mk_fail(err, "%s: not found in %s", name, lib);
    return 0;
}

int paths_fmt(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= size ? -1 : n;
}
