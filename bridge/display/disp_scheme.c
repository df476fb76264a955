/* Redox display.* scheme adapter (display/disp_scheme.h). One framebuffer per screen, owned
 * here (page-aligned, what mmap_prep hands out); damage rectangles from the window server are
 * clipped to it and sent as UPDATE records through the display client. */
#include "disp_scheme.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheme_loop.h"

#define DISP_PAGE 4096u

bool disp_scheme_parse_path(const char *p, bool *mode_file, unsigned *vt, unsigned *screen)
{
    unsigned a, b;
    int n = 0;
    *mode_file = false;
    *vt = *screen = 0;
    if (!strncmp(p, "mode.", 5)) {
        if (p[5] < '0' || p[5] > '9' || sscanf(p + 5, "%5u%n", &b, &n) != 1 || p[5 + n])
            return false;
        *mode_file = true;
        *screen = b;
        return true;
    }
    const char *dot = strchr(p, '.');
    if (p[0] < '0' || p[0] > '9' || !dot || dot[1] < '0' || dot[1] > '9')
        return false;
    if (sscanf(p, "%5u.%5u%n", &a, &b, &n) != 2 || p[n])
        return false;
    *vt = a, *screen = b;
    return true;
}

bool disp_scheme_parse_mode(const char *buf, size_t len, uint16_t *w, uint16_t *h, uint16_t *r)
{
    char t[32];
    if (len == 0 || len >= sizeof t || memchr(buf, 0, len))
        return false;
    memcpy(t, buf, len);
    t[len] = 0;
    if (t[len - 1] == '\n')
        t[len - 1] = 0;
    /* sscanf's %u would also take spaces and signs after the 'x' or '@'. */
    if (t[0] < '0' || t[0] > '9' || t[strspn(t, "0123456789x@")])
        return false;
    unsigned a, b, c = 0;
    int n = 0;
    if (!(sscanf(t, "%5ux%5u@%4u%n", &a, &b, &c, &n) == 3 && !t[n]) &&
        !(sscanf(t, "%5ux%5u%n", &a, &b, &n) == 2 && !t[n]))
        return false;
    if (!a || !b || a > PROTO_DISP_MAX_DIM || b > PROTO_DISP_MAX_DIM || c > PROTO_DISP_MAX_REFRESH)
        return false;
    *w = (uint16_t)a, *h = (uint16_t)b, *r = (uint16_t)c;
    return true;
}

bool disp_scheme_clip(uint32_t sw, uint32_t sh, uint32_t *x, uint32_t *y, uint32_t *w, uint32_t *h)
{
    if (*x >= sw || *y >= sh || *w == 0 || *h == 0)
        return false;
    if (*w > sw - *x)
        *w = sw - *x;
    if (*h > sh - *y)
        *h = sh - *y;
    return true;
}

typedef struct disp_screen {
    uint32_t conn;         /* connector id (never 0: proto_disp_dec_conns); 0: slot unused */
    char name[PROTO_DISP_MAX_NAME + 1];
    bool gone;             /* vanished or lost its display (hot-plug) */
    uint16_t w, h;         /* current mode; 0: none set yet */
    uint8_t *fb;
    size_t fb_size;        /* page-rounded */
    /* Framebuffers replaced by a mode change stay allocated (old clients may still map
     * them) until the scheme is freed; after 8 mode changes a 9th answers EBUSY. */
    uint8_t *old[8];
    unsigned nold;
} disp_screen;

typedef struct disp_file {
    bool mode_file;        /* "mode.S" */
    unsigned screen;
    unsigned vt;
} disp_file;

struct disp_scheme {
    disp_client *dc;
    char name[64];
    proto_disp_conn conns[PROTO_DISP_MAX_CONNS];
    size_t nconns;
    disp_screen screens[PROTO_DISP_MAX_CONNS];
};

