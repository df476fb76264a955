/* The supervisor's per-VM lock (state.h); the layout itself is librevm/rb_state.c. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "rb_state.h"

int sup_vm_lock(const char *state, const char *vm, char *err, size_t errlen)
{
    char dir[PATH_MAX], lock[PATH_MAX];
    if (!rb_state_vm_path(dir, sizeof dir, state, vm, NULL) ||
        !rb_state_vm_path(lock, sizeof lock, state, vm, "lock")) {
        snprintf(err, errlen, "VM %s: state path too long", vm);
        return -1;
    }
    if (rb_state_private_dir(dir, err, errlen) < 0)
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
