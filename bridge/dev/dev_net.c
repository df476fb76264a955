/* NIC channel engine (dev_net.h). */
#include "dev_net.h"

#include "dev_chan.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_OUT_CAP (1u << 20)
#define NET_IN_CAP (256u * 1024u)
#define NET_MAX_RECORD (PROTO_REC_MIN + PROTO_DEV_MAX_FRAME)

struct dev_net {
    char name[64];
    dev_net_ops ops;
    void *ctx;
    int fd;
    bool have_info, info_now;
    proto_net_info info;
    uint8_t *out, *in, *recbuf;
    size_t out_off, out_len;
    proto_rec_stream rs;
    dev_net_stats stats;
};

dev_net *dev_net_new(const char *name, const dev_net_ops *ops, void *ctx)
{
    dev_net *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->out = malloc(NET_OUT_CAP);
    n->in = malloc(NET_IN_CAP);
    n->recbuf = malloc(4 + NET_MAX_RECORD);
    if (!n->out || !n->in || !n->recbuf) {
        dev_net_free(n);
        return NULL;
    }
    snprintf(n->name, sizeof n->name, "%s", name);
    n->ops = *ops;
    n->ctx = ctx;
    n->fd = -1;
    return n;
}

void dev_net_free(dev_net *n)
{
    if (!n)
        return;
    free(n->out), free(n->in), free(n->recbuf), free(n);
}

void dev_net_attach(dev_net *n, int fd)
{
    n->fd = fd;
    n->info_now = false;
    n->out_off = n->out_len = 0;
    proto_rec_stream_init(&n->rs, n->recbuf, NET_MAX_RECORD);
}

void dev_net_detach(dev_net *n)
{
    n->fd = -1;
    n->info_now = false;
    n->out_off = n->out_len = 0;
}

const proto_net_info *dev_net_info(const dev_net *n)
{
    return n->have_info ? &n->info : NULL;
}

const dev_net_stats *dev_net_get_stats(const dev_net *n)
{
    return &n->stats;
}

bool dev_net_send(dev_net *n, const uint8_t *frame, size_t len)
{
    if (n->fd < 0 || !n->info_now || !proto_net_frame_ok(len, n->info.mtu)) {
        n->stats.dropped_full++;
        return false;
    }
    size_t need = PROTO_REC_HDR + len;
    if (!dev_chan_room(n->out, NET_OUT_CAP, &n->out_off, &n->out_len, need)) {
        n->stats.dropped_full++;
        return false;
    }
    proto_rec_hdr(n->out + n->out_len, PROTO_NET_FRAME, 0, len);
    memcpy(n->out + n->out_len + PROTO_REC_HDR, frame, len);
    n->out_len += need;
    n->stats.to_guest++;
    return true;
}

short dev_net_events(const dev_net *n)
{
    if (n->fd < 0)
        return 0;
    return (short)(POLLIN | (n->out_len > n->out_off ? POLLOUT : 0));
}

static int on_record(void *ctx, const proto_rec *rec)
{
    dev_net *n = ctx;
    if (rec->type == PROTO_NET_INFO) {
        proto_net_info ni;
        if (!proto_dec_net_info(rec->body, rec->body_len, &ni)) {
            fprintf(stderr, "%s: malformed NET_INFO: ending the channel\n", n->name);
            return -1;
        }
        /* The first NET_INFO of every channel is reported: the front end took the link down
         * when the previous channel ended. */
        bool changed = !n->info_now || memcmp(&ni, &n->info, sizeof ni) != 0;
        n->info = ni;
        n->have_info = n->info_now = true;
        if (changed && n->ops.info)
            n->ops.info(n->ctx, &ni);
        return 0;
    }
    if (rec->type == PROTO_NET_FRAME) {
        if (!n->info_now || !proto_net_frame_ok(rec->body_len, n->info.mtu)) {
            n->stats.dropped_bad++;
            return 0;
        }
        n->stats.from_guest++;
        if (n->ops.frame)
            n->ops.frame(n->ctx, rec->body, rec->body_len);
        return 0;
    }
    fprintf(stderr, "%s: unexpected record type 0x%02x: ending the channel\n", n->name, rec->type);
    return -1;
}

int dev_net_step(dev_net *n, short revents)
{
    if (n->fd < 0)
        return 0;
    if (revents & POLLIN) {
        bool bad_length;
        if (dev_chan_read(n->fd, n->in, NET_IN_CAP, 8, &n->rs, on_record, n, &bad_length) < 0) {
            if (bad_length)
                fprintf(stderr, "%s: record length out of bounds: ending the channel\n", n->name);
            return -1;
        }
    } else if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
        return -1;
    }
    return dev_chan_flush(n->fd, n->out, &n->out_off, &n->out_len);
}
