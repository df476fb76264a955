/* The scheme socket loop: whole Sqes in by read(), whole Cqes out by write(), on any fd that
 * keeps packet boundaries (the Redox scheme socket; a SOCK_SEQPACKET socketpair in tests).
 * Portable: only scheme_redox_create (scheme_redox.h) is Redox-specific. */
#ifndef BRIDGE_SCHEME_SCHEME_LOOP_H
#define BRIDGE_SCHEME_SCHEME_LOOP_H

#include <stdint.h>

#include "scheme_server.h"

/* Requests read at once (the kernel hands out as many whole Sqes as fit). */
#define SCHEME_LOOP_BATCH 16

/* One batch: one read of up to SCHEME_LOOP_BATCH Sqes, every answer written back in one
 * write. For services with their own event loop (call it when the fd is readable).
 * 1: handled; 0: end (the kernel unmounted the scheme / the peer closed); -EAGAIN: nothing
 * to read on a non-blocking fd; -EPROTO: a read that is not whole Sqes (the bytes are
 * dropped); other -errno: I/O error. */
int scheme_loop_handle_ready(scheme_server *s, int fd);
/* handle_ready until it returns something other than 1; returns that (0 = clean end). */
int scheme_loop_serve(scheme_server *s, int fd);
/* Answers a deferred request (scheme_server_complete) on fd. 0, -ENOENT when the tag is no
 * longer pending, or -errno. */
int scheme_loop_complete(scheme_server *s, int fd, uint32_t tag, int64_t result);
/* Tells the kernel that handle h became ready (SCHEME_EVENT_*). 0, -EBADF when h is not
 * open, or -errno. */
int scheme_loop_post_fevent(const scheme_server *s, int fd, const void *h, uint32_t events);

#endif
