/* The X11 host back end (x11win.h): win_backend callbacks that draw guest windows into host
 * windows, and the host's events turned into window-service records. */
#include "x11win.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static xcb_window_t host_of(const win_window *w)
{
    return (xcb_window_t)(uintptr_t)w->be;
}

/* The guest window a host window shows, or NULL. Linear: at most PROTO_WIN_MAX_WINDOWS. */
static win_window *guest_of(x11w *x, xcb_window_t hw)
{
    for (size_t i = 0; i < x->table.count; i++)
        if (host_of(x->table.win[i]) == hw)
            return x->table.win[i];
    return NULL;
}

static void set_title(x11w *x, win_window *w)
{
    xcb_window_t hw = host_of(w);
    size_t n = strlen(w->title);
    xcb_change_property(x->c, XCB_PROP_MODE_REPLACE, hw, XCB_ATOM_WM_NAME, x->utf8, 8, (uint32_t)n, w->title);
    xcb_change_property(x->c, XCB_PROP_MODE_REPLACE, hw, x->net_wm_name, x->utf8, 8, (uint32_t)n, w->title);
    /* WM_CLASS "revm-<instance>", "revm-<class>": host tools never mistake it for a host app. */
    char cls[2 * (PROTO_WIN_MAX_CLASS + 8)];
    int a = snprintf(cls, sizeof cls, "revm-%s", w->instance[0] ? w->instance : "app");
    int b = snprintf(cls + a + 1, sizeof cls - (size_t)a - 1, "revm-%s", w->klass[0] ? w->klass : "App");
    xcb_change_property(x->c, XCB_PROP_MODE_REPLACE, hw, XCB_ATOM_WM_CLASS, XCB_ATOM_STRING, 8,
                        (uint32_t)(a + b + 2), cls);
}

static void set_transient(x11w *x, win_window *w)
{
    win_window *p = w->transient_for ? win_find(&x->table, w->transient_for) : NULL;
    xcb_window_t hw = host_of(w);
    if (p) {
        xcb_window_t ph = host_of(p);
        xcb_change_property(x->c, XCB_PROP_MODE_REPLACE, hw, XCB_ATOM_WM_TRANSIENT_FOR,
                            XCB_ATOM_WINDOW, 32, 1, &ph);
        xcb_change_property(x->c, XCB_PROP_MODE_REPLACE, hw, x->net_wm_type, XCB_ATOM_ATOM, 32,
                            1, &x->net_wm_type_dialog);
    } else {
        xcb_delete_property(x->c, hw, XCB_ATOM_WM_TRANSIENT_FOR);
    }
}

static void be_ready(void *ctx, uint16_t sw, uint16_t sh, const char *display)
{
    x11w *x = ctx;
    snprintf(x->display, sizeof x->display, "%s", display);
    x->ready = true;
    fprintf(stderr, "revm-windows: guest display %s (%ux%u) attached\n", display, sw, sh);
}

static int be_create(void *ctx, win_window *w)
{
    x11w *x = ctx;
    xcb_window_t hw = xcb_generate_id(x->c);
    uint32_t values[3] = {x->screen->black_pixel, w->override_redirect,
                          XCB_EVENT_MASK_EXPOSURE | XCB_EVENT_MASK_KEY_PRESS |
                              XCB_EVENT_MASK_KEY_RELEASE | XCB_EVENT_MASK_BUTTON_PRESS |
                              XCB_EVENT_MASK_BUTTON_RELEASE | XCB_EVENT_MASK_POINTER_MOTION |
                              XCB_EVENT_MASK_FOCUS_CHANGE | XCB_EVENT_MASK_STRUCTURE_NOTIFY};
    int16_t px = (int16_t)(w->hx < -32768 ? -32768 : w->hx > 32767 ? 32767 : w->hx);
    int16_t py = (int16_t)(w->hy < -32768 ? -32768 : w->hy > 32767 ? 32767 : w->hy);
    xcb_void_cookie_t ck = xcb_create_window_checked(
        x->c, x->screen->root_depth, hw, x->screen->root, px, py, w->w, w->h, 0,
        XCB_WINDOW_CLASS_INPUT_OUTPUT, x->screen->root_visual,
        XCB_CW_BACK_PIXEL | XCB_CW_OVERRIDE_REDIRECT | XCB_CW_EVENT_MASK, values);
    xcb_generic_error_t *err = xcb_request_check(x->c, ck);
    if (err) {
        free(err);
        return -1;
    }
    w->be = (void *)(uintptr_t)hw;
    xcb_change_property(x->c, XCB_PROP_MODE_REPLACE, hw, x->wm_protocols, XCB_ATOM_ATOM, 32, 1,
                        &x->wm_delete);
    xcb_atom_t type = w->override_redirect ? x->net_wm_type_menu : x->net_wm_type_normal;
    xcb_change_property(x->c, XCB_PROP_MODE_REPLACE, hw, x->net_wm_type, XCB_ATOM_ATOM, 32, 1, &type);
    set_title(x, w);
    set_transient(x, w);
    return 0;
}