/* Screens are the connected connectors in list order; a known connector keeps its slot. */
static void map_screens(disp_scheme *d)
{
    for (size_t i = 0; i < PROTO_DISP_MAX_CONNS; i++)
        if (d->screens[i].conn)
            d->screens[i].gone = true;
    for (size_t k = 0; k < d->nconns; k++) {
        const proto_disp_conn *c = &d->conns[k];
        disp_screen *slot = NULL;
        for (size_t i = 0; i < PROTO_DISP_MAX_CONNS && !slot; i++)
            if (d->screens[i].conn == c->id)
                slot = &d->screens[i];
        if (!slot && c->connected && c->nmodes)
            for (size_t i = 0; i < PROTO_DISP_MAX_CONNS && !slot; i++)
                if (!d->screens[i].conn) {
                    slot = &d->screens[i];
                    slot->conn = c->id;
                    snprintf(slot->name, sizeof slot->name, "%s", c->name);
                }
        if (!slot)
            continue;
        slot->gone = !c->connected || !c->nmodes;
        /* The guest dropped our buffer (it went away meanwhile): the mode must be set again. */
        if (!slot->gone && (c->cur_w != slot->w || c->cur_h != slot->h))
            slot->w = slot->h = 0;
    }
}

disp_scheme *disp_scheme_new(disp_client *c, const char *scheme_name, char *err, size_t errlen)
{
    if (strlen(scheme_name) >= 64) {
        snprintf(err, errlen, "scheme name too long");
        return NULL;
    }
    disp_scheme *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->dc = c;
    strcpy(d->name, scheme_name);
    int code;
    if (disp_list(c, d->conns, PROTO_DISP_MAX_CONNS, &d->nconns, &code, err, errlen) < 0) {
        free(d);
        return NULL;
    }
    map_screens(d);
    return d;
}

void disp_scheme_free(disp_scheme *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < PROTO_DISP_MAX_CONNS; i++) {
        free(d->screens[i].fb);
        for (unsigned k = 0; k < d->screens[i].nold; k++)
            free(d->screens[i].old[k]);
    }
    free(d);
}

int disp_scheme_poll(disp_scheme *d)
{
    proto_disp_conn l[PROTO_DISP_MAX_CONNS];
    size_t n;
    int e = disp_client_event(d->dc, l, PROTO_DISP_MAX_CONNS, &n);
    if (e == 1) {
        memcpy(d->conns, l, n * sizeof l[0]);
        d->nconns = n;
        map_screens(d);
    }
    return e < 0 ? -1 : 0;
}

static const proto_disp_conn *conn_of(disp_scheme *d, uint32_t id)
{
    for (size_t i = 0; i < d->nconns; i++)
        if (d->conns[i].id == id)
            return &d->conns[i];
    return NULL;
}

/* The n-th screen in use (0-based). */
static disp_screen *screen_at(disp_scheme *d, unsigned n)
{
    for (size_t i = 0; i < PROTO_DISP_MAX_CONNS; i++)
        if (d->screens[i].conn && n-- == 0)
            return &d->screens[i];
    return NULL;
}

static int errno_of(int guest_code)
{
    return guest_code == ENODEV || guest_code == EINVAL || guest_code == ENOMEM ? guest_code : EIO;
}

/* Sets a mode (0x0: preferred) and gives the screen a fresh black framebuffer of that size. */
static int set_mode(disp_scheme *d, disp_screen *s, uint16_t w, uint16_t h, uint16_t r)
{
    /* Old framebuffers may still be mapped by clients: they are kept, up to a bound. */
    if (s->fb && s->nold == sizeof s->old / sizeof s->old[0])
        return -EBUSY;
    if (w == 0 && h == 0) {
        const proto_disp_conn *c = conn_of(d, s->conn);
        const proto_disp_mode *pm = c ? disp_preferred_mode(c) : NULL;
        if (!pm)
            return -ENODEV;
        w = pm->w, h = pm->h, r = pm->refresh;
    }
    char err[300];
    int code = 0;
    proto_disp_mode m;
    if (disp_set_mode(d->dc, s->conn, w, h, r, &m, &code, err, sizeof err) < 0) {
        fprintf(stderr, "display scheme: %s: %s\n", s->name, err);
        return code ? -errno_of(code) : -EIO;
    }
    size_t bytes = (size_t)m.w * m.h * 4;
    size_t size = (bytes + DISP_PAGE - 1) / DISP_PAGE * DISP_PAGE;
    uint8_t *fb = aligned_alloc(DISP_PAGE, size);
    if (!fb)
        return -ENOMEM;
    memset(fb, 0, size);
    if (s->fb)
        s->old[s->nold++] = s->fb;
    s->fb = fb;
    s->fb_size = size;
    s->w = m.w, s->h = m.h;
    return 0;
}

