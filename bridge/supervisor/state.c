#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int make_private_dir(const char *path, char *err, size_t errlen)
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

int sup_state_dir(bool system, char out[PATH_MAX], char *err, size_t errlen)
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
    return make_private_dir(out, err, errlen);
}

bool sup_vm_path(char *out, size_t cap, const char *state, const char *vm, const char *leaf)
{
    int n = leaf ? snprintf(out, cap, "%s/%s/%s", state, vm, leaf)
                 : snprintf(out, cap, "%s/%s", state, vm);
    return n > 0 && (size_t)n < cap;
}

int sup_vm_lock(const char *state, const char *vm, char *err, size_t errlen)
{
    char dir[PATH_MAX], lock[PATH_MAX];
    if (!sup_vm_path(dir, sizeof dir, state, vm, NULL) ||
        !sup_vm_path(lock, sizeof lock, state, vm, "lock")) {
        snprintf(err, errlen, "VM %s: state path too long", vm);
        return -1;
    }
    if (make_private_dir(dir, err, errlen) < 0)
        return -1;
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", lock, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "";
        ssize_t r = pread(fd, pid, sizeof pid - 1, 0);
        pid[r > 0 ? r : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        snprintf(err, errlen, "VM %s is locked by another supervisor (pid %s)", vm,
                 *pid ? pid : "unknown");
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        snprintf(err, errlen, "%s: %s", lock, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}