static void be_destroy(void *ctx, win_window *w)
{
    x11w *x = ctx;
    if (host_of(w) != XCB_NONE) /* NONE: a host tool destroyed it already (DestroyNotify) */
        xcb_destroy_window(x->c, host_of(w));
}

static void be_map(void *ctx, win_window *w)
{
    x11w *x = ctx;
    if (w->mapped) {
        if (w->override_redirect) {
            int32_t v[2] = {w->hx, w->hy};
            xcb_configure_window(x->c, host_of(w), XCB_CONFIG_WINDOW_X | XCB_CONFIG_WINDOW_Y, v);
        }
        xcb_map_window(x->c, host_of(w));
    } else {
        xcb_unmap_window(x->c, host_of(w));
    }
}

static void be_geometry(void *ctx, win_window *w, bool resized)
{
    x11w *x = ctx;
    uint16_t mask = 0;
    uint32_t v[4];
    int n = 0;
    if (w->override_redirect) {
        win_place(&x->table, w, &w->hx, &w->hy);
        mask |= XCB_CONFIG_WINDOW_X | XCB_CONFIG_WINDOW_Y;
        v[n++] = (uint32_t)w->hx, v[n++] = (uint32_t)w->hy;
    }
    if (resized) {
        mask |= XCB_CONFIG_WINDOW_WIDTH | XCB_CONFIG_WINDOW_HEIGHT;
        v[n++] = w->w, v[n++] = w->h;
    }
    if (mask)
        xcb_configure_window(x->c, host_of(w), mask, v);
}

static void be_title(void *ctx, win_window *w)
{
    set_title(ctx, w);
}

static void be_transient(void *ctx, win_window *w)
{
    set_transient(ctx, w);
}

/* Pixels of the table's framebuffer to the host window, in bands that fit one request. */
static void be_present(void *ctx, win_window *w, int rx, int ry, int rw, int rh)
{
    x11w *x = ctx;
    if (!w->mapped || rw <= 0 || rh <= 0)
        return;
    size_t rows = x->band_px / (size_t)rw;
    if (rows == 0)
        return;
    for (int y = ry; y < ry + rh; y += (int)rows) {
        int bh = ry + rh - y < (int)rows ? ry + rh - y : (int)rows;
        for (int r = 0; r < bh; r++)
            memcpy(x->band + (size_t)r * rw, w->px + (size_t)(y + r) * w->w + rx, (size_t)rw * 4);
        xcb_put_image(x->c, XCB_IMAGE_FORMAT_Z_PIXMAP, host_of(w), x->gc, (uint16_t)rw,
                      (uint16_t)bh, (int16_t)rx, (int16_t)y, 0, x->screen->root_depth,
                      (uint32_t)rw * (uint32_t)bh * 4, (const uint8_t *)x->band);
    }
    x->presented_px += (uint64_t)rw * rh;
}

static void be_clipboard(void *ctx, const char *text, size_t n)
{
    x11w *x = ctx;
    if (x->have_sel)
        xsel_set(&x->sel, text, n);
}

static void on_host_selection(void *ctx, const char *text, size_t n)
{
    x11w *x = ctx;
    win_send_clipboard(x->svc_fd, text, n);
}

static void load_keymap(x11w *x)
{
    const xcb_setup_t *setup = xcb_get_setup(x->c);
    x->min_kc = setup->min_keycode, x->max_kc = setup->max_keycode;
    free(x->keymap);
    x->keymap = NULL;
    xcb_get_keyboard_mapping_reply_t *r = xcb_get_keyboard_mapping_reply(
        x->c, xcb_get_keyboard_mapping(x->c, x->min_kc, (uint8_t)(x->max_kc - x->min_kc + 1)), NULL);
    if (!r)
        return;
    x->per_kc = r->keysyms_per_keycode;
    size_t n = (size_t)xcb_get_keyboard_mapping_keysyms_length(r);
    x->keymap = malloc(n * sizeof *x->keymap);
    if (x->keymap)
        memcpy(x->keymap, xcb_get_keyboard_mapping_keysyms(r), n * sizeof *x->keymap);
    free(r);
}

