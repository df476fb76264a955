/* revm-winagent [DISPLAY]: the window service's guest helper (agent.h). Started by
 * revm-guestd for a window-service channel with stdin/stdout as the record streams (or locally
 * by the host's tests). Attaches to DISPLAY (default :0), starting Xvfb for it when no X
 * server answers; the Xvfb it starts stays up for the next session, like a display manager's. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xcb/composite.h>
#include <xcb/xtest.h>

#include "cm_io.h"

static void die(const char *what)
{
    fprintf(stderr, "revm-winagent: %s\n", what);
    exit(1);
}

void wa_send(wa *a, const proto_win_msg *m)
{
    size_t n = proto_win_encode(a->scratch, WA_SCRATCH_HALF, 0, m);
    if (!n) {
        fprintf(stderr, "revm-winagent: record 0x%02x for window 0x%x out of bounds, not sent\n",
                m->type, m->id);
        return;
    }
    a->sent_bytes += n;
    if (cm_write_all(1, a->scratch, n) != 0)
        exit(0); /* the host is gone: nothing left to do */
}

static xcb_connection_t *try_connect(const char *display, int *screen)
{
    xcb_connection_t *c = xcb_connect(display, screen);
    if (xcb_connection_has_error(c)) {
        xcb_disconnect(c);
        return NULL;
    }
    return c;
}

/* No X server on display: start Xvfb in its own session (it outlives us) and wait for it. */
static xcb_connection_t *start_xvfb(const char *display, int *screen)
{
    const char *size = getenv("REVM_WIN_SCREEN");
    char geom[64];
    snprintf(geom, sizeof geom, "%sx24", size && *size ? size : "1920x1080");
    pid_t pid = fork();
    if (pid < 0)
        die("cannot fork for Xvfb");
    if (pid == 0) {
        setsid();
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0), dup2(null, 1), dup2(null, 2);
            if (null > 2)
                close(null);
        }
        if (fork() == 0) { /* not our child: no zombie when it ends after us */
            execlp("Xvfb", "Xvfb", display, "-screen", "0", geom, "-nolisten", "tcp", "-noreset",
                   (char *)NULL);
            _exit(127);
        }
        _exit(0);
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    fprintf(stderr, "revm-winagent: started Xvfb on %s (%s)\n", display, geom);
    for (int i = 0; i < 600; i++) { /* 60 s: TCG guests are slow */
        xcb_connection_t *c = try_connect(display, screen);
        if (c)
            return c;
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    die("Xvfb did not start (is the xvfb package installed in the VM?)");
    return NULL;
}

static void need_ext(wa *a, xcb_extension_t *ext, const char *name)
{
    const xcb_query_extension_reply_t *r = xcb_get_extension_data(a->c, ext);
    if (!r || !r->present) {
        fprintf(stderr, "revm-winagent: the X server lacks the %s extension\n", name);
        exit(1);
    }
}

static void on_clipboard(void *ctx, const char *text, size_t n)
{
    wa *a = ctx;
    if (n > PROTO_WIN_MAX_CLIP)
        return;
    wa_send(a, &(proto_win_msg){.type = PROTO_WIN_CLIPBOARD, .s1 = {text, (uint32_t)n}});
}

