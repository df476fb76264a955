/* Unix-domain stream sockets: how revm reaches a bridge (the guest daemon's --listen socket,
 * QEMU's chardev, or a multiplexer) on hosts that have them. Kept apart from the portable
 * protocol code: Redox reaches its VMs through its own schemes. */
#ifndef BRIDGE_LIBREVM_RB_UNIX_H
#define BRIDGE_LIBREVM_RB_UNIX_H

#include <stddef.h>

/* Connected fd, or -1 with err ("PATH: reason") and errno kept from connect(). */
int rb_unix_connect(const char *path, char *err, size_t errlen);
/* Listening fd (non-blocking, close-on-exec), replacing a stale socket file; -1 with err. */
int rb_unix_listen(const char *path, char *err, size_t errlen);
/* A connected pair (tests, in-process bridges). */
int rb_socketpair(int fds[2]);

#endif
