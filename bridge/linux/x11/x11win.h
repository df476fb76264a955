/* revm-windows: the window service's X11 back end for Linux hosts. One host X window per
 * guest top-level window, decorated by the host's window manager; the portable table
 * (bridge/win/win.h) has checked every guest record before these callbacks run. */
#ifndef BRIDGE_LINUX_X11_X11WIN_H
#define BRIDGE_LINUX_X11_X11WIN_H

#include <stdbool.h>
#include <xcb/xcb.h>

#include "win.h"
#include "xsel.h"

typedef struct x11w {
    xcb_connection_t *c;
    xcb_screen_t *screen;
    xcb_window_t self;               /* unmapped: selections */
    xcb_gcontext_t gc;
    int svc_fd;                      /* records to the guest */
    win_table table;
    win_backend be;
    xcb_atom_t wm_protocols, wm_delete, net_wm_name, utf8, net_wm_type, net_wm_type_menu,
        net_wm_type_normal, net_wm_type_dialog;
    uint8_t min_kc, max_kc, per_kc;
    xcb_keysym_t *keymap;
    uint32_t pressed[256];           /* keysym sent for each host keycode held down */
    uint32_t *band;                  /* put_image staging */
    size_t band_px;
    xsel sel;
    bool have_sel;
    bool ready;
    char display[PROTO_WIN_MAX_DISPLAY + 1];
    uint64_t presented_px;
} x11w;

/* Connects to the host display ($DISPLAY); NULL-safe errors go to stderr. */
bool x11w_init(x11w *x, int svc_fd, const char *vm);
/* Host X events: drains what is queued. false when the host display is gone. */
bool x11w_events(x11w *x);
void x11w_free(x11w *x);

#endif
