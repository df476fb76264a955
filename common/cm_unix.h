/* Unix-domain stream sockets: the supervisor's control and client sockets, QEMU's chardevs,
 * the guest daemon's --listen mode, the service front ends. (Redox reaches its VMs through
 * its own schemes; only Linux-side code uses these.) */
#ifndef COMMON_CM_UNIX_H
#define COMMON_CM_UNIX_H

#include <stddef.h>

/* Connected fd (close-on-exec), or -1 with err ("PATH: reason") and errno from connect(). */
int cm_unix_connect(const char *path, char *err, size_t errlen);
/* Listening fd (non-blocking, close-on-exec), replacing a stale socket file; -1 with err. */
int cm_unix_listen(const char *path, int backlog, char *err, size_t errlen);

#endif
