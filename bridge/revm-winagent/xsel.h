/* Text selections (CLIPBOARD and PRIMARY) on one X connection, shared by the guest agent and
 * the host's X11 back end: each side owns the selections with the text the other side sent,
 * and reports text another program put there. Our own ownership is never reported back, so
 * the two sides cannot ping-pong. */
#ifndef BRIDGE_REVM_WINAGENT_XSEL_H
#define BRIDGE_REVM_WINAGENT_XSEL_H

#include <stdbool.h>
#include <stddef.h>
#include <xcb/xcb.h>

typedef void xsel_report_fn(void *ctx, const char *text, size_t n);

typedef struct xsel {
    xcb_connection_t *c;
    xcb_window_t win;            /* our own unmapped window: owner and conversion target */
    xcb_atom_t clipboard, primary, utf8, targets, text_atom, prop, incr;
    uint8_t xfixes_event;        /* first event of XFixes */
    char *text;                  /* what we own, or NULL */
    size_t n;
    char *last;                  /* last text reported or set: not reported twice */
    size_t last_n;
    xsel_report_fn *report;
    void *ctx;
    size_t max_prop;             /* largest property we write in one request (bytes) */
} xsel;

/* win: an unmapped window of ours. false when XFixes is missing (selections then unused). */
bool xsel_init(xsel *s, xcb_connection_t *c, xcb_window_t win, xsel_report_fn *report, void *ctx);
/* Handles ev when it is a selection event (true), else false. */
bool xsel_event(xsel *s, const xcb_generic_event_t *ev);
/* Owns CLIPBOARD and PRIMARY with text. */
void xsel_set(xsel *s, const char *text, size_t n);
void xsel_free(xsel *s);
/* The atom named name (interned: one round trip), XCB_ATOM_NONE when the server fails. Here
 * because both programs that use selections need atoms too. */
xcb_atom_t xsel_atom(xcb_connection_t *c, const char *name);

#endif
