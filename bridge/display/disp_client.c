/* Display service client (display/disp_client.h). The guest is untrusted: every record it
 * sends is length-bounded by rb_svc_recv and decoded with the checked proto_disp_* decoders;
 * replies must answer the request in flight, in order. */
#include "disp_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_io.h"
#include "cm_text.h"
#include "rb_svc.h"

#define DISP_MAX_INFLIGHT 16u

struct disp_client {
    int fd;
    uint32_t next_tag;
    char why[256];
    bool hot;                              /* a HOTPLUG arrived and was not reported yet */
    size_t hot_n;
    proto_disp_conn hot_list[PROTO_DISP_MAX_CONNS];
    uint8_t buf[PROTO_DISP_MAX_EVENT];
    uint8_t *band;                         /* packed rows when the source stride has padding */
};

disp_client *disp_client_new(int fd)
{
    disp_client *c = calloc(1, sizeof *c);
    if (c) {
        c->fd = fd;
        c->next_tag = 1;
    }
    return c;
}

void disp_client_free(disp_client *c)
{
    if (c) {
        free(c->band);
        free(c);
    }
}

int disp_client_fd(const disp_client *c) { return c->fd; }
const char *disp_client_why(const disp_client *c) { return c->why; }

static int broken(disp_client *c, const char *fmt, ...)
{
    if (!c->why[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, sizeof c->why, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static uint32_t new_tag(disp_client *c)
{
    uint32_t t = c->next_tag++;
    if (c->next_tag == 0)
        c->next_tag = 1;
    return t;
}

/* One record from the guest into c->buf. Events are absorbed here (returns 0 with
 * *type = 0); replies return 0 with their type. -1: broken. */
static int recv_one(disp_client *c, uint8_t *type, uint32_t *tag, size_t *len)
{
    if (c->why[0])
        return -1;
    if (rb_svc_recv(c->fd, c->buf, sizeof c->buf - PROTO_REC_MIN, type, tag, len) < 0) {
        if (errno == EPROTO)
            return broken(c, "display service: record from the guest is longer than %u bytes or shorter than 5",
                          PROTO_DISP_MAX_EVENT);
        return broken(c, "display service ended (%s)", errno ? strerror(errno) : "end of stream");
    }
    if (*tag != 0)
        return 0;
    if (*type != PROTO_DISP_HOTPLUG)
        return broken(c, "display service: unsolicited record 0x%02x from the guest", *type);
    const char *why = "";
    size_t n;
    proto_disp_conn tmp[PROTO_DISP_MAX_CONNS];
    if (!proto_disp_dec_conns(c->buf, *len, tmp, PROTO_DISP_MAX_CONNS, &n, &why))
        return broken(c, "display service: malformed HOTPLUG from the guest: %s", why);
    memcpy(c->hot_list, tmp, n * sizeof tmp[0]);
    c->hot_n = n;
    c->hot = true;
    *type = 0;
    return 0;
}

/* Waits for the reply to tag. -1 broken; else 0 with *type and the body in c->buf. */
static int wait_reply(disp_client *c, uint32_t want, uint8_t *type, size_t *len)
{
    for (;;) {
        uint32_t tag;
        if (recv_one(c, type, &tag, len) < 0)
            return -1;
        if (*type == 0)
            continue; /* an event */
        if (tag != want)
            return broken(c, "display service: reply tag %u from the guest, expected %u", tag, want);
        return 0;
    }
}

/* An ERROR reply (or a reply of the wrong type) as err / guest_code. */
static int reply_error(disp_client *c, uint8_t type, size_t len, int *guest_code, char *err,
                       size_t errlen, const char *what)
{
    if (type != PROTO_DISP_ERROR) {
        broken(c, "display service: record 0x%02x from the guest does not answer %s", type, what);
        snprintf(err, errlen, "%s", c->why);
        return -1;
    }
    uint32_t code;
    proto_str msg;
    if (!proto_disp_dec_error(c->buf, len, &code, &msg)) {
        broken(c, "display service: malformed ERROR from the guest");
        snprintf(err, errlen, "%s", c->why);
        return -1;
    }
    /* The message is the guest's text: it must not break our one-line errors. */
    char text[PROTO_DISP_MAX_MSG + 1];
    cm_copy_text(text, sizeof text, msg.s, msg.n);
    if (guest_code)
        *guest_code = (int)(code > 4095 ? EIO : code);
    snprintf(err, errlen, "%s: %s", what, text);
    return -1;
}

static int fail_broken(disp_client *c, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s", c->why[0] ? c->why : "display service unusable");
    return -1;
}

/* Sends one request and waits for its reply (type and body in c->buf). -1 with err when the
 * client is or becomes broken. */
static int request(disp_client *c, uint8_t type, const void *body, size_t n, uint8_t *rtype,
                   size_t *rlen, char *err, size_t errlen)
{
    uint32_t tag = new_tag(c);
    if (c->why[0] || rb_svc_send(c->fd, type, tag, body, n) < 0) {
        broken(c, "display service ended (%s)", strerror(errno));
        return fail_broken(c, err, errlen);
    }
    if (wait_reply(c, tag, rtype, rlen) < 0)
        return fail_broken(c, err, errlen);
    return 0;
}

int disp_list(disp_client *c, proto_disp_conn *out, size_t max, size_t *n, int *guest_code,
              char *err, size_t errlen)
{
    if (guest_code)
        *guest_code = 0;
    *n = 0;
    uint8_t type;
    size_t len;
    if (request(c, PROTO_DISP_LIST, NULL, 0, &type, &len, err, errlen) < 0)
        return -1;
    if (type != PROTO_DISP_CONNECTORS)
        return reply_error(c, type, len, guest_code, err, errlen, "list");
    const char *why = "";
    proto_disp_conn tmp[PROTO_DISP_MAX_CONNS];
    size_t k;
    if (!proto_disp_dec_conns(c->buf, len, tmp, PROTO_DISP_MAX_CONNS, &k, &why)) {
        broken(c, "display service: malformed CONNECTORS from the guest: %s", why);
        return fail_broken(c, err, errlen);
    }
    *n = k < max ? k : max;
    memcpy(out, tmp, *n * sizeof tmp[0]);
    return 0;
}

int disp_set_mode(disp_client *c, uint32_t conn, uint16_t w, uint16_t h, uint16_t refresh,
                  proto_disp_mode *got, int *guest_code, char *err, size_t errlen)
{
    if (guest_code)
        *guest_code = 0;
    uint8_t b[16];
    size_t n = proto_disp_enc_mode(b, sizeof b, conn, w, h, refresh);
    uint8_t type;
    size_t len;
    if (request(c, PROTO_DISP_SET_MODE, b, n, &type, &len, err, errlen) < 0)
        return -1;
    if (type != PROTO_DISP_MODE)
        return reply_error(c, type, len, guest_code, err, errlen, "set mode");
    uint32_t rc;
    uint16_t rw, rh, rr;
    if (!proto_disp_dec_mode(c->buf, len, false, &rc, &rw, &rh, &rr)) {
        broken(c, "display service: malformed MODE from the guest (size zero or above %u)", PROTO_DISP_MAX_DIM);
        return fail_broken(c, err, errlen);
    }
    if (rc != conn || ((w || h) && (rw != w || rh != h)) || (refresh && rr != refresh)) {
        broken(c, "display service: MODE %ux%u@%u on connector %u from the guest does not match the request",
               rw, rh, rr, rc);
        return fail_broken(c, err, errlen);
    }
    got->w = rw, got->h = rh, got->refresh = rr, got->flags = 0;
    return 0;
}

int disp_update(disp_client *c, uint32_t conn, const uint8_t *fb, size_t stride, uint16_t x,
                uint16_t y, uint16_t w, uint16_t h, int *guest_code, char *err, size_t errlen)
{
    if (guest_code)
        *guest_code = 0;
    if (c->why[0])
        return fail_broken(c, err, errlen);
    if (w == 0 || h == 0 || (uint32_t)x + w > PROTO_DISP_MAX_DIM || (uint32_t)y + h > PROTO_DISP_MAX_DIM ||
        stride < ((size_t)x + w) * 4) {
        snprintf(err, errlen, "update: rectangle %ux%u+%u+%u is empty or outside the framebuffer", w, h, x, y);
        return -1;
    }
    size_t row = (size_t)w * 4;
    size_t rows_per_band = PROTO_DISP_MAX_PIXELS / row;
    bool packed = stride == row && x == 0;
    if (!packed && !c->band && !(c->band = malloc(PROTO_DISP_MAX_PIXELS))) {
        snprintf(err, errlen, "update: out of memory");
        return -1;
    }
    uint32_t tags[DISP_MAX_INFLIGHT], sent = 0, done = 0;
    int rc = 0;
    err[0] = 0;
    for (uint32_t row0 = 0; row0 < h || done < sent;) {
        /* Keep at most DISP_MAX_INFLIGHT bands unanswered; then collect one reply. */
        if (row0 < h && sent - done < DISP_MAX_INFLIGHT) {
            uint32_t nrows = h - row0 < rows_per_band ? h - row0 : (uint32_t)rows_per_band;
            const uint8_t *src = fb + (size_t)(y + row0) * stride + (size_t)x * 4;
            const uint8_t *px = src;
            if (!packed) {
                /* Pack into the band buffer; the send below finishes before the next pack. */
                for (uint32_t r = 0; r < nrows; r++)
                    memcpy(c->band + r * row, src + r * stride, row);
                px = c->band;
            }
            proto_disp_rect rect = {conn, x, (uint16_t)(y + row0), w, (uint16_t)nrows};
            uint8_t hdr[PROTO_REC_HDR + PROTO_DISP_UPDATE_HDR];
            size_t bytes = row * nrows;
            uint32_t tag = tags[sent % DISP_MAX_INFLIGHT] = new_tag(c);
            proto_rec_hdr(hdr, PROTO_DISP_UPDATE, tag, PROTO_DISP_UPDATE_HDR + bytes);
            proto_disp_enc_update_hdr(hdr + PROTO_REC_HDR, &rect);
            /* cm_send_all: a guest that went away is EPIPE here, not SIGPIPE in the caller. */
            if (cm_send_all(c->fd, hdr, sizeof hdr) < 0 || cm_send_all(c->fd, px, bytes) < 0) {
                broken(c, "display service ended (%s)", strerror(errno));
                return fail_broken(c, err, errlen);
            }
            sent++;
            row0 += nrows;
            continue;
        }
        uint8_t type;
        size_t len;
        if (wait_reply(c, tags[done % DISP_MAX_INFLIGHT], &type, &len) < 0)
            return fail_broken(c, err, errlen);
        done++;
        if (type == PROTO_DISP_OK && len == 0)
            continue;
        if (type == PROTO_DISP_OK) {
            broken(c, "display service: OK with a body from the guest");
            return fail_broken(c, err, errlen);
        }
        char e2[300];
        int code = 0;
        if (reply_error(c, type, len, &code, e2, sizeof e2, "update") < 0 && c->why[0])
            return fail_broken(c, err, errlen);
        if (!rc) { /* the first error is the one reported; the rest of the bands drain */
            rc = -1;
            if (guest_code)
                *guest_code = code;
            snprintf(err, errlen, "%s", e2);
        }
    }
    return rc;
}

bool disp_client_has_event(const disp_client *c) { return c->hot; }

int disp_client_event(disp_client *c, proto_disp_conn *out, size_t max, size_t *n)
{
    *n = 0;
    if (!c->hot) {
        uint8_t type;
        uint32_t tag;
        size_t len;
        if (recv_one(c, &type, &tag, &len) < 0)
            return -1;
        if (type != 0)
            return broken(c, "display service: reply 0x%02x from the guest with no request in flight", type);
    }
    if (!c->hot)
        return 0;
    c->hot = false;
    *n = c->hot_n < max ? c->hot_n : max;
    memcpy(out, c->hot_list, *n * sizeof out[0]);
    return 1;
}

const proto_disp_conn *disp_find_conn(const proto_disp_conn *c, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(c[i].name, name))
            return &c[i];
    return NULL;
}

const proto_disp_conn *disp_default_conn(const proto_disp_conn *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c[i].connected && c[i].nmodes)
            return &c[i];
    return NULL;
}

const proto_disp_mode *disp_preferred_mode(const proto_disp_conn *c)
{
    for (unsigned i = 0; i < c->nmodes; i++)
        if (c->modes[i].flags & PROTO_DISP_MODE_PREFERRED)
            return &c->modes[i];
    return c->nmodes ? &c->modes[0] : NULL;
}
