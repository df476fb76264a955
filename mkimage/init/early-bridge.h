/* The bridge daemon started by the init, before the distribution's stage 1. */
#ifndef REVM_INIT_EARLY_BRIDGE_H
#define REVM_INIT_EARLY_BRIDGE_H

/* The bridge daemon mkimage installs (GUESTD_IMAGE_PATH). Its runit service
 * (/etc/sv/revm-bridge/run: revm-guestd --adopt) finds the instance started here as the one
 * without arguments whose parent is PID 1, and stands in for it instead of starting a second. */
#define GUESTD "/usr/libexec/revm/revm-guestd"

/* revm-guestd's GUEST_READY_FD_ENV: the fd it closes once the host has completed the
 * handshake, and how long the init waits for that before starting runit anyway (a VM booted
 * without a supervisor, a daemon that cannot start). */
#define GUESTD_READY_FD_ENV "REVM_GUESTD_READY_FD"
#define GUESTD_READY_WAIT_MS 2000

/* In the new root (the current directory is /): prepares /run, /dev/pts, /dev/shm, the
 * tmpfs mounts of /etc/fstab, the hostname and loopback, then starts GUESTD and returns
 * when it is connected to the host (at most GUESTD_READY_WAIT_MS); nothing when the image
 * has no bridge. */
void start_bridge(void);

#endif
