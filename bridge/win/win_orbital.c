/* The Orbital back end (win_orbital.h). A guest window is an Orbital window only while it is
 * mapped: Orbital has no "hide" command that every version knows, so unmap closes the window
 * and map opens it again (with the content the table kept). */
#include "win_orbital.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct orb_win {
    int fd;
    uint32_t *px;
    uint16_t w, h;
} orb_win;

static orb_win *ow(const win_window *w)
{
    return w->be;
}

int win_orb_fd(const win_window *w)
{
    return ow(w) ? ow(w)->fd : -1;
}

static void cmd(win_orb *o, orb_win *b, const char *fmt, long v1, long v2, long v3, long v4)
{
    char buf[96];
    int n = snprintf(buf, sizeof buf, fmt, v1, v2, v3, v4);
    if (n > 0 && (size_t)n < sizeof buf)
        o->sys.write(o->sys.ctx, b->fd, buf, (size_t)n);
}

static void copy_rect(orb_win *b, const win_window *w, int x, int y, int rw, int rh)
{
    for (int r = 0; r < rh; r++)
        for (int c = 0; c < rw; c++)
            b->px[(size_t)(y + r) * b->w + (size_t)(x + c)] =
                0xff000000u | w->px[(size_t)(y + r) * w->w + (size_t)(x + c)];
}

/* Maps the window's Orbital buffer at the table's size and fills it from the table's copy;
 * when mapping fails the Orbital window is closed (shown again at the next map). */
static void map_fill(win_orb *o, orb_win *b, const win_window *w)
{
    b->px = o->sys.map(o->sys.ctx, b->fd, w->w, w->h);
    if (!b->px) {
        o->sys.close(o->sys.ctx, b->fd);
        b->fd = -1;
        return;
    }
    b->w = w->w, b->h = w->h;
    copy_rect(b, w, 0, 0, w->w, w->h);
    o->sys.sync(o->sys.ctx, b->fd);
}

static void show(win_orb *o, win_window *w)
{
    orb_win *b = ow(w);
    if (b->fd >= 0)
        return;
    /* The title is the last path element: Orbital takes the rest of the path as it is. */
    char path[64 + WIN_TITLE_MAX];
    snprintf(path, sizeof path, "/scheme/orbital/%s/%d/%d/%u/%u/%s",
             w->override_redirect ? "alf" : "ar", (int)w->hx, (int)w->hy, w->w, w->h, w->title);
    b->fd = o->sys.open(o->sys.ctx, path);
    if (b->fd >= 0)
        map_fill(o, b, w);
}

static void hide(win_orb *o, orb_win *b)
{
    if (b->fd < 0)
        return;
    o->sys.unmap(o->sys.ctx, b->fd, b->px, b->w, b->h);
    o->sys.close(o->sys.ctx, b->fd);
    b->fd = -1, b->px = NULL;
}

static int be_create(void *ctx, win_window *w)
{
    (void)ctx;
    orb_win *b = calloc(1, sizeof *b);
    if (!b)
        return -1;
    b->fd = -1;
    w->be = b;
    return 0;
}

static void be_destroy(void *ctx, win_window *w)
{
    hide(ctx, ow(w));
    free(w->be);
    w->be = NULL;
}

static void be_map(void *ctx, win_window *w)
{
    if (w->mapped)
        show(ctx, w);
    else
        hide(ctx, ow(w));
}

static void be_geometry(void *ctx, win_window *w, bool resized)
{
    win_orb *o = ctx;
    orb_win *b = ow(w);
    if (w->override_redirect)
        win_place(o->table, w, &w->hx, &w->hy);
    if (b->fd < 0)
        return;
    if (w->override_redirect)
        cmd(o, b, "P,%ld,%ld", w->hx, w->hy, 0, 0);
    if (resized) {
        /* Orbital's own order: unmap, resize, map again (orbclient's set_size). */
        o->sys.unmap(o->sys.ctx, b->fd, b->px, b->w, b->h);
        cmd(o, b, "S,%ld,%ld", w->w, w->h, 0, 0);
        map_fill(o, b, w);
    }
}

static void be_title(void *ctx, win_window *w)
{
    win_orb *o = ctx;
    orb_win *b = ow(w);
    if (b->fd < 0)
        return;
    char buf[4 + WIN_TITLE_MAX];
    int n = snprintf(buf, sizeof buf, "T,%s", w->title);
    o->sys.write(o->sys.ctx, b->fd, buf, (size_t)n);
}

