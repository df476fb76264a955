/* `revm-guestd --service display ARG` (PROTOCOL.md, Display service): reads records on stdin,
 * answers on stdout, logs one line per event on stderr. The host keeps the framebuffer; this
 * helper keeps one scanned-out buffer per connector the host set a mode on, copies damaged
 * rectangles into it and marks them dirty, and polls the connectors for hot-plug. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cm_io.h"
#include "disp.h"

#define DISP_POLL_MS 2000
#define DISP_READ_CHUNK (256u * 1024u)
#define DISP_MALFORMED (-2)

typedef struct disp_act {
    uint32_t id;           /* 0: free */
    proto_disp_mode mode;
    uint8_t *fb;
    uint32_t pitch;
} disp_act;

typedef struct disp_state {
    guest_disp_backend *be;
    proto_disp_conn conns[PROTO_DISP_MAX_CONNS];
    size_t nconns;
    disp_act act[PROTO_DISP_MAX_CONNS];
    /* The connector list last reported to the host (cur_* zeroed), to notice hot-plug. */
    uint8_t seen[PROTO_DISP_MAX_EVENT];
    size_t seen_len;
    long long last_probe_ms;
} disp_state;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_rec(uint8_t type, uint32_t tag, const void *body, size_t n)
{
    static uint8_t buf[PROTO_REC_HDR + PROTO_DISP_MAX_EVENT];
    if (n > PROTO_DISP_MAX_EVENT - PROTO_REC_MIN)
        return -1;
    proto_rec_hdr(buf, type, tag, n);
    if (n)
        memcpy(buf + PROTO_REC_HDR, body, n);
    return cm_write_all(1, buf, PROTO_REC_HDR + n);
}

static int send_error(uint32_t tag, int code, const char *msg)
{
    uint8_t b[PROTO_DISP_MAX_MSG + 8];
    size_t n = proto_disp_enc_error(b, sizeof b, (uint32_t)code, msg);
    fprintf(stderr, "display: error %d: %s\n", code, msg);
    return send_rec(PROTO_DISP_ERROR, tag, b, n);
}

static disp_act *act_of(disp_state *s, uint32_t id)
{
    for (size_t i = 0; i < PROTO_DISP_MAX_CONNS; i++)
        if (s->act[i].id == id)
            return &s->act[i];
    return NULL;
}

static const proto_disp_conn *conn_of(disp_state *s, uint32_t id)
{
    for (size_t i = 0; i < s->nconns; i++)
        if (s->conns[i].id == id)
            return &s->conns[i];
    return NULL;
}

/* Probes the connectors; buffers of connectors that vanished or lost their display go. */
static int probe(disp_state *s)
{
    char err[256];
    s->last_probe_ms = now_ms();
    if (s->be->ops->probe(s->be, s->conns, PROTO_DISP_MAX_CONNS, &s->nconns, err, sizeof err) < 0) {
        fprintf(stderr, "display: %s\n", err);
        s->nconns = 0;
    }
    for (size_t i = 0; i < PROTO_DISP_MAX_CONNS; i++) {
        disp_act *a = &s->act[i];
        if (!a->id)
            continue;
        const proto_disp_conn *c = conn_of(s, a->id);
        if (!c || !c->connected) {
            fprintf(stderr, "display: connector %u went away; its buffer is released\n", a->id);
            s->be->ops->release(s->be, a->id);
            memset(a, 0, sizeof *a);
        }
    }
    return 0;
}

/* Encodes the list: with the current modes (for the host) or without (hot-plug baseline). */
static size_t encode(disp_state *s, uint8_t *out, size_t cap, bool with_cur)
{
    proto_disp_conn tmp[PROTO_DISP_MAX_CONNS];
    memcpy(tmp, s->conns, s->nconns * sizeof tmp[0]);
    for (size_t i = 0; i < s->nconns; i++) {
        disp_act *a = act_of(s, tmp[i].id);
        if (with_cur && a) {
            tmp[i].cur_w = a->mode.w, tmp[i].cur_h = a->mode.h, tmp[i].cur_refresh = a->mode.refresh;
        } else {
            tmp[i].cur_w = tmp[i].cur_h = tmp[i].cur_refresh = 0;
        }
    }
    return proto_disp_enc_conns(out, cap, tmp, s->nconns);
}

