/* The host's table of guest windows (win.h): every guest record is checked against the
 * window it names before anything is copied or a back end hears of it. */
#include "win.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const drop_why[WIN_DROP_KINDS] = {
    "malformed record", "unknown window id", "window id already exists",
    "too many windows", "window too big for the pixel budget", "rectangle outside the window",
    "pixel data does not match the rectangle", "record type not sent by a guest",
    "host refused the window",
};

static int drop(win_table *t, enum win_drop kind, uint8_t type, uint32_t id)
{
    if (t->drops[kind]++ == 0 && t->log_fd >= 0)
        dprintf(t->log_fd, "revm-windows: dropped window record 0x%02x (id 0x%x): %s "
                           "(further ones of this kind are counted, not logged)\n",
                type, id, drop_why[kind]);
    return -1;
}

uint64_t win_drops(const win_table *t)
{
    uint64_t n = 0;
    for (int i = 0; i < WIN_DROP_KINDS; i++)
        n += t->drops[i];
    return n;
}

void win_table_init(win_table *t, const win_backend *be, const char *vm, int log_fd)
{
    memset(t, 0, sizeof *t);
    t->be = be;
    t->log_fd = log_fd;
    snprintf(t->vm, sizeof t->vm, "%s", vm && *vm ? vm : "app");
}

static uint32_t hash_of(uint32_t id)
{
    return (id * 2654435761u) & (WIN_HASH - 1);
}

win_window *win_find(const win_table *t, uint32_t id)
{
    for (uint32_t h = hash_of(id);; h = (h + 1) & (WIN_HASH - 1)) {
        uint16_t s = t->idx[h];
        if (!s)
            return NULL;
        if (t->win[s - 1]->id == id)
            return t->win[s - 1];
    }
}

/* The index position holding id (which must be present). */
static uint32_t idx_pos(const win_table *t, uint32_t id)
{
    uint32_t h = hash_of(id);
    while (t->win[t->idx[h] - 1]->id != id)
        h = (h + 1) & (WIN_HASH - 1);
    return h;
}

static void idx_insert(win_table *t, uint32_t id, uint16_t slot1)
{
    uint32_t h = hash_of(id);
    while (t->idx[h])
        h = (h + 1) & (WIN_HASH - 1);
    t->idx[h] = slot1;
}

/* Removes position pos with backward-shift deletion, so lookups never need tombstones and a
 * guest creating and destroying windows forever keeps lookups short. */
static void idx_delete(win_table *t, uint32_t pos)
{
    uint32_t hole = pos;
    for (uint32_t j = (pos + 1) & (WIN_HASH - 1); t->idx[j]; j = (j + 1) & (WIN_HASH - 1)) {
        uint32_t home = hash_of(t->win[t->idx[j] - 1]->id);
        /* Move j into the hole when its home is not cyclically in (hole, j]. */
        bool in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in_range) {
            t->idx[hole] = t->idx[j];
            hole = j;
        }
    }
    t->idx[hole] = 0;
}

static void remove_window(win_table *t, win_window *w, bool tell)
{
    if (tell && t->be->destroy)
        t->be->destroy(t->be->ctx, w);
    uint32_t pos = idx_pos(t, w->id);
    uint16_t slot1 = t->idx[pos];
    idx_delete(t, pos);
    size_t last = t->count - 1;
    if ((size_t)(slot1 - 1) != last) {
        /* Keep win[] dense: the last window moves into the freed slot. */
        win_window *moved = t->win[last];
        t->idx[idx_pos(t, moved->id)] = slot1;
        t->win[slot1 - 1] = moved;
    }
    t->win[last] = NULL;
    t->count--;
    t->total_px -= (uint64_t)w->w * w->h;
    if (t->focused == w->id)
        t->focused = 0;
    free(w->px);
    free(w);
}

void win_table_free(win_table *t)
{
    while (t->count)
        remove_window(t, t->win[t->count - 1], true);
}