static void be_present(void *ctx, win_window *w, int x, int y, int rw, int rh)
{
    win_orb *o = ctx;
    orb_win *b = ow(w);
    if (b->fd < 0 || b->w != w->w || b->h != w->h)
        return;
    copy_rect(b, w, x, y, rw, rh);
    cmd(o, b, "Y,%ld,%ld,%ld,%ld", x, y, rw, rh);
    o->sys.sync(o->sys.ctx, b->fd);
}

static bool clip_same(win_orb *o, const char *t, size_t n)
{
    return o->clip && o->clip_n == n && !memcmp(o->clip, t, n);
}

static void clip_remember(win_orb *o, const char *t, size_t n)
{
    char *c = malloc(n + 1);
    if (!c)
        return;
    memcpy(c, t, n);
    c[n] = 0;
    free(o->clip);
    o->clip = c, o->clip_n = n;
}

/* The guest's clipboard into Orbital's, through any window that is shown. */
static void be_clipboard(void *ctx, const char *text, size_t n)
{
    win_orb *o = ctx;
    if (!o->sys.clip_write || clip_same(o, text, n))
        return;
    for (size_t i = 0; i < o->table->count; i++) {
        int fd = win_orb_fd(o->table->win[i]);
        if (fd >= 0 && o->sys.clip_write(o->sys.ctx, fd, text, n) == 0) {
            clip_remember(o, text, n);
            return;
        }
    }
}

/* Orbital's clipboard changed: its text to the guest (once). */
static void clip_to_guest(win_orb *o, win_window *w)
{
    int fd = win_orb_fd(w);
    if (!o->sys.clip_read || fd < 0)
        return;
    char *buf = malloc(PROTO_WIN_MAX_CLIP);
    if (!buf)
        return;
    long n = o->sys.clip_read(o->sys.ctx, fd, buf, PROTO_WIN_MAX_CLIP);
    if (n >= 0 && !memchr(buf, 0, (size_t)n) && !clip_same(o, buf, (size_t)n)) {
        clip_remember(o, buf, (size_t)n);
        win_send_clipboard(o->svc_fd, buf, (size_t)n);
    }
    free(buf);
}

void win_orb_free(win_orb *o)
{
    free(o->clip);
    o->clip = NULL;
}

void win_orb_init(win_orb *o, const win_orb_sys *sys, int svc_fd, win_table *table)
{
    memset(o, 0, sizeof *o);
    o->sys = *sys;
    o->svc_fd = svc_fd;
    o->table = table;
    o->be = (win_backend){.ctx = o, .create = be_create, .destroy = be_destroy, .map = be_map,
                          .geometry = be_geometry, .title = be_title, .present = be_present,
                          .clipboard = be_clipboard};
}

/* PS/2 set-1 scancodes (Orbital's K_*) of keys without a character, as X keysyms. */
static const struct {
    uint8_t sc;
    uint32_t ks;
} specials[] = {
    {0x01, 0xff1b}, {0x0e, 0xff08}, {0x0f, 0xff09}, {0x1c, 0xff0d}, {0x1d, 0xffe3},
    {0x2a, 0xffe1}, {0x36, 0xffe2}, {0x38, 0xffe9}, {0x64, 0xfe03}, {0x3a, 0xffe5},
    {0x47, 0xff50}, {0x48, 0xff52}, {0x49, 0xff55}, {0x4b, 0xff51}, {0x4d, 0xff53},
    {0x4f, 0xff57}, {0x50, 0xff54}, {0x51, 0xff56}, {0x53, 0xffff}, {0x3b, 0xffbe},
    {0x3c, 0xffbf}, {0x3d, 0xffc0}, {0x3e, 0xffc1}, {0x3f, 0xffc2}, {0x40, 0xffc3},
    {0x41, 0xffc4}, {0x42, 0xffc5}, {0x43, 0xffc6}, {0x44, 0xffc7}, {0x57, 0xffc8},
    {0x58, 0xffc9},
};

uint32_t win_orb_keysym(int64_t character, uint8_t scancode)
{
    /* Keys whose character is a control code are better known by their scancode. */
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
        if (specials[i].sc == scancode)
            return specials[i].ks;
    if (character >= 0x20 && character < 0x7f)
        return (uint32_t)character;
    if (character >= 0xa0 && character <= 0xff)
        return (uint32_t)character;
    if (character > 0xff && character <= 0x10ffff && !(character >= 0xd800 && character <= 0xdfff))
        return 0x01000000u | (uint32_t)character;
    return 0;
}

static int32_t clamp32(int64_t v)
{
    return v < -32768 ? -32768 : v > 32767 ? 32767 : (int32_t)v;
}