static int send_conns(disp_state *s, uint8_t type, uint32_t tag)
{
    uint8_t b[PROTO_DISP_MAX_EVENT];
    s->seen_len = encode(s, s->seen, sizeof s->seen, false);
    size_t n = encode(s, b, sizeof b, true);
    if (!n)
        return send_error(tag, EIO, "connector list does not encode");
    return send_rec(type, tag, b, n);
}

static int on_set_mode(disp_state *s, uint32_t tag, const proto_rec *r)
{
    uint32_t id;
    uint16_t w, h, refresh;
    if (!proto_disp_dec_mode(r->body, r->body_len, true, &id, &w, &h, &refresh))
        return DISP_MALFORMED;
    const proto_disp_conn *c = conn_of(s, id);
    if (!c || !c->connected) {
        probe(s); /* the host may know of a connector newer than our last look */
        c = conn_of(s, id);
    }
    if (!c)
        return send_error(tag, EINVAL, "no such connector");
    if (!c->connected || !c->nmodes)
        return send_error(tag, ENODEV, "connector has no display attached");
    const proto_disp_mode *m = NULL;
    for (unsigned i = 0; i < c->nmodes && !m; i++) {
        const proto_disp_mode *x = &c->modes[i];
        if (w == 0 && h == 0 ? (x->flags & PROTO_DISP_MODE_PREFERRED) != 0
                             : x->w == w && x->h == h && (!refresh || x->refresh == refresh))
            m = x;
    }
    if (!m && w == 0 && h == 0)
        m = &c->modes[0];
    if (!m) {
        char msg[96];
        snprintf(msg, sizeof msg, "mode %ux%u@%u is not listed for %s", w, h, refresh, c->name);
        return send_error(tag, EINVAL, msg);
    }
    proto_disp_mode mode = *m;
    uint8_t *fb;
    uint32_t pitch;
    char err[256];
    int rc = s->be->ops->set_mode(s->be, id, &mode, &fb, &pitch, err, sizeof err);
    if (rc < 0) {
        s->last_probe_ms = 0; /* look at the connectors again right away */
        if (rc == -ENODEV) { /* it vanished: forget it (and its old buffer), the next look reports it */
            disp_act *a = act_of(s, id);
            if (a) {
                s->be->ops->release(s->be, id);
                memset(a, 0, sizeof *a);
            }
        }
        return send_error(tag, -rc, err);
    }
    /* A free slot exists: slots hold only listed connectors (probe drops the others), at most
     * PROTO_DISP_MAX_CONNS of them. */
    disp_act *a = act_of(s, id);
    if (!a)
        a = act_of(s, 0);
    if (!a) {
        s->be->ops->release(s->be, id);
        return send_error(tag, ENOMEM, "too many displays");
    }
    *a = (disp_act){id, mode, fb, pitch};
    fprintf(stderr, "display: %s set to %ux%u@%u\n", c->name, mode.w, mode.h, mode.refresh);
    uint8_t b[16];
    size_t n = proto_disp_enc_mode(b, sizeof b, id, mode.w, mode.h, mode.refresh);
    return send_rec(PROTO_DISP_MODE, tag, b, n);
}

