/* Bytes waiting to go out on the port. One contiguous buffer, so a child's output can be read
 * straight into it behind a reserved DATA header (no copy), and the whole backlog leaves in
 * one write(). It grows on demand up to a hard cap; callers stop producing well before that
 * (see GUEST_OUTQ_SOFT in guestd.h). */
#ifndef BRIDGE_REVM_GUESTD_OUTQ_H
#define BRIDGE_REVM_GUESTD_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct guest_outq {
    uint8_t *buf;
    size_t cap, head, tail; /* pending bytes are buf[head..tail) */
    size_t max;             /* hard cap on cap */
} guest_outq;

void guest_outq_init(guest_outq *q, size_t max);
void guest_outq_free(guest_outq *q);
static inline size_t guest_outq_len(const guest_outq *q) { return q->tail - q->head; }
/* Returns n writable bytes at the tail (not yet committed), or NULL when the cap forbids it. */
uint8_t *guest_outq_reserve(guest_outq *q, size_t n);
void guest_outq_commit(guest_outq *q, size_t n);
bool guest_outq_put(guest_outq *q, const void *p, size_t n);
void guest_outq_consume(guest_outq *q, size_t n);
void guest_outq_clear(guest_outq *q);
/* Gives a large buffer back when the queue is empty (called when the daemon is idle, not
 * after every write: reallocating per frame would cost throughput). */
void guest_outq_trim(guest_outq *q);
/* Writes as much as the fd takes. Returns 0, or -1 with errno (EAGAIN means "try later"). */
int guest_outq_flush(guest_outq *q, int fd);

#endif
