/* The device service's guest helper (PROTOCOL.md, Device service): `revm-guestd --service
 * device ARG` serves the inventory (ARG ""), one block device (ARG "block:NAME") or one NIC
 * (ARG "net:NAME") as records on fd 0 (requests) and fd 1 (replies, events). */
#ifndef BRIDGE_REVM_GUESTD_DEV_H
#define BRIDGE_REVM_GUESTD_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The service table's entry point. Exit code: 0 at end of input, 2 for a bad ARG or device. */
int guest_dev_main(const char *arg, uint32_t flags);

int guest_dev_inventory(void);
/* False for devices the inventory does not offer (the VM's own disks and virtio NICs). */
bool guest_dev_offered(bool block, const char *name);
int guest_dev_block(const char *path, const char *name, uint32_t flags);
int guest_dev_net(const char *ifname);

/* Where devices are found: $REVM_DEV_SYSFS and $REVM_DEV_DIR (tests) or /sys and /dev. */
const char *guest_dev_sysfs(void);
const char *guest_dev_devdir(void);

/* One record to fd 1, atomically with respect to the helper's other threads: header, then
 * head (head_len bytes), then data. 0, or -1 when the host is gone. */
int guest_dev_send(uint8_t type, uint32_t tag, const void *head, size_t head_len, const void *data,
                   size_t data_len);
/* Whole records already encoded (n bytes) to fd 1, atomically like guest_dev_send. */
int guest_dev_write(const void *p, size_t n);
/* Exactly n bytes from fd: 1, 0 at a clean end of input, -1 on error or a short end. */
int guest_dev_read_full(int fd, void *buf, size_t n);
/* Reads a small sysfs text file (first line, trailing newline removed). false when missing. */
bool guest_dev_read_line(const char *path, char *out, size_t cap);
/* One log line on stderr, prefixed with "device: ". */
void guest_dev_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