void win_note_focus(win_table *t, uint32_t id, bool focused)
{
    win_window *w = win_find(t, id);
    if (focused && w && !w->override_redirect)
        t->focused = id;
}

void win_place(const win_table *t, const win_window *w, int32_t *hx, int32_t *hy)
{
    const win_window *a = t->focused ? win_find(t, t->focused) : NULL;
    if (w->transient_for && win_find(t, w->transient_for))
        a = win_find(t, w->transient_for);
    for (size_t i = 0; !a && i < t->count; i++)
        if (!t->win[i]->override_redirect && t->win[i]->mapped)
            a = t->win[i];
    if (!a || a == w) {
        *hx = w->x, *hy = w->y;
        return;
    }
    *hx = (int32_t)((int64_t)a->hx + w->x - a->x);
    *hy = (int32_t)((int64_t)a->hy + w->y - a->y);
}

static void set_title(win_table *t, win_window *w, const char *s, size_t n)
{
    w->titled = n > 0;
    win_title_sanitize(s, n, w->klass[0] ? w->klass : "window", t->vm, w->title, sizeof w->title);
}

static int on_create(win_table *t, const proto_win_msg *m)
{
    if (win_find(t, m->id))
        return drop(t, WIN_DROP_DUPLICATE, m->type, m->id);
    if (t->count >= PROTO_WIN_MAX_WINDOWS)
        return drop(t, WIN_DROP_TOO_MANY, m->type, m->id);
    uint64_t px = (uint64_t)m->w * m->h;
    if (t->total_px + px > WIN_MAX_TOTAL_PIXELS)
        return drop(t, WIN_DROP_TOO_BIG, m->type, m->id);
    win_window *w = calloc(1, sizeof *w);
    uint32_t *buf = calloc(px, 4);
    if (!w || !buf) {
        free(w), free(buf);
        return drop(t, WIN_DROP_TOO_BIG, m->type, m->id);
    }
    w->id = m->id, w->x = m->x, w->y = m->y, w->w = m->w, w->h = m->h;
    w->override_redirect = m->flags & PROTO_WIN_OVERRIDE;
    w->transient_for = m->aux == m->id ? 0 : m->aux;
    w->px = buf;
    set_title(t, w, "", 0);
    t->win[t->count++] = w;
    idx_insert(t, w->id, (uint16_t)t->count);
    t->total_px += px;
    win_place(t, w, &w->hx, &w->hy);
    if (t->be->create && t->be->create(t->be->ctx, w) != 0) {
        remove_window(t, w, false); /* the back end keeps nothing for it */
        return drop(t, WIN_DROP_BACKEND, m->type, m->id);
    }
    return 0;
}

static int on_geometry(win_table *t, win_window *w, const proto_win_msg *m)
{
    bool resized = m->w != w->w || m->h != w->h;
    if (resized) {
        uint64_t old = (uint64_t)w->w * w->h, px = (uint64_t)m->w * m->h;
        if (t->total_px - old + px > WIN_MAX_TOTAL_PIXELS)
            return drop(t, WIN_DROP_TOO_BIG, m->type, m->id);
        uint32_t *buf = calloc(px, 4);
        if (!buf)
            return drop(t, WIN_DROP_TOO_BIG, m->type, m->id);
        /* Keep what is still inside: the guest redraws the rest (its damage follows). */
        uint16_t cw = m->w < w->w ? m->w : w->w, ch = m->h < w->h ? m->h : w->h;
        for (size_t r = 0; r < ch; r++)
            memcpy(buf + r * m->w, w->px + r * w->w, (size_t)cw * 4);
        free(w->px);
        w->px = buf;
        t->total_px = t->total_px - old + px;
        w->w = m->w, w->h = m->h;
    }
    w->x = m->x, w->y = m->y;
    if (t->be->geometry)
        t->be->geometry(t->be->ctx, w, resized);
    return 0;
}

