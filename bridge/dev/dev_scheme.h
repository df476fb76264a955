/* Redox scheme adapters of the device service, written against bridge/scheme/ (the ops-table
 * scheme layer): `disk.NAME` for the driver VM's disks and `network.NAME` for its NICs, with
 * the semantics of Redox's own drivers, so Redox's partition code and network stack use them
 * like any other disk or NIC. On Linux they are tested by feeding request packets through
 * scheme_harness; on Redox the device daemon registers them with scheme_redox_create and
 * drives them from its loop together with the bridge sockets.
 *
 * disk scheme: the root lists the disks "0", "1", ... (getdents); "N" is disk N, positioned:
 *   reads and writes at byte offsets (Redox uses whole sectors), size from fsize/fstat, fsync
 *   returns at once because every write is FUA (durable when answered, as Redox drivers
 *   write through). Partitions ("NpM") are not offered yet.
 * network scheme: "" is the data handle (a read returns one Ethernet frame, blocking unless
 *   opened O_NONBLOCK, then EAGAIN; a write sends one frame; fevent READ when a frame is
 *   queued); "mac" reads the 6-byte MAC address, as e1000d and virtio-netd offer it.
 *
 * Requests that wait (a disk read on the bridge, a network read with no frame) are answered
 * later through the `complete` hook (on Redox: scheme_loop_complete). Their data go through
 * the adapter's own buffers, so a request cancelled by the kernel never has its caller's
 * buffer written afterwards. */
#ifndef BRIDGE_DEV_DEV_SCHEME_H
#define BRIDGE_DEV_DEV_SCHEME_H

#include <stddef.h>
#include <stdint.h>

#include "dev_blk.h"
#include "dev_net.h"
#include "scheme_server.h"

typedef struct dev_scheme_hooks {
    /* Answer a deferred request: the daemon calls scheme_server_complete (or
     * scheme_loop_complete) and sends the Cqe. */
    void (*complete)(void *ctx, uint32_t tag, int64_t result);
    /* Readiness of a handle changed (network frames arrived). */
    void (*fevent)(void *ctx, void *handle, uint32_t events);
    void *ctx;
} dev_scheme_hooks;

#define DEV_DISK_SCHEME_MAX 16

typedef struct dev_disk_scheme dev_disk_scheme;
dev_disk_scheme *dev_disk_scheme_new(const dev_scheme_hooks *hooks);
/* Disk N (in call order): an engine whose BLK_INFO has arrived. -1 when full. */
int dev_disk_scheme_add(dev_disk_scheme *d, dev_blk *blk);
void dev_disk_scheme_free(dev_disk_scheme *d); /* after the engines fail what is pending */
extern const scheme_ops dev_disk_scheme_ops;

#define DEV_NET_SCHEME_QUEUE 256

typedef struct dev_net_scheme dev_net_scheme;
dev_net_scheme *dev_net_scheme_new(dev_net *net, const dev_scheme_hooks *hooks);
/* From the engine's frame callback: queues the frame (dropping the oldest when full) or
 * answers a waiting read. */
void dev_net_scheme_frame(dev_net_scheme *s, const uint8_t *frame, size_t len);
void dev_net_scheme_free(dev_net_scheme *s);
extern const scheme_ops dev_net_scheme_ops;

#endif
