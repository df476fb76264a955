/* Unix-domain stream sockets (cm_unix.h). */
#include "cm_unix.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int fill(struct sockaddr_un *sa, const char *path, char *err, size_t errlen)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n >= sizeof sa->sun_path) {
        snprintf(err, errlen, "%s: socket path too long (at most %zu bytes)", path,
                 sizeof sa->sun_path - 1);
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa->sun_path, path, n);
    return 0;
}

int cm_unix_connect(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    if (fill(&sa, path, err, errlen) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int r;
    do
        r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int cm_unix_listen(const char *path, int backlog, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    if (fill(&sa, path, err, errlen) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* a stale socket from an earlier run */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, backlog) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}
