/* The host library's names for the shared unix socket helpers (common/cm_unix.c). */
#include "rb_unix.h"

#include <sys/socket.h>

#include "cm_unix.h"

int rb_unix_connect(const char *path, char *err, size_t errlen)
{
    return cm_unix_connect(path, err, errlen);
}

int rb_unix_listen(const char *path, char *err, size_t errlen)
{
    return cm_unix_listen(path, 128, err, errlen);
}

int rb_socketpair(int fds[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}