static void setup(wa *a, const char *display)
{
    int screen = 0;
    a->c = try_connect(display, &screen);
    if (!a->c)
        a->c = start_xvfb(display, &screen);
    xcb_screen_iterator_t it = xcb_setup_roots_iterator(xcb_get_setup(a->c));
    for (int i = 0; i < screen && it.rem; i++)
        xcb_screen_next(&it);
    a->screen = it.data;
    a->root = a->screen->root;
    need_ext(a, &xcb_composite_id, "Composite");
    need_ext(a, &xcb_damage_id, "DAMAGE");
    need_ext(a, &xcb_xfixes_id, "XFIXES");
    need_ext(a, &xcb_test_id, "XTEST");
    free(xcb_composite_query_version_reply(a->c, xcb_composite_query_version(a->c, 0, 4), NULL));
    free(xcb_damage_query_version_reply(a->c, xcb_damage_query_version(a->c, 1, 1), NULL));
    free(xcb_xfixes_query_version_reply(a->c, xcb_xfixes_query_version(a->c, 5, 0), NULL));
    a->damage_event = xcb_get_extension_data(a->c, &xcb_damage_id)->first_event;
    a->region = xcb_generate_id(a->c);
    xcb_xfixes_create_region(a->c, a->region, 0, NULL);
    a->net_wm_name = xsel_atom(a->c, "_NET_WM_NAME");
    a->utf8 = xsel_atom(a->c, "UTF8_STRING");
    a->wm_protocols = xsel_atom(a->c, "WM_PROTOCOLS");
    a->wm_delete = xsel_atom(a->c, "WM_DELETE_WINDOW");
    /* Each top-level gets its own pixmap; the screen is still drawn (automatic). */
    xcb_composite_redirect_subwindows(a->c, a->root, XCB_COMPOSITE_REDIRECT_AUTOMATIC);
    a->self = xcb_generate_id(a->c);
    uint32_t or = 1;
    xcb_create_window(a->c, XCB_COPY_FROM_PARENT, a->self, a->root, -10, -10, 1, 1, 0,
                      XCB_WINDOW_CLASS_INPUT_OUTPUT, XCB_COPY_FROM_PARENT, XCB_CW_OVERRIDE_REDIRECT, &or);
    /* Grab while listing, so no window slips between the list and the event mask. */
    xcb_grab_server(a->c);
    uint32_t mask = XCB_EVENT_MASK_SUBSTRUCTURE_NOTIFY;
    xcb_change_window_attributes(a->c, a->root, XCB_CW_EVENT_MASK, &mask);
    wa_send(a, &(proto_win_msg){.type = PROTO_WIN_READY, .w = a->screen->width_in_pixels,
                                .h = a->screen->height_in_pixels,
                                .s1 = {display, (uint32_t)strnlen(display, PROTO_WIN_MAX_DISPLAY)}});
    wa_track_all(a);
    xcb_ungrab_server(a->c);
    xcb_flush(a->c);
    a->have_sel = xsel_init(&a->sel, a->c, a->self, on_clipboard, a);
    wa_input_init(a);
}

/* Host records from stdin; false at EOF or a malformed stream (the channel is over). */
static bool read_host(wa *a, proto_rec_stream *rs)
{
    uint8_t in[65536];
    ssize_t n = read(0, in, sizeof in);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    size_t off = 0;
    while (off < (size_t)n) {
        size_t used;
        proto_rec rec;
        int st = proto_rec_stream_feed(rs, in + off, (size_t)n - off, &used, &rec);
        off += used;
        if (st == PROTO_BAD_FRAME) {
            fprintf(stderr, "revm-winagent: record length out of bounds from the host\n");
            return false;
        }
        if (st != PROTO_FRAME)
            break;
        proto_win_msg m;
        if (proto_win_decode(rec.type, rec.body, rec.body_len, &m))
            wa_host_record(a, &m);
        else
            fprintf(stderr, "revm-winagent: malformed record 0x%02x from the host, ignored\n", rec.type);
    }
    return true;
}

int main(int argc, char **argv)
{
    const char *display = argc > 1 && argv[1][0] ? argv[1] : ":0";
    if (!strcmp(display, "--help") || !strcmp(display, "-h")) {
        printf("usage: revm-winagent [DISPLAY]   (records on stdin/stdout; see PROTOCOL.md)\n");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    static wa agent;
    wa *a = &agent;
    a->scratch = malloc(2 * (size_t)WA_SCRATCH_HALF);
    a->pixels = malloc(4 * (size_t)PROTO_WIN_MAX_RECT_PIXELS);
    uint8_t *inbuf = malloc(4 + (size_t)PROTO_WIN_MAX_RECORD);
    if (!a->scratch || !a->pixels || !inbuf)
        die("out of memory");
    setup(a, display);
    proto_rec_stream rs;
    proto_rec_stream_init(&rs, inbuf, PROTO_WIN_MAX_RECORD);
    int xfd = xcb_get_file_descriptor(a->c);
    for (;;) {
        xcb_generic_event_t *ev;
        while ((ev = xcb_poll_for_event(a->c))) {
            if (!wa_track_event(a, ev) && a->have_sel)
                xsel_event(&a->sel, ev);
            free(ev);
        }
        wa_flush_damage(a);
        xcb_flush(a->c);
        if (xcb_connection_has_error(a->c))
            die("lost the X server");
        /* Events may have arrived during the flush's round trips. */
        if ((ev = xcb_poll_for_queued_event(a->c))) {
            if (!wa_track_event(a, ev) && a->have_sel)
                xsel_event(&a->sel, ev);
            free(ev);
            continue;
        }
        struct pollfd p[2] = {{.fd = xfd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            die("poll failed");
        if (p[1].revents && !read_host(a, &rs))
            break;
    }
    fprintf(stderr, "revm-winagent: host closed the window service (%llu bytes, %llu rectangles sent)\n",
            (unsigned long long)a->sent_bytes, (unsigned long long)a->sent_rects);
    xcb_disconnect(a->c);
    return 0;
}