static int on_update(disp_state *s, uint32_t tag, const proto_rec *r)
{
    proto_disp_rect rc;
    const uint8_t *px;
    if (!proto_disp_dec_update(r->body, r->body_len, &rc, &px))
        return DISP_MALFORMED;
    disp_act *a = act_of(s, rc.conn);
    if (!a)
        return send_error(tag, conn_of(s, rc.conn) ? ENODEV : EINVAL,
                          "connector has no mode set (or lost its display)");
    if ((uint32_t)rc.x + rc.w > a->mode.w || (uint32_t)rc.y + rc.h > a->mode.h)
        return send_error(tag, EINVAL, "rectangle outside the current mode");
    size_t row = (size_t)rc.w * 4;
    for (unsigned y = 0; y < rc.h; y++)
        memcpy(a->fb + (size_t)(rc.y + y) * a->pitch + (size_t)rc.x * 4, px + y * row, row);
    char err[256];
    int e = s->be->ops->dirty(s->be, rc.conn, &rc, err, sizeof err);
    if (e < 0) {
        s->last_probe_ms = 0; /* a failed KMS call: look at the connectors right away */
        return send_error(tag, -e, err);
    }
    return send_rec(PROTO_DISP_OK, tag, NULL, 0);
}

/* One record from the host. DISP_MALFORMED (the helper ends), else the write result. */
static int on_record(disp_state *s, const proto_rec *r)
{
    switch (r->type) {
    case PROTO_DISP_LIST:
        if (r->body_len)
            return DISP_MALFORMED;
        probe(s);
        return send_conns(s, PROTO_DISP_CONNECTORS, r->tag);
    case PROTO_DISP_SET_MODE:
        return on_set_mode(s, r->tag, r);
    case PROTO_DISP_UPDATE:
        return on_update(s, r->tag, r);
    default:
        return send_error(r->tag, EOPNOTSUPP, "unknown display record type");
    }
}

/* Periodic look at the connectors: HOTPLUG when the list changed since it was last reported. */
static int check_hotplug(disp_state *s)
{
    probe(s);
    uint8_t now[PROTO_DISP_MAX_EVENT];
    size_t n = encode(s, now, sizeof now, false);
    if (n == s->seen_len && !memcmp(now, s->seen, n))
        return 0;
    fprintf(stderr, "display: connectors changed\n");
    return send_conns(s, PROTO_DISP_HOTPLUG, 0);
}

int guest_disp_main(const char *arg, uint32_t flags)
{
    (void)flags;
    char err[256];
    const char *dev = arg && *arg ? arg : "/dev/dri/card0";
    guest_disp_backend *be = !strncmp(dev, "fake", 4) && (!dev[4] || dev[4] == ':')
                                 ? guest_disp_fake_open(dev, err, sizeof err)
                                 : guest_disp_kms_open(dev, err, sizeof err);
    if (!be) {
        fprintf(stderr, "display: %s\n", err);
        return 1;
    }
    static disp_state st;
    static uint8_t recbuf[4 + PROTO_DISP_MAX_RECORD];
    static uint8_t in[DISP_READ_CHUNK];
    disp_state *s = &st;
    memset(s, 0, sizeof *s);
    s->be = be;
    probe(s);
    s->seen_len = encode(s, s->seen, sizeof s->seen, false);
    fprintf(stderr, "display: %s: %zu connectors\n", dev, s->nconns);
    proto_rec_stream rs;
    proto_rec_stream_init(&rs, recbuf, PROTO_DISP_MAX_RECORD);
    int rc = 0;
    for (;;) {
        long long wait = s->last_probe_ms + DISP_POLL_MS - now_ms();
        if (wait <= 0) {
            if (check_hotplug(s) < 0)
                break;
            continue;
        }
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int pr = poll(&p, 1, (int)wait);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0)
            continue;
        ssize_t n = read(0, in, sizeof in);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the host closed the channel */
        size_t off = 0;
        while (off < (size_t)n) {
            size_t used;
            proto_rec r;
            int f = proto_rec_stream_feed(&rs, in + off, (size_t)n - off, &used, &r);
            off += used;
            if (f == PROTO_BAD_FRAME) {
                fprintf(stderr, "display: record length out of bounds from the host\n");
                rc = 1;
                goto out;
            }
            if (f != PROTO_FRAME)
                break;
            int e = on_record(s, &r);
            if (e < 0) {
                if (e == DISP_MALFORMED)
                    fprintf(stderr, "display: malformed record 0x%02x from the host\n", r.type);
                rc = 1;
                goto out;
            }
        }
    }
out:
    be->ops->close(be);
    return rc;
}
