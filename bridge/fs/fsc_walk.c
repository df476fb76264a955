/* Path resolution over the filesystem service (fsc.h, fsc_walk): the host walks a path one
 * LOOKUP at a time, so the guest never sees a path, and symlinks are resolved here against the
 * volume root (an absolute target restarts at the volume root, ".." stops at it). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fsc.h"

#define MAX_LINKS 40
#define MAX_STEPS 1024

int fsc_walk(fsc *c, const char *path, bool follow, proto_fs_entry *out)
{
    static const size_t cap = 2 * PATH_MAX;
    char rest[2 * PATH_MAX], tmp[2 * PATH_MAX];
    if (strlen(path) >= cap)
        return ENAMETOOLONG;
    snprintf(rest, cap, "%s", path);
    proto_fs_entry stack[256];
    int depth = 0, links = 0, rc = 0;
    uint64_t looked[MAX_STEPS];
    size_t nlooked = 0;
    stack[0].node = PROTO_FS_ROOT;
    if ((rc = fsc_getattr(c, PROTO_FS_ROOT, &stack[0].attr)))
        return rc;
    char *p = rest;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char comp[PROTO_FS_MAX_NAME + 1];
        if (n > PROTO_FS_MAX_NAME) {
            rc = ENAMETOOLONG;
            break;
        }
        memcpy(comp, p, n);
        comp[n] = 0;
        p += n;
        bool last = true;
        for (const char *q = p; *q; q++)
            if (*q != '/')
                last = false;
        if (!strcmp(comp, "."))
            continue;
        if (!strcmp(comp, "..")) {
            if (depth > 0)
                depth--;
            continue;
        }
        if (!S_ISDIR(stack[depth].attr.mode)) {
            rc = ENOTDIR;
            break;
        }
        if (nlooked == MAX_STEPS || depth == 255) {
            rc = ELOOP;
            break;
        }
        proto_fs_entry e;
        if ((rc = fsc_lookup(c, stack[depth].node, comp, &e)))
            break;
        looked[nlooked++] = e.node;
        if (S_ISLNK(e.attr.mode) && (!last || follow)) {
            char target[PROTO_FS_MAX_LINK + 1];
            if (++links > MAX_LINKS) {
                rc = ELOOP;
                break;
            }
            if ((rc = fsc_readlink(c, e.node, target, sizeof target)))
                break;
            if (strlen(target) + strlen(p) + 2 >= cap) {
                rc = ENAMETOOLONG;
                break;
            }
            size_t tl = strlen(target), pl = strlen(p);
            memcpy(tmp, target, tl);
            tmp[tl] = '/';
            memcpy(tmp + tl + 1, p, pl + 1);
            memcpy(rest, tmp, tl + pl + 2);
            p = rest;
            if (target[0] == '/')
                depth = 0;
            continue;
        }
        stack[++depth] = e;
    }
    /* Every lookup added a count in the guest; keep exactly one for the caller's node. */
    bool kept = false;
    for (size_t i = nlooked; i-- > 0;) {
        if (rc == 0 && !kept && looked[i] == stack[depth].node && depth > 0) {
            kept = true;
            continue;
        }
        fsc_forget(c, looked[i], 1);
    }
    if (rc == 0)
        *out = stack[depth];
    return rc;
}
