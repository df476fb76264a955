/* Output queue to the port (see outq.h). */
#include "outq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An idle daemon should not keep a large buffer around after a burst. */
#define OUTQ_KEEP (64u * 1024u)

void guest_outq_init(guest_outq *q, size_t max)
{
    memset(q, 0, sizeof *q);
    q->max = max;
}

void guest_outq_free(guest_outq *q)
{
    free(q->buf);
    guest_outq_init(q, q->max);
}

uint8_t *guest_outq_reserve(guest_outq *q, size_t n)
{
    if (q->cap - q->tail >= n)
        return q->buf + q->tail;
    size_t len = q->tail - q->head;
    if (len + n > q->max)
        return NULL;
    if (q->cap >= len + n && q->head > 0) {
        memmove(q->buf, q->buf + q->head, len);
    } else {
        size_t cap = q->cap ? q->cap : 16384;
        while (cap < len + n)
            cap *= 2;
        if (cap > q->max)
            cap = q->max;
        uint8_t *nb = malloc(cap);
        if (!nb)
            return NULL;
        if (len)
            memcpy(nb, q->buf + q->head, len);
        free(q->buf);
        q->buf = nb;
        q->cap = cap;
    }
    q->head = 0;
    q->tail = len;
    return q->buf + q->tail;
}

void guest_outq_commit(guest_outq *q, size_t n)
{
    q->tail += n;
}

bool guest_outq_put(guest_outq *q, const void *p, size_t n)
{
    uint8_t *d = guest_outq_reserve(q, n);
    if (!d)
        return false;
    memcpy(d, p, n);
    guest_outq_commit(q, n);
    return true;
}

void guest_outq_consume(guest_outq *q, size_t n)
{
    q->head += n;
    if (q->head == q->tail)
        q->head = q->tail = 0;
}

void guest_outq_trim(guest_outq *q)
{
    if (q->head == q->tail && q->cap > OUTQ_KEEP) {
        free(q->buf);
        q->buf = NULL;
        q->cap = q->head = q->tail = 0;
    }
}

void guest_outq_clear(guest_outq *q)
{
    guest_outq_consume(q, q->tail - q->head);
}

int guest_outq_flush(guest_outq *q, int fd)
{
    while (q->tail > q->head) {
        ssize_t w = write(fd, q->buf + q->head, q->tail - q->head);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        guest_outq_consume(q, (size_t)w);
    }
    return 0;
}