/* The keysym the host's layout gives for a key at this Shift level (Caps Lock and AltGr are
 * left to the guest: they are forwarded as keys of their own). */
static uint32_t keysym_of(x11w *x, xcb_keycode_t kc, uint16_t state)
{
    if (!x->keymap || kc < x->min_kc || kc > x->max_kc || !x->per_kc)
        return 0;
    const xcb_keysym_t *row = &x->keymap[(size_t)(kc - x->min_kc) * x->per_kc];
    if ((state & XCB_MOD_MASK_SHIFT) && x->per_kc >= 2 && row[1])
        return row[1];
    return row[0];
}

bool x11w_init(x11w *x, int svc_fd, const char *vm)
{
    memset(x, 0, sizeof *x);
    x->svc_fd = svc_fd;
    int screen = 0;
    x->c = xcb_connect(NULL, &screen);
    if (xcb_connection_has_error(x->c)) {
        fprintf(stderr, "revm-windows: cannot open the host display %s\n",
                getenv("DISPLAY") ? getenv("DISPLAY") : "(DISPLAY not set)");
        xcb_disconnect(x->c); /* xcb wants it even for a failed connection */
        return false;
    }
    xcb_screen_iterator_t it = xcb_setup_roots_iterator(xcb_get_setup(x->c));
    for (int i = 0; i < screen && it.rem; i++)
        xcb_screen_next(&it);
    x->screen = it.data;
    x->wm_protocols = xsel_atom(x->c, "WM_PROTOCOLS");
    x->wm_delete = xsel_atom(x->c, "WM_DELETE_WINDOW");
    x->net_wm_name = xsel_atom(x->c, "_NET_WM_NAME");
    x->utf8 = xsel_atom(x->c, "UTF8_STRING");
    x->net_wm_type = xsel_atom(x->c, "_NET_WM_WINDOW_TYPE");
    x->net_wm_type_menu = xsel_atom(x->c, "_NET_WM_WINDOW_TYPE_POPUP_MENU");
    x->net_wm_type_normal = xsel_atom(x->c, "_NET_WM_WINDOW_TYPE_NORMAL");
    x->net_wm_type_dialog = xsel_atom(x->c, "_NET_WM_WINDOW_TYPE_DIALOG");
    x->gc = xcb_generate_id(x->c);
    xcb_create_gc(x->c, x->gc, x->screen->root, 0, NULL);
    x->self = xcb_generate_id(x->c);
    xcb_create_window(x->c, XCB_COPY_FROM_PARENT, x->self, x->screen->root, -10, -10, 1, 1, 0,
                      XCB_WINDOW_CLASS_INPUT_OUTPUT, XCB_COPY_FROM_PARENT, 0, NULL);
    /* One put_image request: the server's maximum (BIG-REQUESTS included) minus header room. */
    size_t maxreq = (size_t)xcb_get_maximum_request_length(x->c) * 4;
    x->band_px = (maxreq > 1u << 22 ? 1u << 22 : maxreq - 64) / 4;
    x->band = malloc(x->band_px * 4);
    if (!x->band) {
        fprintf(stderr, "revm-windows: out of memory for the image buffer\n");
        xcb_disconnect(x->c);
        return false;
    }
    load_keymap(x);
    x->have_sel = xsel_init(&x->sel, x->c, x->self, on_host_selection, x);
    x->be = (win_backend){.ctx = x, .ready = be_ready, .create = be_create, .destroy = be_destroy,
                          .map = be_map, .geometry = be_geometry, .title = be_title,
                          .transient = be_transient, .present = be_present,
                          .clipboard = be_clipboard};
    win_table_init(&x->table, &x->be, vm, 2);
    xcb_flush(x->c);
    return true;
}