void win_orb_event_in(win_orb *o, win_window *w, const win_orb_event *ev)
{
    switch (ev->code) {
    case WIN_ORB_KEY: {
        uint32_t ks = win_orb_keysym(ev->a, (uint8_t)ev->b);
        if (ks)
            win_send_key(o->svc_fd, w->id, (ev->b & 0x100) != 0, ks);
        break;
    }
    case WIN_ORB_MOUSE:
        o->mx = clamp32(ev->a), o->my = clamp32(ev->b);
        win_send_pointer(o->svc_fd, w->id, o->mx, o->my, 0, false);
        break;
    case WIN_ORB_BUTTON: {
        /* Orbital sends the state of left/middle/right; the guest gets each change. */
        uint8_t now = (uint8_t)(ev->a & 7);
        static const uint8_t xbutton[3] = {1, 2, 3};
        for (int i = 0; i < 3; i++)
            if ((now ^ o->buttons) & (1u << i))
                win_send_pointer(o->svc_fd, w->id, o->mx, o->my, xbutton[i], (now >> i) & 1);
        o->buttons = now;
        break;
    }
    case WIN_ORB_SCROLL: {
        /* y > 0 scrolls up (button 4), x > 0 right (7); one click per unit, bounded. */
        int64_t y = ev->b, x = ev->a;
        for (int64_t i = 0; i < (y < 0 ? -y : y) && i < 10; i++) {
            win_send_pointer(o->svc_fd, w->id, o->mx, o->my, y > 0 ? 4 : 5, true);
            win_send_pointer(o->svc_fd, w->id, o->mx, o->my, y > 0 ? 4 : 5, false);
        }
        for (int64_t i = 0; i < (x < 0 ? -x : x) && i < 10; i++) {
            win_send_pointer(o->svc_fd, w->id, o->mx, o->my, x > 0 ? 7 : 6, true);
            win_send_pointer(o->svc_fd, w->id, o->mx, o->my, x > 0 ? 7 : 6, false);
        }
        break;
    }
    case WIN_ORB_QUIT:
        win_send_close(o->svc_fd, w->id);
        break;
    case WIN_ORB_FOCUS:
        win_note_focus(o->table, w->id, ev->a > 0);
        win_send_focus(o->svc_fd, w->id, ev->a > 0);
        break;
    case WIN_ORB_MOVE:
        w->hx = clamp32(ev->a), w->hy = clamp32(ev->b);
        break;
    case WIN_ORB_RESIZE:
        if (ev->a >= 1 && ev->a <= PROTO_WIN_MAX_DIM && ev->b >= 1 && ev->b <= PROTO_WIN_MAX_DIM &&
            (ev->a != w->w || ev->b != w->h))
            win_send_resize(o->svc_fd, w->id, (uint16_t)ev->a, (uint16_t)ev->b);
        break;
    case WIN_ORB_CLIPBOARD:
    case WIN_ORB_CLIPBOARD_UPDATE:
        clip_to_guest(o, w);
        break;
    default:
        break; /* SCREEN, MOUSE_RELATIVE, DROP, ... */
    }
}

int win_orb_pump(win_orb *o, proto_rec_stream *rs, int timeout_ms)
{
    struct pollfd p[1 + PROTO_WIN_MAX_WINDOWS];
    uint32_t ids[1 + PROTO_WIN_MAX_WINDOWS];
    nfds_t n = 0;
    p[n++] = (struct pollfd){.fd = o->svc_fd, .events = POLLIN};
    for (size_t i = 0; i < o->table->count; i++) {
        int fd = win_orb_fd(o->table->win[i]);
        if (fd >= 0) {
            ids[n] = o->table->win[i]->id;
            p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
        }
    }
    if (poll(p, n, timeout_ms) < 0)
        return errno == EINTR ? 0 : -1;
    /* Window events first: the records below may destroy the windows they name. */
    for (nfds_t k = 1; k < n; k++) {
        if (!p[k].revents)
            continue;
        win_orb_event ev[16];
        long got = o->sys.read(o->sys.ctx, p[k].fd, ev, sizeof ev);
        win_window *w = win_find(o->table, ids[k]);
        for (long e = 0; w && got > 0 && e < got / (long)sizeof ev[0]; e++)
            win_orb_event_in(o, w, &ev[e]);
    }
    if (p[0].revents) {
        uint8_t in[65536];
        long got = read(o->svc_fd, in, sizeof in);
        if (got <= 0)
            return got < 0 && errno == EINTR ? 0 : -1;
        for (size_t off = 0; off < (size_t)got;) {
            size_t used;
            proto_rec r;
            int st = proto_rec_stream_feed(rs, in + off, (size_t)got - off, &used, &r);
            if (st == PROTO_BAD_FRAME)
                return -1;
            off += used;
            if (st == PROTO_FRAME)
                win_handle(o->table, &r);
        }
    }
    return 0;
}
