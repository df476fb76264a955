/* The guest daemon's event loop: one epoll over the port, child fds and a signalfd. */
#ifndef BRIDGE_REVM_GUESTD_LOOP_H
#define BRIDGE_REVM_GUESTD_LOOP_H

#include <stdbool.h>

enum guest_mode { GUEST_MODE_AUTO, GUEST_MODE_DEVICE, GUEST_MODE_LISTEN, GUEST_MODE_FD };

/* Names the fd the daemon closes when ready (guest_opts.ready_fd); see main.c. */
#define GUEST_READY_FD_ENV "REVM_GUESTD_READY_FD"

typedef struct guest_opts {
    enum guest_mode mode;
    const char *path;      /* DEVICE: device path; LISTEN: socket path (NULL: vsock) */
    unsigned vsock_port;   /* LISTEN without path: vsock port */
    int fd;                /* FD */
    const char *port_name; /* AUTO: virtio-serial port name */
    const char *sysdir, *devdir; /* AUTO: where to look (normally /sys/class/virtio-ports, /dev) */
    bool power_button; /* act on ACPI power-button presses (power.c); only inside a VM */
    int ready_fd;      /* closed once a host has completed the handshake; -1: none */
} guest_opts;

/* Runs until SIGTERM/SIGINT (or, in FD mode, until the connection ends). Returns the exit
 * status for main. */
int guest_run(const guest_opts *o, const char *agent);

#endif
