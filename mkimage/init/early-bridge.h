/* The bridge daemon started by the init, before the distribution's stage 1. */
#ifndef REVM_INIT_EARLY_BRIDGE_H
#define REVM_INIT_EARLY_BRIDGE_H

/* The bridge daemon mkimage installs (GUESTD_IMAGE_PATH). Its runit service
 * (/etc/sv/revm-bridge/run: revm-guestd --adopt) finds the instance started here as the one
 * without arguments whose parent is PID 1, and stands in for it instead of starting a second. */
#define GUESTD "/usr/libexec/revm/revm-guestd"

/* In the new root (the current directory is /): prepares /run, /dev/pts, /dev/shm, the
 * tmpfs mounts of /etc/fstab, the hostname and loopback, then starts GUESTD; nothing when
 * the image has no bridge. */
void start_bridge(void);

#endif