static int on_damage(win_table *t, win_window *w, const proto_win_msg *m)
{
    /* The rectangle must lie inside the window as the host knows it now. */
    if ((uint32_t)m->x + m->w > w->w || (uint32_t)m->y + m->h > w->h)
        return drop(t, WIN_DROP_RECT, m->type, m->id);
    uint32_t *dst = w->px + (size_t)m->y * w->w + (size_t)m->x;
    if (!proto_win_pixels_decode(m->flags, m->data, m->data_len, dst, w->w, m->w, m->h))
        return drop(t, WIN_DROP_PIXELS, m->type, m->id);
    if (t->be->present)
        t->be->present(t->be->ctx, w, m->x, m->y, m->w, m->h);
    return 0;
}

int win_handle(win_table *t, const proto_rec *rec)
{
    proto_win_msg m;
    if (!proto_win_decode(rec->type, rec->body, rec->body_len, &m))
        return drop(t, WIN_DROP_MALFORMED, rec->type, 0);
    switch (m.type) {
    case PROTO_WIN_READY: {
        char disp[PROTO_WIN_MAX_DISPLAY + 1];
        size_t k = 0;
        for (size_t i = 0; i < m.s1.n; i++)
            if ((unsigned char)m.s1.s[i] > 0x20 && (unsigned char)m.s1.s[i] < 0x7f)
                disp[k++] = m.s1.s[i];
        disp[k] = 0;
        t->ready = true;
        t->screen_w = m.w, t->screen_h = m.h;
        if (t->be->ready)
            t->be->ready(t->be->ctx, m.w, m.h, disp);
        return 0;
    }
    case PROTO_WIN_CREATE:
        return on_create(t, &m);
    case PROTO_WIN_CLIPBOARD:
        if (t->be->clipboard)
            t->be->clipboard(t->be->ctx, m.s1.s, m.s1.n);
        return 0;
    case PROTO_WIN_DESTROY: case PROTO_WIN_MAP: case PROTO_WIN_GEOMETRY: case PROTO_WIN_TITLE:
    case PROTO_WIN_CLASS: case PROTO_WIN_TRANSIENT: case PROTO_WIN_DAMAGE:
        break;
    default:
        return drop(t, WIN_DROP_DIRECTION, m.type, m.id);
    }
    win_window *w = win_find(t, m.id);
    if (!w)
        return drop(t, WIN_DROP_UNKNOWN_ID, m.type, m.id);
    switch (m.type) {
    case PROTO_WIN_DESTROY:
        remove_window(t, w, true);
        return 0;
    case PROTO_WIN_MAP:
        if (w->mapped != (m.flags != 0)) {
            w->mapped = m.flags != 0;
            if (w->mapped && w->override_redirect)
                win_place(t, w, &w->hx, &w->hy);
            if (t->be->map)
                t->be->map(t->be->ctx, w);
        }
        return 0;
    case PROTO_WIN_GEOMETRY:
        return on_geometry(t, w, &m);
    case PROTO_WIN_TITLE:
        set_title(t, w, m.s1.s, m.s1.n);
        if (t->be->title)
            t->be->title(t->be->ctx, w);
        return 0;
    case PROTO_WIN_CLASS: {
        win_text_sanitize(m.s1.s, m.s1.n, w->instance, sizeof w->instance);
        win_text_sanitize(m.s2.s, m.s2.n, w->klass, sizeof w->klass);
        if (!w->titled) /* the agent sends TITLE before CLASS: the fallback is known only now */
            set_title(t, w, "", 0);
        if (t->be->title)
            t->be->title(t->be->ctx, w);
        return 0;
    }
    case PROTO_WIN_TRANSIENT:
        w->transient_for = m.aux == w->id ? 0 : m.aux;
        if (t->be->transient)
            t->be->transient(t->be->ctx, w);
        return 0;
    default:
        return on_damage(t, w, &m);
    }
}
