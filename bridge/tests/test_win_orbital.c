/* The Orbital back end of the window service, on Linux: a fake Orbital records every request
 * (the open path, command strings, maps, syncs) and the harness feeds Orbital's event structs
 * ({i64 code, a, b}) and reads the records they become on the service socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"
#include "win/win_orbital.h"

typedef struct fake_orb {
    char log[8192];
    int next_fd, open_fds, maps;
    uint32_t *px[64];
    size_t pw[64];
} fake_orb;

static void logf_(fake_orb *f, const char *s)
{
    strncat(f->log, s, sizeof f->log - strlen(f->log) - 2);
    strcat(f->log, "\n");
}

static int f_open(void *c, const char *path)
{
    fake_orb *f = c;
    char l[512];
    snprintf(l, sizeof l, "open %s", path);
    logf_(f, l);
    f->open_fds++;
    return f->next_fd++;
}
static int f_write(void *c, int fd, const char *cmd, size_t n)
{
    char l[512];
    snprintf(l, sizeof l, "write %d %.*s", fd, (int)n, cmd);
    logf_(c, l);
    return 0;
}
static uint32_t *f_map(void *c, int fd, size_t w, size_t h)
{
    fake_orb *f = c;
    char l[64];
    snprintf(l, sizeof l, "map %d %zux%zu", fd, w, h);
    logf_(f, l);
    f->maps++;
    f->px[fd] = calloc(w * h, 4);
    f->pw[fd] = w;
    return f->px[fd];
}
static void f_unmap(void *c, int fd, uint32_t *px, size_t w, size_t h)
{
    fake_orb *f = c;
    char l[64];
    snprintf(l, sizeof l, "unmap %d %zux%zu", fd, w, h);
    logf_(f, l);
    assert_ptr_equal(px, f->px[fd]);
    free(px);
    f->px[fd] = NULL;
    f->maps--;
}
static int f_sync(void *c, int fd)
{
    char l[32];
    snprintf(l, sizeof l, "sync %d", fd);
    logf_(c, l);
    return 0;
}
static void f_close(void *c, int fd)
{
    fake_orb *f = c;
    char l[32];
    snprintf(l, sizeof l, "close %d", fd);
    logf_(f, l);
    f->open_fds--;
}

static uint8_t rec[PROTO_WIN_MAX_RECORD + 8];

static void guest(win_table *t, const proto_win_msg *m)
{
    size_t n = proto_win_encode(rec, sizeof rec, 0, m);
    assert_true(n > 0);
    proto_rec r = {.type = rec[4], .body = rec + PROTO_REC_HDR, .body_len = n - PROTO_REC_HDR};
    assert_int_equal(win_handle(t, &r), 0);
}

/* The next record the back end sent to the guest. */
static proto_win_msg host_sent(int fd, uint8_t *buf, size_t cap)
{
    uint8_t type;
    uint32_t tag;
    size_t len;
    proto_win_msg m;
    uint8_t hdr[PROTO_REC_HDR];
    assert_int_equal(read(fd, hdr, sizeof hdr), (ssize_t)sizeof hdr);
    len = (size_t)(hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (uint32_t)hdr[3] << 24) - PROTO_REC_MIN;
    type = hdr[4];
    tag = 0;
    (void)tag;
    assert_true(len <= cap);
    assert_int_equal(read(fd, buf, len), (ssize_t)len);
    assert_true(proto_win_decode(type, buf, len, &m));
    return m;
}

