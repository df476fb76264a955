#include "rb_buf.h"

#include <stdlib.h>
#include <string.h>

int rb_buf_append(rb_buf *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    if (b->head + b->len + n > b->cap) {
        /* Slide the live bytes to the front before growing: the queue is mostly drained
         * from the front, so this keeps the allocation near the high-water mark. */
        if (b->head) {
            memmove(b->p, b->p + b->head, b->len);
            b->head = 0;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap < b->len + n)
                cap *= 2;
            uint8_t *p = realloc(b->p, cap);
            if (!p)
                return -1;
            b->p = p;
            b->cap = cap;
        }
    }
    memcpy(b->p + b->head + b->len, data, n);
    b->len += n;
    return 0;
}

void rb_buf_consume(rb_buf *b, size_t n)
{
    if (n >= b->len) {
        b->head = b->len = 0;
        /* A big buffer left behind by a burst is returned once it drains. */
        if (b->cap > (1u << 20))
            rb_buf_free(b);
        return;
    }
    b->head += n;
    b->len -= n;
}

void rb_buf_free(rb_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->head = b->len = b->cap = 0;
}
