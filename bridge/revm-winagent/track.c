/* Top-level window tracking and damage streaming (agent.h). The agent is not a window
 * manager: programs map and place their windows themselves; we watch the root's children
 * (SubstructureNotify), their properties, and their XDamage, and read pixels from each
 * window's own composite pixmap (so overlapping windows do not hide each other). */
#include "agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xcb/composite.h>
#include <xcb/xfixes.h>

wa_window *wa_find(wa *a, xcb_window_t id)
{
    for (size_t i = 0; i < a->count; i++)
        if (a->win[i].id == id)
            return &a->win[i];
    return NULL;
}

static void send_title(wa *a, xcb_window_t id)
{
    char buf[PROTO_WIN_MAX_TITLE];
    size_t n = 0;
    xcb_atom_t props[2] = {a->net_wm_name, XCB_ATOM_WM_NAME};
    for (int i = 0; i < 2 && !n; i++) {
        xcb_get_property_reply_t *r = xcb_get_property_reply(
            a->c, xcb_get_property(a->c, 0, id, props[i], XCB_GET_PROPERTY_TYPE_ANY, 0,
                                   PROTO_WIN_MAX_TITLE / 4), NULL);
        if (r && r->format == 8) {
            n = (size_t)xcb_get_property_value_length(r);
            if (n > sizeof buf)
                n = sizeof buf;
            memcpy(buf, xcb_get_property_value(r), n);
        }
        free(r);
    }
    /* NULs would make the record malformed: the host sanitizes everything else. */
    for (size_t i = 0; i < n; i++)
        if (!buf[i])
            buf[i] = ' ';
    wa_send(a, &(proto_win_msg){.type = PROTO_WIN_TITLE, .id = id, .s1 = {buf, (uint32_t)n}});
}

static void send_class(wa *a, xcb_window_t id)
{
    xcb_get_property_reply_t *r = xcb_get_property_reply(
        a->c, xcb_get_property(a->c, 0, id, XCB_ATOM_WM_CLASS, XCB_ATOM_STRING, 0, 128), NULL);
    if (!r)
        return;
    const char *v = xcb_get_property_value(r);
    size_t n = r->format == 8 ? (size_t)xcb_get_property_value_length(r) : 0;
    size_t a1 = strnlen(v, n);
    const char *c2 = a1 < n ? v + a1 + 1 : "";
    size_t a2 = a1 < n ? strnlen(c2, n - a1 - 1) : 0;
    if (a1 > PROTO_WIN_MAX_CLASS)
        a1 = PROTO_WIN_MAX_CLASS;
    if (a2 > PROTO_WIN_MAX_CLASS)
        a2 = PROTO_WIN_MAX_CLASS;
    if (n)
        wa_send(a, &(proto_win_msg){.type = PROTO_WIN_CLASS, .id = id, .s1 = {v, (uint32_t)a1},
                                    .s2 = {c2, (uint32_t)a2}});
    free(r);
}

static xcb_window_t transient_of(wa *a, xcb_window_t id)
{
    xcb_get_property_reply_t *r = xcb_get_property_reply(
        a->c, xcb_get_property(a->c, 0, id, XCB_ATOM_WM_TRANSIENT_FOR, XCB_GET_PROPERTY_TYPE_ANY, 0, 1), NULL);
    xcb_window_t t = 0;
    if (r && r->format == 32 && xcb_get_property_value_length(r) == 4)
        memcpy(&t, xcb_get_property_value(r), 4);
    free(r);
    return t;
}

static uint16_t clamp_dim(uint32_t v)
{
    return v < 1 ? 1 : v > PROTO_WIN_MAX_DIM ? PROTO_WIN_MAX_DIM : (uint16_t)v;
}

static void track(wa *a, xcb_window_t id)
{
    if (id == a->self || wa_find(a, id) || a->count >= WA_MAX_WINDOWS)
        return;
    xcb_get_window_attributes_reply_t *at =
        xcb_get_window_attributes_reply(a->c, xcb_get_window_attributes(a->c, id), NULL);
    xcb_get_geometry_reply_t *g = xcb_get_geometry_reply(a->c, xcb_get_geometry(a->c, id), NULL);
    if (!at || !g || at->_class == XCB_WINDOW_CLASS_INPUT_ONLY) {
        free(at), free(g);
        return;
    }
    wa_window *w = &a->win[a->count++];
    memset(w, 0, sizeof *w);
    w->id = id;
    w->x = g->x, w->y = g->y;
    w->w = clamp_dim(g->width), w->h = clamp_dim(g->height);
    w->override_redirect = at->override_redirect;
    w->mapped = at->map_state == XCB_MAP_STATE_VIEWABLE;
    uint32_t mask = XCB_EVENT_MASK_PROPERTY_CHANGE;
    xcb_change_window_attributes(a->c, id, XCB_CW_EVENT_MASK, &mask);
    w->damage = xcb_generate_id(a->c);
    xcb_damage_create(a->c, w->damage, id, XCB_DAMAGE_REPORT_LEVEL_NON_EMPTY);
    free(at), free(g);
    wa_send(a, &(proto_win_msg){.type = PROTO_WIN_CREATE, .id = id, .x = w->x, .y = w->y,
                                .w = w->w, .h = w->h,
                                .flags = w->override_redirect ? PROTO_WIN_OVERRIDE : 0,
                                .aux = transient_of(a, id)});
    send_title(a, id);
    send_class(a, id);
    if (w->mapped) {
        wa_send(a, &(proto_win_msg){.type = PROTO_WIN_MAP, .id = id, .flags = 1});
        w->dirty = w->full = true;
    }
}

