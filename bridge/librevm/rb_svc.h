/* A record service (PROTOCOL.md, Service channels) as one local socket: the host libraries of
 * the fs, device, window and display services read and write records on rb_svc_fd() with
 * ordinary I/O, and never see bridge frames. A background thread pumps the socket over the
 * bridge with the exec session's flow control (rb_service_start), so a service that stops
 * reading stalls only its own channel.
 *
 * The same fd shape comes from rb_svc_spawn_local, which runs a helper (e.g.
 * `revm-guestd --service fs DIR`) as a local child: service libraries are tested against the
 * real guest helper without a VM.
 *
 * End of service: reading the fd gives EOF when the helper exits or the bridge drops;
 * rb_svc_why() then says why. Closing: rb_svc_close (ends the channel, joins, frees). */
#ifndef BRIDGE_LIBREVM_RB_SVC_H
#define BRIDGE_LIBREVM_RB_SVC_H

#include <stddef.h>
#include <stdint.h>

typedef struct rb_svc rb_svc;

/* bridge_fd: a connected stream to a bridge: revmd's client socket for a VM, or a guest
 * daemon's socket. Takes ownership (closed on failure too). log_fd receives the helper's
 * stderr lines (-1: dropped). Handshake and OPEN happen here: NULL with err when the bridge
 * or the guest refuses (e.g. "service 2 not offered by this guest"). */
rb_svc *rb_svc_open(int bridge_fd, uint16_t service, uint32_t flags, const char *arg,
                    int log_fd, char *err, size_t errlen);
/* Runs argv[0] (absolute path) locally with stdin/stdout on the service socket and stderr
 * inherited. env: NULL-terminated extra NAME=value entries, or NULL. */
rb_svc *rb_svc_spawn_local(char *const argv[], char *const env[], char *err, size_t errlen);

/* The local end: blocking, SOCK_STREAM, record bytes in both directions. Owned by the rb_svc. */
int rb_svc_fd(const rb_svc *s);
/* Why the service ended ("" while it runs). */
const char *rb_svc_why(rb_svc *s);
void rb_svc_close(rb_svc *s);

/* Blocking helpers for simple clients: whole record out, whole record in (into buf of cap
 * bytes; the record's header is checked against cap). 0, or -1 with errno (EPROTO: a record
 * out of bounds; ECONNRESET: the service ended). */
int rb_svc_send(int fd, uint8_t type, uint32_t tag, const void *body, size_t len);
int rb_svc_recv(int fd, uint8_t *buf, size_t cap, uint8_t *type, uint32_t *tag, size_t *body_len);

#endif
