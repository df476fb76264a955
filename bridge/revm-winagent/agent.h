/* revm-winagent: the guest side of the window service (PROTOCOL.md, Window service). It runs
 * in the VM as the service helper (stdin: host records, stdout: ours, stderr: log lines),
 * attaches to the VM's X display (starting Xvfb when none answers), tracks the root's
 * children, and streams their damaged pixels; the host's input comes back through XTest. */
#ifndef BRIDGE_REVM_WINAGENT_AGENT_H
#define BRIDGE_REVM_WINAGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <xcb/xcb.h>
#include <xcb/damage.h>
#include <xcb/xfixes.h>

#include "proto.h"
#include "xsel.h"

#define WA_MAX_WINDOWS PROTO_WIN_MAX_WINDOWS
/* scratch: a whole record in the first half, pixel data being encoded in the second */
#define WA_SCRATCH_HALF (PROTO_WIN_MAX_RECORD + 16u)

typedef struct wa_window {
    xcb_window_t id;
    xcb_damage_damage_t damage;
    int32_t x, y;
    uint16_t w, h;
    bool override_redirect, mapped, dirty, full;
} wa_window;

typedef struct wa {
    xcb_connection_t *c;
    xcb_screen_t *screen;
    xcb_window_t root, self;          /* self: our unmapped helper window */
    uint8_t damage_event;
    xcb_xfixes_region_t region;       /* scratch for damage_subtract */
    wa_window win[WA_MAX_WINDOWS];
    size_t count;
    xcb_atom_t net_wm_name, utf8, wm_protocols, wm_delete;
    xsel sel;
    bool have_sel;
    /* keyboard mapping, for keysym -> keycode */
    uint8_t min_kc, max_kc, per_kc;
    xcb_keysym_t *keymap;             /* (max_kc - min_kc + 1) * per_kc */
    xcb_keycode_t shift_kc;           /* Shift_L, to wrap a shifted symbol typed without Shift */
    xcb_keycode_t shift_held[2];      /* Shift_L, Shift_R keycodes the host holds down (0: up) */
    uint8_t *scratch;                 /* one DAMAGE record */
    uint32_t *pixels;                 /* one band of pixels */
    uint64_t sent_bytes, sent_rects;
} wa;

/* Output: one whole record to stdout (blocking; the channel's credit is the back-pressure).
 * Exits the agent when the host is gone. */
void wa_send(wa *a, const proto_win_msg *m);

/* track.c */
void wa_track_all(wa *a);
wa_window *wa_find(wa *a, xcb_window_t id);
/* An X event about windows or damage; true when it was one. */
bool wa_track_event(wa *a, const xcb_generic_event_t *ev);
/* Sends the damage gathered since the last call. */
void wa_flush_damage(wa *a);
void wa_refresh(wa *a, xcb_window_t id);

/* input.c */
void wa_input_init(wa *a);
void wa_host_record(wa *a, const proto_win_msg *m);

#endif
