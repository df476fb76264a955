/* Where revm finds its helper programs (revm-fuse, revm-windows, revm-devices): installed
 * beside it, so a build tree and an installed tree both work without a search path. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void cli_sibling(const char *name, char *out, size_t cap)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    char *slash = n > 0 ? memrchr(self, '/', (size_t)n) : NULL;
    if (!slash) {
        snprintf(out, cap, "%s", name);
        return;
    }
    snprintf(out, cap, "%.*s/%s", (int)(slash - self), self, name);
}
