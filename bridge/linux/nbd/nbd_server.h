/* An NBD export of one device channel (bridge/dev/dev_blk.h) on a unix socket: the newstyle
 * fixed handshake (EXPORT_NAME, INFO, GO, LIST, ABORT) and simple replies, as in the NBD
 * protocol document (NetworkBlockDevice/nbd, doc/proto.md). Any number of clients share the
 * device. Requests are handed to the engine as they arrive (concurrently); a client with too
 * much in flight is not read until replies drain. While the device channel is down (the
 * driver VM restarts), requests wait in the engine and clients just see a slow device. */
#ifndef BRIDGE_LINUX_NBD_SERVER_H
#define BRIDGE_LINUX_NBD_SERVER_H

#include <poll.h>
#include <stddef.h>

#include "dev_blk.h"

typedef struct nbd_server nbd_server;

/* Listens on the unix socket path (replacing a stale socket). NULL with err. */
nbd_server *nbd_server_new(const char *path, const char *export_name, dev_blk *blk, char *err,
                           size_t errlen);
/* Fills up to cap pollfds (the listener once the device size is known, then clients). */
size_t nbd_server_pollfds(nbd_server *s, struct pollfd *fds, size_t cap);
/* Handles the revents of the pollfds the last nbd_server_pollfds call filled. */
void nbd_server_step(nbd_server *s, const struct pollfd *fds, size_t n);
size_t nbd_server_clients(const nbd_server *s);
void nbd_server_free(nbd_server *s); /* closes clients; frees after the engine is freed */

#endif