static void host_event(x11w *x, xcb_generic_event_t *ev, xcb_motion_notify_event_t *motion)
{
    uint8_t type = ev->response_type & 0x7f;
    switch (type) {
    case XCB_EXPOSE: {
        xcb_expose_event_t *e = (void *)ev;
        win_window *w = guest_of(x, e->window);
        if (w && e->x < w->w && e->y < w->h) {
            int ew = e->x + e->width > w->w ? w->w - e->x : e->width;
            int eh = e->y + e->height > w->h ? w->h - e->y : e->height;
            be_present(x, w, e->x, e->y, ew, eh);
        }
        break;
    }
    case XCB_KEY_PRESS:
    case XCB_KEY_RELEASE: {
        xcb_key_press_event_t *e = (void *)ev;
        win_window *w = guest_of(x, e->event);
        /* A release sends what its press sent, even if Shift changed in between. */
        uint32_t ks = type == XCB_KEY_PRESS ? keysym_of(x, e->detail, e->state) : x->pressed[e->detail];
        if (!ks)
            ks = keysym_of(x, e->detail, e->state);
        x->pressed[e->detail] = type == XCB_KEY_PRESS ? ks : 0;
        if (w && ks)
            win_send_key(x->svc_fd, w->id, type == XCB_KEY_PRESS, ks);
        break;
    }
    case XCB_BUTTON_PRESS:
    case XCB_BUTTON_RELEASE: {
        xcb_button_press_event_t *e = (void *)ev;
        win_window *w = guest_of(x, e->event);
        if (w && e->detail >= 1 && e->detail <= 7)
            win_send_pointer(x->svc_fd, w->id, e->event_x, e->event_y, e->detail,
                             type == XCB_BUTTON_PRESS);
        break;
    }
    case XCB_MOTION_NOTIFY:
        *motion = *(xcb_motion_notify_event_t *)ev; /* only the last one of a batch is sent */
        break;
    case XCB_FOCUS_IN:
    case XCB_FOCUS_OUT: {
        xcb_focus_in_event_t *e = (void *)ev;
        win_window *w = guest_of(x, e->event);
        if (w && e->mode == XCB_NOTIFY_MODE_NORMAL) {
            win_note_focus(&x->table, w->id, type == XCB_FOCUS_IN);
            win_send_focus(x->svc_fd, w->id, type == XCB_FOCUS_IN);
        }
        break;
    }
    case XCB_CONFIGURE_NOTIFY: {
        xcb_configure_notify_event_t *e = (void *)ev;
        win_window *w = guest_of(x, e->window);
        if (!w)
            break;
        if (!e->override_redirect) {
            /* Root coordinates: under a reparenting window manager e->x/y are the frame's. */
            xcb_translate_coordinates_reply_t *tr = xcb_translate_coordinates_reply(
                x->c, xcb_translate_coordinates(x->c, e->window, x->screen->root, 0, 0), NULL);
            w->hx = tr ? tr->dst_x : e->x;
            w->hy = tr ? tr->dst_y : e->y;
            free(tr);
        }
        /* A size the host's frame chose, not the one we just set from the guest. */
        if ((e->width != w->w || e->height != w->h) && e->width && e->height &&
            e->width <= PROTO_WIN_MAX_DIM && e->height <= PROTO_WIN_MAX_DIM && !w->override_redirect)
            win_send_resize(x->svc_fd, w->id, e->width, e->height);
        break;
    }
    case XCB_DESTROY_NOTIFY: {
        /* Someone destroyed our window (a host tool's "close"): ask the program to close. */
        xcb_destroy_notify_event_t *e = (void *)ev;
        win_window *w = guest_of(x, e->window);
        if (w) {
            w->be = (void *)(uintptr_t)XCB_NONE;
            win_send_close(x->svc_fd, w->id);
        }
        break;
    }
    case XCB_CLIENT_MESSAGE: {
        xcb_client_message_event_t *e = (void *)ev;
        win_window *w = guest_of(x, e->window);
        if (w && e->type == x->wm_protocols && e->format == 32 && e->data.data32[0] == x->wm_delete)
            win_send_close(x->svc_fd, w->id);
        break;
    }
    case XCB_MAPPING_NOTIFY:
        load_keymap(x);
        break;
    default:
        if (x->have_sel)
            xsel_event(&x->sel, ev);
    }
}

bool x11w_events(x11w *x)
{
    xcb_motion_notify_event_t motion = {0};
    xcb_generic_event_t *ev;
    while ((ev = xcb_poll_for_event(x->c))) {
        host_event(x, ev, &motion);
        free(ev);
    }
    if (motion.response_type) {
        win_window *w = guest_of(x, motion.event);
        if (w)
            win_send_pointer(x->svc_fd, w->id, motion.event_x, motion.event_y, 0, false);
    }
    xcb_flush(x->c);
    return !xcb_connection_has_error(x->c);
}

void x11w_free(x11w *x)
{
    win_table_free(&x->table);
    if (x->have_sel)
        xsel_free(&x->sel);
    free(x->keymap);
    free(x->band);
    xcb_disconnect(x->c);
}
