/* The host side of the window service (PROTOCOL.md, Window service (service 6)), portable:
 * a table of the guest's top-level windows with a framebuffer each, which checks every guest
 * record against the window it names before any copy, and hands the result to a back end
 * (X11 on Linux hosts: bridge/linux/x11/; Orbital on Redox: win_orbital.c). Back ends report
 * the host's input with win_send_* on the service socket.
 *
 * The guest is untrusted: ids it never created, rectangles outside the window, pixel data of
 * the wrong length, too many windows, hostile titles are dropped with one log line per kind
 * (then counted), and never reach a back end. */
#ifndef BRIDGE_WIN_WIN_H
#define BRIDGE_WIN_WIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define WIN_TITLE_MAX 256       /* host title bytes, suffix and NUL included */
#define WIN_TITLE_CUT 200       /* guest part of the title, cut on a character boundary */
#define WIN_MAX_TOTAL_PIXELS (32u * 1024 * 1024) /* all framebuffers together: 128 MiB */
#define WIN_HASH 4096u          /* > 2 x PROTO_WIN_MAX_WINDOWS, power of two */

typedef struct win_window {
    uint32_t id;                 /* the guest's window id */
    int32_t x, y;                /* position on the guest's screen */
    uint16_t w, h;
    bool override_redirect, mapped;
    bool titled;                 /* the guest gave a title; else the class stands in for it */
    uint32_t transient_for;      /* guest id, 0 none (may name a window the host no longer has) */
    char title[WIN_TITLE_MAX];   /* sanitized, with the " (VM VM)" suffix */
    char instance[PROTO_WIN_MAX_CLASS + 1], klass[PROTO_WIN_MAX_CLASS + 1];
    uint32_t *px;                /* w*h pixels 0x00RRGGBB, row-major */
    int32_t hx, hy;              /* where the back end placed it on the host */
    void *be;                    /* the back end's own data */
} win_window;

/* What a back end implements. Callbacks may be NULL. create returns 0, or -1 to refuse the
 * window (the guest's records for it are then dropped as unknown). */
typedef struct win_backend {
    void *ctx;
    void (*ready)(void *ctx, uint16_t screen_w, uint16_t screen_h, const char *display);
    int (*create)(void *ctx, win_window *w);
    void (*destroy)(void *ctx, win_window *w);
    void (*map)(void *ctx, win_window *w);                 /* w->mapped changed */
    void (*geometry)(void *ctx, win_window *w, bool resized); /* px reallocated when resized */
    void (*title)(void *ctx, win_window *w);               /* title or class changed */
    void (*transient)(void *ctx, win_window *w);
    void (*present)(void *ctx, win_window *w, int x, int y, int rw, int rh);
    void (*clipboard)(void *ctx, const char *text, size_t n);
} win_backend;

enum win_drop {
    WIN_DROP_MALFORMED, WIN_DROP_UNKNOWN_ID, WIN_DROP_DUPLICATE, WIN_DROP_TOO_MANY,
    WIN_DROP_TOO_BIG, WIN_DROP_RECT, WIN_DROP_PIXELS, WIN_DROP_DIRECTION, WIN_DROP_BACKEND,
    WIN_DROP_KINDS
};

typedef struct win_table {
    win_window *win[PROTO_WIN_MAX_WINDOWS];  /* live windows, dense, in creation order */
    uint16_t idx[WIN_HASH];                  /* id -> win[] slot + 1, linear probing */
    size_t count;
    uint64_t total_px;
    const win_backend *be;
    char vm[64];
    int log_fd;                              /* one line per first drop of a kind; -1 none */
    uint64_t drops[WIN_DROP_KINDS];
    uint32_t focused;                        /* last window the host focused (decorated) */
    bool ready;
    uint16_t screen_w, screen_h;
} win_table;

void win_table_init(win_table *t, const win_backend *be, const char *vm, int log_fd);
/* Destroys every window (back end told) and frees them. */
void win_table_free(win_table *t);
win_window *win_find(const win_table *t, uint32_t id);
/* One record from the guest. 0 when applied, -1 when dropped (logged, counted). */
int win_handle(win_table *t, const proto_rec *rec);
/* The host focused (or unfocused) a window: remembered as the anchor of menus. */
void win_note_focus(win_table *t, uint32_t id, bool focused);
/* Where an override-redirect window goes on the host: relative to the focused decorated
 * window's host position as it is relative to that window in the guest. */
void win_place(const win_table *t, const win_window *w, int32_t *hx, int32_t *hy);
/* Total drops of all kinds. */
uint64_t win_drops(const win_table *t);

/* "Title (VM VM)": control characters and invalid UTF-8 become '?', the title is cut to
 * WIN_TITLE_CUT bytes on a character boundary, empty becomes fallback. out has cap bytes. */
void win_title_sanitize(const char *in, size_t n, const char *fallback, const char *vm,
                        char *out, size_t cap);

/* The text part alone: out gets at most cap-1 bytes (cut on a character boundary). */
void win_text_sanitize(const char *in, size_t n, char *out, size_t cap);

/* Host to guest: one record each on the service socket. 0, or -1 with errno. */
int win_send_key(int fd, uint32_t id, bool down, uint32_t keysym);
int win_send_pointer(int fd, uint32_t id, int32_t x, int32_t y, uint8_t button, bool down);
int win_send_focus(int fd, uint32_t id, bool focused);
int win_send_resize(int fd, uint32_t id, uint16_t w, uint16_t h);
int win_send_close(int fd, uint32_t id);
int win_send_refresh(int fd, uint32_t id);
int win_send_clipboard(int fd, const char *text, size_t n);

#endif
