/* The host side of a NIC channel (PROTOCOL.md, Device service): frames to and from the guest
 * as NET_FRAME records, the link (MAC, MTU, up/down) from NET_INFO. Frames are datagrams: when
 * the channel toward the guest is full a frame is dropped, as a NIC with a full ring drops, so
 * a slow guest never blocks the host's stack. Frames from the guest are checked against the
 * MTU it announced before anyone sees them. Portable; the TAP (Linux) and network scheme
 * (Redox) front ends sit on it. */
#ifndef BRIDGE_DEV_DEV_NET_H
#define BRIDGE_DEV_DEV_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef struct dev_net dev_net;

typedef struct dev_net_stats {
    uint64_t to_guest, from_guest;
    uint64_t dropped_full;  /* toward the guest, channel full or detached */
    uint64_t dropped_bad;   /* from the guest, outside the MTU bounds */
} dev_net_stats;

typedef struct dev_net_ops {
    void (*frame)(void *ctx, const uint8_t *frame, size_t len);
    void (*info)(void *ctx, const proto_net_info *ni); /* first NET_INFO and every change */
} dev_net_ops;

dev_net *dev_net_new(const char *name, const dev_net_ops *ops, void *ctx);
void dev_net_free(dev_net *n);
void dev_net_attach(dev_net *n, int fd); /* non-blocking service socket, not closed by us */
void dev_net_detach(dev_net *n);
/* The last NET_INFO received (ever), or NULL. */
const proto_net_info *dev_net_info(const dev_net *n);
/* Queues one frame toward the guest; false when it was dropped. */
bool dev_net_send(dev_net *n, const uint8_t *frame, size_t len);
short dev_net_events(const dev_net *n);
/* 0, or -1 when the channel ended (the caller detaches and reconnects later). */
int dev_net_step(dev_net *n, short revents);
const dev_net_stats *dev_net_get_stats(const dev_net *n);

#endif
