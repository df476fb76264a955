/* The Orbital back end of the window service (Redox's window server): one Orbital window per
 * mapped guest window, opened as /scheme/orbital/<flags>/<x>/<y>/<w>/<h>/<title>, its pixels
 * through mmap and fsync, its commands as writes ("S,w,h" size, "P,x,y" position,
 * "T,title", "Y,x,y,w,h" damaged rectangle), and its events read as {i64 code, a, b}.
 * Orbital draws the decorations. Override-redirect windows (menus) are borderless ('l') and
 * in front ('f'); others are resizable ('r'). Every window is asynchronous ('a').
 *
 * The system calls go through win_orb_sys, so the same code runs on Redox
 * (win_orbital_redox.c) and in the Linux harness (tests/test_win_orbital.c), which checks the
 * request strings and feeds Orbital's event structs. */
#ifndef BRIDGE_WIN_WIN_ORBITAL_H
#define BRIDGE_WIN_WIN_ORBITAL_H

#include <stddef.h>
#include <stdint.h>

#include "win.h"

/* Orbital's event codes and the layout of its event struct (orbclient event.rs). */
enum {
    WIN_ORB_KEY = 1, WIN_ORB_MOUSE = 2, WIN_ORB_BUTTON = 3, WIN_ORB_SCROLL = 4,
    WIN_ORB_QUIT = 5, WIN_ORB_FOCUS = 6, WIN_ORB_MOVE = 7, WIN_ORB_RESIZE = 8,
    WIN_ORB_SCREEN = 9, WIN_ORB_CLIPBOARD = 10, WIN_ORB_CLIPBOARD_UPDATE = 14,
};
typedef struct win_orb_event {
    int64_t code, a, b;
} win_orb_event;

typedef struct win_orb_sys {
    void *ctx;
    int (*open)(void *ctx, const char *path);                 /* fd, or -1 */
    int (*write)(void *ctx, int fd, const char *cmd, size_t n);
    uint32_t *(*map)(void *ctx, int fd, size_t w, size_t h);  /* w*h pixels 0xAARRGGBB */
    void (*unmap)(void *ctx, int fd, uint32_t *px, size_t w, size_t h);
    int (*sync)(void *ctx, int fd);                           /* presents */
    long (*read)(void *ctx, int fd, void *buf, size_t n);     /* events; <= 0: none now */
    /* Orbital's clipboard, through dup(fd, "clipboard") of a window: NULL when unsupported.
     * clip_read returns the bytes read (<= cap) or -1. */
    long (*clip_read)(void *ctx, int fd, char *buf, size_t cap);
    int (*clip_write)(void *ctx, int fd, const char *text, size_t n);
    void (*close)(void *ctx, int fd);
} win_orb_sys;

typedef struct win_orb {
    win_orb_sys sys;
    int svc_fd;          /* records to the guest */
    win_table *table;
    win_backend be;      /* give &be to win_table_init */
    uint8_t buttons;     /* Orbital reports button state; the guest wants edges */
    int32_t mx, my;      /* last pointer position: buttons and wheel happen there */
    char *clip;          /* last clipboard text exchanged, so it is not sent back */
    size_t clip_n;
} win_orb;

#ifdef __redox__
extern const win_orb_sys win_orb_redox_sys; /* win_orbital_redox.c: the real calls */
#endif

void win_orb_init(win_orb *o, const win_orb_sys *sys, int svc_fd, win_table *table);
void win_orb_free(win_orb *o);
/* The Orbital fd of a guest window, or -1 while it is not shown. */
int win_orb_fd(const win_window *w);
/* One Orbital event read from window w's fd: sent to the guest as records. */
void win_orb_event_in(win_orb *o, win_window *w, const win_orb_event *ev);
/* One round of the back end's loop (a Redox front end calls it forever): waits up to
 * timeout_ms for the service socket or any shown window's fd (poll), then applies the guest's
 * records (rs: the caller's reassembler for svc_fd) and turns Orbital's events into records.
 * 0, or -1 when the service ended (EOF, or a record longer than the service allows). */
int win_orb_pump(win_orb *o, proto_rec_stream *rs, int timeout_ms);
/* The X keysym for an Orbital key event (character, else scancode), 0 when none. */
uint32_t win_orb_keysym(int64_t character, uint8_t scancode);

#endif