static bool parse_path(const char *p, disp_file *f)
{
    unsigned vt, screen;
    bool mode_file;
    if (!disp_scheme_parse_path(p, &mode_file, &vt, &screen))
        return false;
    memset(f, 0, sizeof *f);
    f->mode_file = mode_file, f->vt = vt, f->screen = screen;
    return true;
}

static int op_openat(void *svc, const scheme_open_req *req, const scheme_caller *c, void **out,
                     uint8_t *fd_flags)
{
    (void)c;
    disp_scheme *d = svc;
    disp_file f;
    *fd_flags = 0;
    if (!parse_path(req->path, &f))
        return -ENOENT;
    disp_screen *s = screen_at(d, f.screen);
    if (!s)
        return -ENOENT;
    if (s->gone)
        return -ENODEV;
    if (!f.mode_file && !s->w) {
        /* The guest starts black, and so does our framebuffer: nothing to send yet. */
        int r = set_mode(d, s, 0, 0, 0);
        if (r < 0)
            return r;
    }
    disp_file *h = malloc(sizeof *h);
    if (!h)
        return -ENOMEM;
    *h = f;
    *out = h;
    if (f.mode_file)
        *fd_flags = SCHEME_FD_POSITIONED;
    return 0;
}

static void op_close(void *svc, void *h)
{
    (void)svc;
    free(h);
}

static disp_screen *live_screen(disp_scheme *d, const disp_file *f, int *err)
{
    disp_screen *s = screen_at(d, f->screen);
    *err = !s ? -EBADF : s->gone || !s->w ? -ENODEV : 0;
    return *err ? NULL : s;
}

static int64_t op_fpath(void *svc, void *h, char *buf, size_t cap, const scheme_caller *c)
{
    (void)c;
    disp_scheme *d = svc;
    disp_file *f = h;
    if (!f)
        return snprintf(buf, cap, "%s:", d->name);
    disp_screen *s = screen_at(d, f->screen);
    char tmp[128];
    int n = f->mode_file ? snprintf(tmp, sizeof tmp, "%s:mode.%u", d->name, f->screen)
                         : snprintf(tmp, sizeof tmp, "%s:%u.%u/%u/%u", d->name, f->vt, f->screen,
                                    s ? s->w : 0, s ? s->h : 0);
    memcpy(buf, tmp, (size_t)n < cap ? (size_t)n : cap);
    return n;
}

static int64_t op_mmap_prep(void *svc, void *h, uint64_t off, uint64_t len, uint64_t prot,
                            const scheme_caller *c)
{
    (void)prot, (void)c;
    disp_file *f = h;
    int e;
    if (!f || f->mode_file)
        return -EBADF;
    disp_screen *s = live_screen(svc, f, &e);
    if (!s)
        return e;
    if (off % DISP_PAGE || len == 0 || off > s->fb_size || len > s->fb_size - off)
        return -EINVAL;
    return (int64_t)(uintptr_t)(s->fb + off);
}

static int64_t op_fsize(void *svc, void *h, const scheme_caller *c)
{
    (void)c;
    disp_file *f = h;
    int e;
    if (!f || f->mode_file)
        return -ESPIPE;
    disp_screen *s = live_screen(svc, f, &e);
    return s ? (int64_t)s->w * s->h * 4 : e;
}

