/* The Redox-manifest multi-call of revm (see launch_argv.h). */
#include "launch_argv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARGV_FILE_MAX (64 * 1024) /* the launcher writes far less */
#define ARGV_MAX_ARGS 512

/* argv[0] as a path: as given when it has a slash, else found in PATH like the shell did. */
static bool locate(const char *a0, char *out, size_t cap)
{
    if (strchr(a0, '/'))
        return snprintf(out, cap, "%s", a0) < (int)cap;
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p;) {
        size_t n = strcspn(p, ":");
        if (n && snprintf(out, cap, "%.*s/%s", (int)n, p, a0) < (int)cap && access(out, X_OK) == 0)
            return true;
        p += n + (p[n] == ':');
    }
    return false;
}

int cli_launch_argv(int *argc, char ***argv)
{
    if (*argc < 1 || !(*argv)[0])
        return 0;
    const char *a0 = (*argv)[0], *base = strrchr(a0, '/');
    base = base ? base + 1 : a0;
    if (strncmp(base, "revm-", 5) != 0)
        return 0;
    char self[PATH_MAX], file[PATH_MAX + 8];
    if (!locate(a0, self, sizeof self) || snprintf(file, sizeof file, "%s.argv", self) >= (int)sizeof file)
        return 0;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* an ordinary revm-something name: nothing to do */
    static char buf[ARGV_FILE_MAX + 1];
    size_t n = 0;
    ssize_t r;
    while (n < ARGV_FILE_MAX && (r = read(fd, buf + n, ARGV_FILE_MAX - n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "revm: %s: %s\n", file, strerror(errno));
            close(fd);
            return -1;
        }
        n += (size_t)r;
    }
    close(fd);
    if (n == 0 || n >= ARGV_FILE_MAX || buf[n - 1] != 0) {
        fprintf(stderr, "revm: %s: not a NUL-separated argument list\n", file);
        return -1;
    }
    size_t extra = 0;
    for (size_t i = 0; i < n; i++)
        extra += buf[i] == 0;
    if (extra > ARGV_MAX_ARGS) {
        fprintf(stderr, "revm: %s: more than %d arguments\n", file, ARGV_MAX_ARGS);
        return -1;
    }
    char **nv = calloc(extra + (size_t)*argc + 1, sizeof *nv);
    if (!nv) {
        fprintf(stderr, "revm: out of memory\n");
        return -1;
    }
    size_t k = 0;
    nv[k++] = (*argv)[0];
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
        nv[k++] = buf + i;
    for (int i = 1; i < *argc; i++)
        nv[k++] = (*argv)[i];
    nv[k] = NULL;
    *argc = (int)k;
    *argv = nv; /* lives as long as the process */
    return 0;
}
