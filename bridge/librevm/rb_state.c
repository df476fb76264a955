/* Where the supervisor and its clients find each other (rb_state.h). */
#include "rb_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int rb_state_private_dir(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    /* Sockets in here are authenticated by the directory's permissions: refuse a directory
     * someone else owns or others can enter. */
    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 077)) {
        snprintf(err, errlen, "%s: not a private directory owned by uid %u", path,
                 (unsigned)geteuid());
        return -1;
    }
    return 0;
}

int rb_state_dir(bool system, char out[PATH_MAX], char *err, size_t errlen)
{
    const char *env = getenv("REVM_STATE_DIR");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (env && *env)
        n = snprintf(out, PATH_MAX, "%s", env);
    else if (system && geteuid() == 0)
        n = snprintf(out, PATH_MAX, "/run/revm");
    else if (xdg && *xdg)
        n = snprintf(out, PATH_MAX, "%s/revm", xdg);
    else
        n = snprintf(out, PATH_MAX, "/tmp/revm-%u", (unsigned)geteuid());
    /* Leave room for "/<vm>/console.sock" inside sun_path. */
    if (n <= 0 || (size_t)n + 48 >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        snprintf(err, errlen, "%s: state directory path too long for unix sockets", out);
        return -1;
    }
    return rb_state_private_dir(out, err, errlen);
}

bool rb_state_vm_path(char *out, size_t cap, const char *state, const char *vm, const char *leaf)
{
    int n = leaf ? snprintf(out, cap, "%s/%s/%s", state, vm, leaf)
                 : snprintf(out, cap, "%s/%s", state, vm);
    return n > 0 && (size_t)n < cap;
}

