/* Port discovery and opening (see port.h). */
#include "port.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

int guest_port_find(const char *sysdir, const char *devdir, const char *name, char *out,
                    size_t cap)
{
    DIR *d = opendir(sysdir);
    if (!d)
        return -1;
    int rc = -1;
    struct dirent *e;
    while (rc < 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512], got[256];
        snprintf(path, sizeof path, "%s/%s/name", sysdir, e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, got, sizeof got - 1);
        close(fd);
        if (n <= 0)
            continue;
        got[n] = 0;
        got[strcspn(got, "\n")] = 0;
        if (strcmp(got, name) == 0 &&
            (size_t)snprintf(out, cap, "%s/%s", devdir, e->d_name) < cap)
            rc = 0;
    }
    closedir(d);
    return rc;
}

int guest_port_open(const char *path)
{
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    /* virtio-serial ports are not terminals; a serial line or console used instead
     * (--device /dev/ttyS1, /dev/hvc1) is, and must pass every byte unchanged. */
    struct termios t;
    if (fd >= 0 && isatty(fd) && tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(fd, TCSANOW, &t);
    }
    return fd;
}

/* Binds and listens on a fresh socket; on failure closes it, keeping the cause in errno. */
static int bind_listen(int fd, const struct sockaddr *a, socklen_t len)
{
    if (bind(fd, a, len) < 0 || listen(fd, 4) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int guest_listen_unix(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    return bind_listen(fd, (struct sockaddr *)&a, sizeof a);
}

/* struct sockaddr_vm from linux/vm_sockets.h, spelled out because the musl toolchain that
 * builds the static daemon ships no kernel headers; it is stable kernel ABI. */
struct guest_sockaddr_vm {
    sa_family_t svm_family;
    unsigned short svm_reserved1;
    unsigned int svm_port;
    unsigned int svm_cid;
    unsigned char svm_zero[sizeof(struct sockaddr) - sizeof(sa_family_t) - sizeof(unsigned short) -
                           2 * sizeof(unsigned int)];
};
#define GUEST_AF_VSOCK 40
#define GUEST_VMADDR_CID_ANY 0xffffffffu

int guest_listen_vsock(unsigned port)
{
    struct guest_sockaddr_vm a = {.svm_family = GUEST_AF_VSOCK, .svm_port = port,
                                  .svm_cid = GUEST_VMADDR_CID_ANY};
    int fd = socket(GUEST_AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    return bind_listen(fd, (struct sockaddr *)&a, sizeof a);
}