static void untrack(wa *a, xcb_window_t id, bool destroyed)
{
    wa_window *w = wa_find(a, id);
    if (!w)
        return;
    if (!destroyed)
        xcb_damage_destroy(a->c, w->damage);
    wa_send(a, &(proto_win_msg){.type = PROTO_WIN_DESTROY, .id = id});
    *w = a->win[--a->count];
}

void wa_track_all(wa *a)
{
    xcb_query_tree_reply_t *t = xcb_query_tree_reply(a->c, xcb_query_tree(a->c, a->root), NULL);
    if (!t)
        return;
    xcb_window_t *kids = xcb_query_tree_children(t);
    for (int i = 0; i < xcb_query_tree_children_length(t); i++)
        track(a, kids[i]);
    free(t);
}

void wa_refresh(wa *a, xcb_window_t id)
{
    for (size_t i = 0; i < a->count; i++)
        if (!id || a->win[i].id == id)
            a->win[i].dirty = a->win[i].full = true;
}

bool wa_track_event(wa *a, const xcb_generic_event_t *ev)
{
    uint8_t type = ev->response_type & 0x7f;
    if (type == a->damage_event + XCB_DAMAGE_NOTIFY) {
        const xcb_damage_notify_event_t *e = (const void *)ev;
        wa_window *w = wa_find(a, e->drawable);
        if (w)
            w->dirty = true;
        return true;
    }
    switch (type) {
    case XCB_CREATE_NOTIFY: {
        const xcb_create_notify_event_t *e = (const void *)ev;
        if (e->parent == a->root)
            track(a, e->window);
        return true;
    }
    case XCB_DESTROY_NOTIFY:
        untrack(a, ((const xcb_destroy_notify_event_t *)ev)->window, true);
        return true;
    case XCB_REPARENT_NOTIFY: {
        const xcb_reparent_notify_event_t *e = (const void *)ev;
        if (e->parent == a->root)
            track(a, e->window);
        else
            untrack(a, e->window, false);
        return true;
    }
    case XCB_MAP_NOTIFY:
    case XCB_UNMAP_NOTIFY: {
        xcb_window_t id = type == XCB_MAP_NOTIFY ? ((const xcb_map_notify_event_t *)ev)->window
                                                 : ((const xcb_unmap_notify_event_t *)ev)->window;
        wa_window *w = wa_find(a, id);
        if (!w || w->mapped == (type == XCB_MAP_NOTIFY))
            return true;
        w->mapped = type == XCB_MAP_NOTIFY;
        if (w->mapped) {
            /* Properties are settled by now (one set between its creation and our event
             * mask would have been missed): send them and the content before MAP. */
            xcb_window_t t = transient_of(a, id);
            wa_send(a, &(proto_win_msg){.type = PROTO_WIN_TRANSIENT, .id = id, .aux = t});
            send_title(a, id);
            send_class(a, id);
            w->dirty = w->full = true;
            wa_flush_damage(a);
        }
        wa_send(a, &(proto_win_msg){.type = PROTO_WIN_MAP, .id = id, .flags = w->mapped});
        return true;
    }
    case XCB_CONFIGURE_NOTIFY: {
        const xcb_configure_notify_event_t *e = (const void *)ev;
        wa_window *w = wa_find(a, e->window);
        if (!w)
            return true;
        uint16_t nw = clamp_dim(e->width), nh = clamp_dim(e->height);
        if (nw == w->w && nh == w->h && e->x == w->x && e->y == w->y)
            return true;
        if (nw != w->w || nh != w->h)
            w->dirty = w->full = true;
        w->x = e->x, w->y = e->y, w->w = nw, w->h = nh;
        w->override_redirect = e->override_redirect;
        wa_send(a, &(proto_win_msg){.type = PROTO_WIN_GEOMETRY, .id = w->id, .x = w->x,
                                    .y = w->y, .w = w->w, .h = w->h});
        return true;
    }
    case XCB_PROPERTY_NOTIFY: {
        const xcb_property_notify_event_t *e = (const void *)ev;
        if (!wa_find(a, e->window))
            return false;
        if (e->atom == XCB_ATOM_WM_NAME || e->atom == a->net_wm_name)
            send_title(a, e->window);
        else if (e->atom == XCB_ATOM_WM_CLASS)
            send_class(a, e->window);
        else if (e->atom == XCB_ATOM_WM_TRANSIENT_FOR)
            wa_send(a, &(proto_win_msg){.type = PROTO_WIN_TRANSIENT, .id = e->window,
                                        .aux = transient_of(a, e->window)});
        return true;
    }
    }
    return false;
}

