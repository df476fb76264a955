/* A byte queue for bytes that could not be written yet (a connection's output, a stream's
 * undelivered data). Grows on demand; callers bound what they put in (flow control credit,
 * high-water marks), so it never grows without limit. */
#ifndef BRIDGE_LIBREVM_RB_BUF_H
#define BRIDGE_LIBREVM_RB_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct rb_buf {
    uint8_t *p;
    size_t head; /* first unconsumed byte */
    size_t len;  /* bytes queued, from head */
    size_t cap;
} rb_buf;

/* 0, or -1 when memory is exhausted (nothing appended). */
int rb_buf_append(rb_buf *b, const void *data, size_t n);
static inline const uint8_t *rb_buf_data(const rb_buf *b) { return b->p + b->head; }
static inline size_t rb_buf_len(const rb_buf *b) { return b->len; }
void rb_buf_consume(rb_buf *b, size_t n);
/* Frees the storage (an idle queue should not pin a large buffer). */
void rb_buf_free(rb_buf *b);

#endif
