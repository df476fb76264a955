/* network.NAME scheme over a NIC channel (dev_scheme.h). */
#include "dev_scheme.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct net_handle {
    bool mac, nonblock, open;
} net_handle;

#define NET_SCHEME_HANDLES 32

typedef struct net_frame {
    size_t len;
    uint8_t *data; /* malloc'd, len bytes */
} net_frame;

struct dev_net_scheme {
    dev_net *net;
    dev_scheme_hooks hooks;
    net_handle handles[NET_SCHEME_HANDLES];
    net_frame *ring; /* DEV_NET_SCHEME_QUEUE frames */
    size_t head, count;
    uint64_t dropped;
    /* one waiting blocking read */
    bool waiting;
    uint32_t wait_tag;
    uint8_t *wait_buf;
    size_t wait_len;
};

dev_net_scheme *dev_net_scheme_new(dev_net *net, const dev_scheme_hooks *hooks)
{
    dev_net_scheme *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ring = malloc(sizeof(net_frame) * DEV_NET_SCHEME_QUEUE);
    if (!s->ring) {
        free(s);
        return NULL;
    }
    s->net = net;
    s->hooks = *hooks;
    return s;
}

void dev_net_scheme_free(dev_net_scheme *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->count; i++)
        free(s->ring[(s->head + i) % DEV_NET_SCHEME_QUEUE].data);
    free(s->ring), free(s);
}

void dev_net_scheme_frame(dev_net_scheme *s, const uint8_t *frame, size_t len)
{
    if (len > PROTO_DEV_MAX_FRAME)
        return; /* the engine bounded it already */
    if (s->waiting) {
        size_t n = len < s->wait_len ? len : s->wait_len;
        memcpy(s->wait_buf, frame, n);
        s->waiting = false;
        s->hooks.complete(s->hooks.ctx, s->wait_tag, (int64_t)n);
        return;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        s->dropped++;
        return;
    }
    if (s->count == DEV_NET_SCHEME_QUEUE) { /* full: the oldest frame goes, as a ring overruns */
        free(s->ring[s->head].data);
        s->head = (s->head + 1) % DEV_NET_SCHEME_QUEUE;
        s->count--;
        s->dropped++;
    }
    net_frame *f = &s->ring[(s->head + s->count) % DEV_NET_SCHEME_QUEUE];
    f->len = len;
    f->data = copy;
    memcpy(f->data, frame, len);
    s->count++;
    if (s->hooks.fevent)
        for (int i = 0; i < NET_SCHEME_HANDLES; i++)
            if (s->handles[i].open && !s->handles[i].mac)
                s->hooks.fevent(s->hooks.ctx, &s->handles[i], SCHEME_EVENT_READ);
}

static int net_openat(void *svc, const scheme_open_req *req, const scheme_caller *c, void **out,
                      uint8_t *fd_flags)
{
    (void)c;
    dev_net_scheme *s = svc;
    bool mac = !strcmp(req->path, "mac");
    if (req->path_len && !mac)
        return -ENOENT;
    for (int i = 0; i < NET_SCHEME_HANDLES; i++) {
        net_handle *h = &s->handles[i];
        if (h->open)
            continue;
        h->open = true;
        h->mac = mac;
        h->nonblock = req->flags & SCHEME_OPEN_NONBLOCK;
        *out = h;
        *fd_flags = mac ? SCHEME_FD_POSITIONED : 0;
        return 0;
    }
    return -EMFILE;
}

static void net_close(void *svc, void *h)
{
    (void)svc;
    if (h)
        ((net_handle *)h)->open = false;
}

static int64_t net_read(void *svc, void *hv, void *buf, size_t len, uint64_t off, uint32_t flags,
                        const scheme_caller *c)
{
    (void)flags;
    dev_net_scheme *s = svc;
    net_handle *h = hv;
    if (!h)
        return -EISDIR;
    if (h->mac) {
        const proto_net_info *ni = dev_net_info(s->net);
        if (!ni)
            return -EIO;
        if (off >= 6)
            return 0;
        size_t n = 6 - (size_t)off < len ? 6 - (size_t)off : len;
        memcpy(buf, ni->mac + off, n);
        return (int64_t)n;
    }
    if (s->count) {
        net_frame *f = &s->ring[s->head];
        size_t n = f->len < len ? f->len : len;
        memcpy(buf, f->data, n);
        free(f->data);
        s->head = (s->head + 1) % DEV_NET_SCHEME_QUEUE;
        s->count--;
        return (int64_t)n;
    }
    if (h->nonblock || s->waiting)
        return -EAGAIN;
    s->waiting = true;
    s->wait_tag = c->tag;
    s->wait_buf = buf;
    s->wait_len = len;
    return SCHEME_PENDING;
}

static int64_t net_write(void *svc, void *hv, const void *buf, size_t len, uint64_t off,
                         uint32_t flags, const scheme_caller *c)
{
    (void)off, (void)flags, (void)c;
    dev_net_scheme *s = svc;
    net_handle *h = hv;
    if (!h || h->mac)
        return -EBADF;
    const proto_net_info *ni = dev_net_info(s->net);
    if (!ni || !proto_net_frame_ok(len, ni->mtu))
        return -EINVAL;
    dev_net_send(s->net, buf, len); /* a full channel drops it, as a full NIC ring does */
    return (int64_t)len;
}

static int64_t net_fevent(void *svc, void *hv, uint32_t events, const scheme_caller *c)
{
    (void)c;
    dev_net_scheme *s = svc;
    net_handle *h = hv;
    if (h && !h->mac && s->count)
        return events & SCHEME_EVENT_READ;
    return 0;
}

static int net_fstat(void *svc, void *hv, scheme_stat *st, const scheme_caller *c)
{
    (void)svc, (void)c;
    net_handle *h = hv;
    memset(st, 0, sizeof *st);
    st->mode = (h && h->mac ? SCHEME_MODE_FILE : SCHEME_MODE_CHR) | 0600;
    st->size = h && h->mac ? 6 : 0;
    st->nlink = 1;
    return 0;
}

static void net_cancel(void *svc, uint32_t tag)
{
    dev_net_scheme *s = svc;
    if (s->waiting && s->wait_tag == tag)
        s->waiting = false;
}

const scheme_ops dev_net_scheme_ops = {
    .openat = net_openat,
    .close = net_close,
    .read = net_read,
    .write = net_write,
    .fevent = net_fevent,
    .fstat = net_fstat,
    .cancel = net_cancel,
};