/* One rectangle of window w, in bands of at most PROTO_WIN_MAX_RECT_PIXELS. */
static void send_rect(wa *a, wa_window *w, int x, int y, int rw, int rh)
{
    if (x < 0)
        rw += x, x = 0;
    if (y < 0)
        rh += y, y = 0;
    if (x + rw > w->w)
        rw = w->w - x;
    if (y + rh > w->h)
        rh = w->h - y;
    if (rw <= 0 || rh <= 0)
        return;
    int band = (int)(PROTO_WIN_MAX_RECT_PIXELS / (uint32_t)rw);
    for (int by = y; by < y + rh; by += band) {
        int bh = y + rh - by < band ? y + rh - by : band;
        xcb_get_image_reply_t *img = xcb_get_image_reply(
            a->c, xcb_get_image(a->c, XCB_IMAGE_FORMAT_Z_PIXMAP, w->id, (int16_t)x, (int16_t)by,
                                (uint16_t)rw, (uint16_t)bh, ~0u), NULL);
        if (!img)
            return; /* unmapped or gone meanwhile: its events follow */
        size_t npx = (size_t)rw * bh;
        const uint8_t *d = xcb_get_image_data(img);
        if ((size_t)xcb_get_image_data_length(img) < npx * 4) {
            free(img);
            return; /* not a 32-bit-per-pixel visual: not supported */
        }
        for (size_t i = 0; i < npx; i++)
            a->pixels[i] = ((uint32_t)d[4 * i] | (uint32_t)d[4 * i + 1] << 8 |
                            (uint32_t)d[4 * i + 2] << 16);
        free(img);
        uint8_t *runs = a->scratch + WA_SCRATCH_HALF; /* the record goes to the first half */
        size_t rn = proto_win_runs_encode(a->pixels, npx, runs, npx * 4 - 1);
        proto_win_msg m = {.type = PROTO_WIN_DAMAGE, .id = w->id, .x = x, .y = by,
                           .w = (uint16_t)rw, .h = (uint16_t)bh};
        if (rn) {
            m.flags = PROTO_WIN_ENC_RUNS, m.data = runs, m.data_len = (uint32_t)rn;
        } else {
            uint8_t *raw = runs;
            for (size_t i = 0; i < npx; i++) {
                uint32_t v = a->pixels[i];
                raw[4 * i] = (uint8_t)v, raw[4 * i + 1] = (uint8_t)(v >> 8);
                raw[4 * i + 2] = (uint8_t)(v >> 16), raw[4 * i + 3] = 0;
            }
            m.flags = PROTO_WIN_ENC_RAW, m.data = raw, m.data_len = (uint32_t)(npx * 4);
        }
        a->sent_rects++;
        wa_send(a, &m);
    }
}

void wa_flush_damage(wa *a)
{
    for (size_t i = 0; i < a->count; i++) {
        wa_window *w = &a->win[i];
        if (!w->dirty)
            continue;
        w->dirty = false;
        /* Take the damage gathered so far (it re-arms the NON_EMPTY report). */
        xcb_damage_subtract(a->c, w->damage, XCB_NONE, a->region);
        xcb_xfixes_fetch_region_reply_t *r =
            xcb_xfixes_fetch_region_reply(a->c, xcb_xfixes_fetch_region(a->c, a->region), NULL);
        if (!w->mapped) {
            free(r);
            continue; /* its content is sent when it is mapped */
        }
        if (w->full || !r) {
            w->full = false;
            send_rect(a, w, 0, 0, w->w, w->h);
        } else {
            int n = xcb_xfixes_fetch_region_rectangles_length(r);
            xcb_rectangle_t *rs = xcb_xfixes_fetch_region_rectangles(r);
            /* Many small rectangles cost more in round trips than their bounding box. */
            if (n > 16) {
                xcb_rectangle_t b = r->extents;
                send_rect(a, w, b.x, b.y, b.width, b.height);
            } else {
                for (int k = 0; k < n; k++)
                    send_rect(a, w, rs[k].x, rs[k].y, rs[k].width, rs[k].height);
            }
        }
        free(r);
    }
}