static void orbital(void **st)
{
    (void)st;
    static fake_orb f;
    memset(&f, 0, sizeof f);
    f.next_fd = 3;
    win_orb_sys sys = {.ctx = &f, .open = f_open, .write = f_write, .map = f_map,
                       .unmap = f_unmap, .sync = f_sync, .close = f_close};
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    static win_table t;
    static win_orb o;
    win_orb_init(&o, &sys, sv[0], &t);
    win_table_init(&t, &o.be, "app", -1);

    guest(&t, &(proto_win_msg){.type = PROTO_WIN_CREATE, .id = 0x400001, .x = 10, .y = 20, .w = 4, .h = 3});
    guest(&t, &(proto_win_msg){.type = PROTO_WIN_TITLE, .id = 0x400001, .s1 = {"vi\x1b[2J", 6}});
    assert_string_equal(f.log, ""); /* nothing on the host until mapped */
    guest(&t, &(proto_win_msg){.type = PROTO_WIN_MAP, .id = 0x400001, .flags = 1});
    assert_string_equal(f.log, "open /scheme/orbital/ar/10/20/4/3/vi?[2J (app VM)\nmap 3 4x3\nsync 3\n");
    f.log[0] = 0;
    uint8_t px[2 * 4] = {0x11, 0x22, 0x33, 0, 0x44, 0x55, 0x66, 0};
    guest(&t, &(proto_win_msg){.type = PROTO_WIN_DAMAGE, .id = 0x400001, .x = 2, .y = 1, .w = 2, .h = 1,
                               .data = px, .data_len = 8});
    assert_string_equal(f.log, "write 3 Y,2,1,2,1\nsync 3\n");
    assert_int_equal(f.px[3][1 * 4 + 2], 0xff332211u); /* opaque 0xAARRGGBB */
    assert_int_equal(f.px[3][1 * 4 + 3], 0xff665544u);
    f.log[0] = 0;
    guest(&t, &(proto_win_msg){.type = PROTO_WIN_TITLE, .id = 0x400001, .s1 = {"new", 3}});
    guest(&t, &(proto_win_msg){.type = PROTO_WIN_GEOMETRY, .id = 0x400001, .x = 10, .y = 20, .w = 6, .h = 5});
    assert_string_equal(f.log, "write 3 T,new (app VM)\nunmap 3 4x3\nwrite 3 S,6,5\nmap 3 6x5\nsync 3\n");
    /* the content survived the resize where it is still inside */
    assert_int_equal(f.px[3][1 * 6 + 2], 0xff332211u);

    /* a menu: borderless, in front, placed relative to the focused window on the host */
    win_orb_event focus = {WIN_ORB_FOCUS, 1, 0}, move = {WIN_ORB_MOVE, 300, 200};
    win_window *w = win_find(&t, 0x400001);
    win_orb_event_in(&o, w, &move);
    win_orb_event_in(&o, w, &focus);
    f.log[0] = 0;
    guest(&t, &(proto_win_msg){.type = PROTO_WIN_CREATE, .id = 0x400002, .x = 15, .y = 40, .w = 2, .h = 2, .flags = PROTO_WIN_OVERRIDE});
    guest(&t, &(proto_win_msg){.type = PROTO_WIN_MAP, .id = 0x400002, .flags = 1});
    assert_string_equal(f.log, "open /scheme/orbital/alf/305/220/2/2/window (app VM)\nmap 4 2x2\nsync 4\n");
    f.log[0] = 0;
    guest(&t, &(proto_win_msg){.type = PROTO_WIN_MAP, .id = 0x400002, .flags = 0});
    assert_string_equal(f.log, "unmap 4 2x2\nclose 4\n");

    /* events in, records out */
    uint8_t buf[256];
    proto_win_msg m = host_sent(sv[1], buf, sizeof buf);
    assert_int_equal(m.type, PROTO_WIN_FOCUS);
    assert_int_equal(m.flags, 1);
    win_orb_event evs[] = {
        {WIN_ORB_KEY, 'a', 0x1e | 0x100}, {WIN_ORB_KEY, 'a', 0x1e}, {WIN_ORB_KEY, '\r', 0x1c | 0x100},
        {WIN_ORB_KEY, 0xe9, 0x00 | 0x100}, {WIN_ORB_MOUSE, 7, 8}, {WIN_ORB_BUTTON, 1, 0},
        {WIN_ORB_BUTTON, 0, 0}, {WIN_ORB_SCROLL, 0, -1}, {WIN_ORB_RESIZE, 640, 480},
        {WIN_ORB_RESIZE, 0, 480}, {WIN_ORB_RESIZE, 1LL << 40, 5}, {WIN_ORB_QUIT, 0, 0},
        {WIN_ORB_SCREEN, 1920, 1080},
    };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        win_orb_event_in(&o, w, &evs[i]);
    struct { uint8_t type, flags, down; uint32_t aux; int32_t x, y; uint16_t w, h; } want[] = {
        {PROTO_WIN_KEY, 1, 0, 'a', 0, 0, 0, 0}, {PROTO_WIN_KEY, 0, 0, 'a', 0, 0, 0, 0},
        {PROTO_WIN_KEY, 1, 0, 0xff0d, 0, 0, 0, 0}, {PROTO_WIN_KEY, 1, 0, 0xe9, 0, 0, 0, 0},
        {PROTO_WIN_POINTER, 0, 0, 0, 7, 8, 0, 0}, {PROTO_WIN_POINTER, 1, 1, 0, 7, 8, 0, 0},
        {PROTO_WIN_POINTER, 1, 0, 0, 7, 8, 0, 0}, {PROTO_WIN_POINTER, 5, 1, 0, 7, 8, 0, 0},
        {PROTO_WIN_POINTER, 5, 0, 0, 7, 8, 0, 0}, {PROTO_WIN_RESIZE, 0, 0, 0, 0, 0, 640, 480},
        {PROTO_WIN_CLOSE, 0, 0, 0, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        m = host_sent(sv[1], buf, sizeof buf);
        assert_int_equal(m.type, want[i].type);
        assert_int_equal(m.id, 0x400001);
        assert_int_equal(m.flags, want[i].flags);
        if (m.type == PROTO_WIN_POINTER) {
            assert_int_equal(m.down, want[i].down);
            assert_int_equal(m.x, want[i].x);
            assert_int_equal(m.y, want[i].y);
        }
        if (m.type == PROTO_WIN_KEY)
            assert_int_equal(m.aux, want[i].aux);
        if (m.type == PROTO_WIN_RESIZE)
            assert_int_equal(m.w, want[i].w);
    }
    /* nothing else was sent: the bad resizes and SCREEN were dropped */
    close(sv[0]);
    assert_int_equal(read(sv[1], buf, sizeof buf), 0);
    /* DESTROY closes and unmaps */
    f.log[0] = 0;
    guest(&t, &(proto_win_msg){.type = PROTO_WIN_DESTROY, .id = 0x400001});
    assert_string_equal(f.log, "unmap 3 6x5\nclose 3\n");
    win_table_free(&t);
    assert_int_equal(f.open_fds, 0);
    assert_int_equal(f.maps, 0);
    close(sv[1]);
}

/* The loop: Orbital window fds are socketpairs here; the harness writes Orbital's event
 * structs into the other ends and guest records into the service socket. */
static int orb_peer[64];
static int p_open(void *c, const char *path)
{
    (void)c, (void)path;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    orb_peer[sv[0]] = sv[1];
    return sv[0];
}
static uint32_t *p_map(void *c, int fd, size_t w, size_t h) { (void)c, (void)fd; return calloc(w * h, 4); }
static void p_unmap(void *c, int fd, uint32_t *px, size_t w, size_t h) { (void)c, (void)fd, (void)w, (void)h; free(px); }
static long p_read(void *c, int fd, void *buf, size_t n) { (void)c; return (long)read(fd, buf, n); }
static void p_close(void *c, int fd) { (void)c; close(orb_peer[fd]); close(fd); }
static char orb_clip[64] = "from orbital";
static long p_clip_read(void *c, int fd, char *buf, size_t cap)
{
    (void)c, (void)fd;
    size_t n = strlen(orb_clip);
    assert_true(n <= cap);
    memcpy(buf, orb_clip, n);
    return (long)n;
}
static int p_clip_write(void *c, int fd, const char *t, size_t n)
{
    (void)c, (void)fd;
    assert_true(n < sizeof orb_clip);
    memcpy(orb_clip, t, n);
    orb_clip[n] = 0;
    return 0;
}

static void pump(void **st)
{
    (void)st;
    static fake_orb f;
    memset(&f, 0, sizeof f);
    win_orb_sys sys = {.ctx = &f, .open = p_open, .write = f_write, .map = p_map, .unmap = p_unmap,
                       .sync = f_sync, .read = p_read, .close = p_close,
                       .clip_read = p_clip_read, .clip_write = p_clip_write};
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    static win_table t;
    static win_orb o;
    win_orb_init(&o, &sys, sv[0], &t);
    win_table_init(&t, &o.be, "app", -1);
    static uint8_t rsbuf[PROTO_WIN_MAX_RECORD + 4];
    proto_rec_stream rs;
    proto_rec_stream_init(&rs, rsbuf, PROTO_WIN_MAX_RECORD);
    /* guest records through the socket, split at an odd place */
    size_t n1 = proto_win_encode(rec, sizeof rec, 0, &(proto_win_msg){.type = PROTO_WIN_CREATE, .id = 9, .w = 5, .h = 5});
    size_t n2 = proto_win_encode(rec + n1, sizeof rec - n1, 0, &(proto_win_msg){.type = PROTO_WIN_MAP, .id = 9, .flags = 1});
    assert_int_equal(write(sv[1], rec, n1 + 3), (ssize_t)(n1 + 3));
    assert_int_equal(win_orb_pump(&o, &rs, 1000), 0);
    assert_non_null(win_find(&t, 9));
    assert_int_equal(win_orb_fd(win_find(&t, 9)), -1);
    assert_int_equal(write(sv[1], rec + n1 + 3, n2 - 3), (ssize_t)(n2 - 3));
    assert_int_equal(win_orb_pump(&o, &rs, 1000), 0);
    int fd = win_orb_fd(win_find(&t, 9));
    assert_true(fd >= 0);
    /* Orbital events on the window's fd: a key and a quit */
    win_orb_event ev[2] = {{WIN_ORB_KEY, 'q', 0x10 | 0x100}, {WIN_ORB_QUIT, 0, 0}};
    assert_int_equal(write(orb_peer[fd], ev, sizeof ev), (ssize_t)sizeof ev);
    assert_int_equal(win_orb_pump(&o, &rs, 1000), 0);
    uint8_t buf[64];
    proto_win_msg m = host_sent(sv[1], buf, sizeof buf);
    assert_int_equal(m.type, PROTO_WIN_KEY);
    assert_int_equal(m.aux, 'q');
    m = host_sent(sv[1], buf, sizeof buf);
    assert_int_equal(m.type, PROTO_WIN_CLOSE);
    assert_int_equal(m.id, 9);
    /* clipboard: Orbital's text to the guest once; the guest's into Orbital, not echoed */
    win_orb_event cu = {WIN_ORB_CLIPBOARD_UPDATE, 0, 0};
    assert_int_equal(write(orb_peer[fd], &cu, sizeof cu), (ssize_t)sizeof cu);
    assert_int_equal(win_orb_pump(&o, &rs, 1000), 0);
    m = host_sent(sv[1], buf, sizeof buf);
    assert_int_equal(m.type, PROTO_WIN_CLIPBOARD);
    assert_int_equal(m.s1.n, 12);
    assert_memory_equal(m.s1.s, "from orbital", 12);
    size_t n3 = proto_win_encode(rec, sizeof rec, 0, &(proto_win_msg){.type = PROTO_WIN_CLIPBOARD, .s1 = {"from guest", 10}});
    assert_int_equal(write(sv[1], rec, n3), (ssize_t)n3);
    assert_int_equal(win_orb_pump(&o, &rs, 1000), 0);
    assert_string_equal(orb_clip, "from guest");
    assert_int_equal(write(orb_peer[fd], &cu, sizeof cu), (ssize_t)sizeof cu);
    assert_int_equal(win_orb_pump(&o, &rs, 1000), 0); /* the same text: nothing sent */

    /* a record longer than the service allows ends it; so does EOF */
    uint8_t bad[5] = {0xff, 0xff, 0xff, 0x7f, 0x88};
    assert_int_equal(write(sv[1], bad, sizeof bad), (ssize_t)sizeof bad);
    assert_int_equal(win_orb_pump(&o, &rs, 1000), -1);
    close(sv[1]);
    proto_rec_stream_init(&rs, rsbuf, PROTO_WIN_MAX_RECORD);
    assert_int_equal(win_orb_pump(&o, &rs, 1000), -1);
    win_table_free(&t);
    win_orb_free(&o);
    close(sv[0]);
}

static void keysyms(void **st)
{
    (void)st;
    assert_int_equal(win_orb_keysym('A', 0x1e), 'A');
    assert_int_equal(win_orb_keysym(0, 0x48), 0xff52);        /* up */
    assert_int_equal(win_orb_keysym(0x20ac, 0x12), 0x010020ac); /* euro: Unicode keysym */
    assert_int_equal(win_orb_keysym(0xd800, 0x12), 0);          /* surrogate */
    assert_int_equal(win_orb_keysym(-5, 0x7f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(orbital), cmocka_unit_test(pump), cmocka_unit_test(keysyms)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
