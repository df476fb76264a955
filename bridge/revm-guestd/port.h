/* Where the host is: the virtio-serial port found by name, a given device, a unix socket
 * we listen on (tests), or an inherited fd (tests). */
#ifndef BRIDGE_REVM_GUESTD_PORT_H
#define BRIDGE_REVM_GUESTD_PORT_H

#include <stddef.h>

#define GUEST_PORT_NAME "org.redox.bridge.0"

/* Looks through SYSDIR/<port>/name (normally /sys/class/virtio-ports) for NAME and writes
 * DEVDIR/<port> to out. Returns 0, or -1 when no port has that name. */
int guest_port_find(const char *sysdir, const char *devdir, const char *name, char *out,
                    size_t cap);
/* Opens a port device non-blocking and close-on-exec (a terminal is set to raw mode);
 * -1 with errno. */
int guest_port_open(const char *path);
/* Listening unix socket at path (an old socket file is replaced); -1 with errno. */
int guest_listen_unix(const char *path);
/* Listening vsock socket on PORT, any CID (hosts with vhost-vsock); -1 with errno. */
int guest_listen_vsock(unsigned port);

#endif
