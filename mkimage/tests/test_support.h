/* Fixture helpers shared by the mkimage unit tests: scratch directories under
 * $BUILD/tmp (never the source tree, and removed by each test's teardown), shell
 * commands that must succeed, and whole-file reads. Include after <cmocka.h>. */
#ifndef MKIMAGE_TEST_SUPPORT_H
#define MKIMAGE_TEST_SUPPORT_H

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* The build tree: $BUILD as the Makefile exports it, else ./build. */
static inline const char *ts_build_dir(void)
{
    const char *b = getenv("BUILD");
    return b && *b ? b : "build";
}

/* Creates a fresh directory $BUILD/tmp/NAME.XXXXXX into out. 0, or -1 when it
 * does not fit or cannot be made (a setup function returns that to cmocka). */
static inline int ts_scratch_dir(char *out, size_t size, const char *name)
{
    char base[PATH_MAX];
    int n = snprintf(base, sizeof base, "%s/tmp", ts_build_dir());
    if (n < 0 || (size_t)n >= sizeof base)
        return -1;
    mkdir(base, 0755);
    n = snprintf(out, size, "%s/%s.XXXXXX", base, name);
    if (n < 0 || (size_t)n >= size)
        return -1;
    return mkdtemp(out) ? 0 : -1;
}

/* rm -rf of a scratch directory, for teardown: 0 or -1. */
static inline int ts_remove_tree(const char *dir)
{
    char cmd[PATH_MAX + 32];
    int n = snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs a shell command built from fmt; the test fails (naming the command) unless
 * it exits 0. */
static inline void ts_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void ts_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd)
        fail_msg("command too long: %.200s...", cmd);
    int r = system(cmd);
    if (r != 0)
        fail_msg("command failed (%d): %s", r, cmd);
}

/* snprintf that fails the test instead of truncating. */
static inline void ts_snprintf(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void ts_snprintf(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < size);
}

/* Reads a whole file into a malloc'd buffer (one spare byte past the end, for a
 * NUL if the caller wants one); NULL when it cannot be opened. */
static inline unsigned char *ts_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    assert_true(n >= 0);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

#endif