static int send_rect(disp_scheme *d, disp_screen *s, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    /* Damage is unchecked caller input: nothing outside the screen, empty is a no-op. */
    if (!disp_scheme_clip(s->w, s->h, &x, &y, &w, &h))
        return 0;
    char err[300];
    int code = 0;
    if (disp_update(d->dc, s->conn, s->fb, (size_t)s->w * 4, (uint16_t)x, (uint16_t)y, (uint16_t)w,
                    (uint16_t)h, &code, err, sizeof err) < 0) {
        fprintf(stderr, "display scheme: %s: %s\n", s->name, err);
        return code ? -errno_of(code) : -EIO;
    }
    return 0;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int64_t write_mode(disp_scheme *d, const disp_file *f, const char *buf, size_t len)
{
    uint16_t w, h, r;
    if (!disp_scheme_parse_mode(buf, len, &w, &h, &r))
        return -EINVAL;
    disp_screen *s = screen_at(d, f->screen);
    if (!s)
        return -EBADF;
    if (s->gone)
        return -ENODEV;
    int e = set_mode(d, s, w, h, r);
    return e < 0 ? e : (int64_t)len;
}

static int64_t op_write(void *svc, void *h, const void *buf, size_t len, uint64_t off,
                        uint32_t flags, const scheme_caller *c)
{
    (void)off, (void)flags, (void)c;
    disp_scheme *d = svc;
    disp_file *f = h;
    if (!f)
        return -EBADF;
    if (f->mode_file)
        return write_mode(d, f, buf, len);
    int e;
    disp_screen *s = live_screen(d, f, &e);
    if (!s)
        return e;
    if (len == 0 || len % 16)
        return -EINVAL;
    const uint8_t *p = buf;
    for (size_t i = 0; i < len; i += 16) {
        int r = send_rect(d, s, le32(p + i), le32(p + i + 4), le32(p + i + 8), le32(p + i + 12));
        if (r < 0)
            return r;
    }
    return (int64_t)len;
}

static int op_fsync(void *svc, void *h, const scheme_caller *c)
{
    (void)c;
    disp_file *f = h;
    int e;
    if (!f || f->mode_file)
        return 0;
    disp_screen *s = live_screen(svc, f, &e);
    return s ? send_rect(svc, s, 0, 0, s->w, s->h) : e;
}

static int64_t op_read(void *svc, void *h, void *buf, size_t len, uint64_t off, uint32_t flags,
                       const scheme_caller *c)
{
    (void)flags, (void)c;
    disp_scheme *d = svc;
    disp_file *f = h;
    if (!f || !f->mode_file)
        return -EBADF;
    disp_screen *s = screen_at(d, f->screen);
    const proto_disp_conn *cn = s ? conn_of(d, s->conn) : NULL;
    if (!s || !cn)
        return -ENODEV;
    char text[64 * 24 + 32];
    size_t k = (size_t)snprintf(text, sizeof text, "%ux%u\n", s->w, s->h);
    for (unsigned i = 0; i < cn->nmodes && k < sizeof text; i++)
        k += (size_t)snprintf(text + k, sizeof text - k, "%ux%u@%u%s\n", cn->modes[i].w, cn->modes[i].h,
                              cn->modes[i].refresh, cn->modes[i].flags & PROTO_DISP_MODE_PREFERRED ? "*" : "");
    if (k > sizeof text)
        k = sizeof text;
    if (off >= k)
        return 0;
    size_t n = k - off < len ? k - off : len;
    memcpy(buf, text + off, n);
    return (int64_t)n;
}

static const scheme_ops ops = {
    .openat = op_openat,
    .close = op_close,
    .read = op_read,
    .write = op_write,
    .fsize = op_fsize,
    .fsync = op_fsync,
    .fpath = op_fpath,
    .mmap_prep = op_mmap_prep,
};

const scheme_ops *disp_scheme_ops(void) { return &ops; }

int disp_scheme_serve(disp_scheme *d, scheme_server *s, int scheme_fd)
{
    for (;;) {
        /* A HOTPLUG absorbed while an update waited for its OK leaves nothing to poll for. */
        if (disp_client_has_event(d->dc) && disp_scheme_poll(d) < 0)
            return -EIO;
        struct pollfd p[2] = {{.fd = scheme_fd, .events = POLLIN},
                              {.fd = disp_client_fd(d->dc), .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (p[1].revents && disp_scheme_poll(d) < 0) {
            fprintf(stderr, "display scheme: %s\n", disp_client_why(d->dc));
            return -EIO;
        }
        if (p[0].revents) {
            int r = scheme_loop_handle_ready(s, scheme_fd);
            if (r == 0)
                return 0;
            if (r < 0 && r != -EAGAIN && r != -EPROTO)
                return r;
        }
    }
}
