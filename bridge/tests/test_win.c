/* Window service (PROTOCOL.md, Window service): the record codec and its bounds, the runs
 * pixel encoding, and the host's window table against a hostile guest: ids it never created,
 * duplicates, rectangles outside the window, pixel data of the wrong length, a million
 * windows, hostile titles; plus the host-to-guest records on a socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "revm/cli.h"
#include "proto.h"
#include "win/win.h"

int cli_cmd_gui(const cli_opts *o, int argc, char **argv); /* revm/gui_cmd.c */

static uint8_t *recbuf; /* one record of any size */

static proto_rec make(const proto_win_msg *m)
{
    size_t n = proto_win_encode(recbuf, PROTO_WIN_MAX_RECORD + 4, 0, m);
    assert_true(n >= PROTO_REC_HDR);
    return (proto_rec){.type = recbuf[4], .tag = 0, .body = recbuf + PROTO_REC_HDR,
                       .body_len = n - PROTO_REC_HDR};
}

static void roundtrip(void **st)
{
    (void)st;
    uint8_t px[16] = {1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 10, 11, 12, 0};
    proto_win_msg all[] = {
        {.type = PROTO_WIN_READY, .w = 1920, .h = 1080, .s1 = {":0", 2}},
        {.type = PROTO_WIN_CREATE, .id = 7, .x = -5, .y = 9, .w = 100, .h = 50, .flags = 1, .aux = 3},
        {.type = PROTO_WIN_DESTROY, .id = 7},
        {.type = PROTO_WIN_MAP, .id = 7, .flags = 1},
        {.type = PROTO_WIN_GEOMETRY, .id = 7, .x = 1, .y = -2, .w = 8192, .h = 1},
        {.type = PROTO_WIN_TITLE, .id = 7, .s1 = {"t\x01itle", 6}},
        {.type = PROTO_WIN_CLASS, .id = 7, .s1 = {"xterm", 5}, .s2 = {"XTerm", 5}},
        {.type = PROTO_WIN_TRANSIENT, .id = 7, .aux = 9},
        {.type = PROTO_WIN_DAMAGE, .id = 7, .x = 3, .y = 4, .w = 2, .h = 2, .data = px, .data_len = 16},
        {.type = PROTO_WIN_KEY, .id = 7, .flags = 1, .aux = 0xffe1},
        {.type = PROTO_WIN_POINTER, .id = 7, .x = -3, .y = 40, .flags = 5, .down = 1},
        {.type = PROTO_WIN_FOCUS, .id = 7, .flags = 0},
        {.type = PROTO_WIN_RESIZE, .id = 7, .w = 640, .h = 480},
        {.type = PROTO_WIN_CLOSE, .id = 7},
        {.type = PROTO_WIN_REFRESH, .id = 0},
        {.type = PROTO_WIN_CLIPBOARD, .s1 = {"clip", 4}},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        proto_rec r = make(&all[i]);
        proto_win_msg m;
        assert_true(proto_win_decode(r.type, r.body, r.body_len, &m));
        assert_int_equal(m.type, all[i].type);
        assert_int_equal(m.id, all[i].id);
        assert_int_equal(m.x, all[i].x);
        assert_int_equal(m.y, all[i].y);
        assert_int_equal(m.w, all[i].w);
        assert_int_equal(m.h, all[i].h);
        assert_int_equal(m.flags, all[i].flags);
        assert_int_equal(m.aux, all[i].aux);
        assert_int_equal(m.s1.n, all[i].s1.n);
        assert_memory_equal(m.s1.s, all[i].s1.s ? all[i].s1.s : "", m.s1.n);
        assert_int_equal(m.data_len, all[i].data_len);
        /* Any cut or extra byte is malformed. */
        assert_false(proto_win_decode(r.type, r.body, r.body_len - 1, &m));
        memcpy(recbuf + r.body_len + PROTO_REC_HDR, "x", 1);
        assert_false(proto_win_decode(r.type, r.body, r.body_len + 1, &m));
    }
}

static void bounds(void **st)
{
    (void)st;
    proto_win_msg m;
    uint8_t out[64];
    /* sizes 0 and above 8192 are never encoded */
    assert_int_equal(proto_win_encode(out, sizeof out, 0, &(proto_win_msg){.type = PROTO_WIN_CREATE, .id = 1, .w = 0, .h = 5}), 0);
    assert_int_equal(proto_win_encode(out, sizeof out, 0, &(proto_win_msg){.type = PROTO_WIN_RESIZE, .id = 1, .w = 8193, .h = 5}), 0);
    /* ... nor decoded: hand-made CREATE with w = 0 */
    uint8_t body[21] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0};
    assert_false(proto_win_decode(PROTO_WIN_CREATE, body, sizeof body, &m));
    body[12] = 1;
    assert_true(proto_win_decode(PROTO_WIN_CREATE, body, sizeof body, &m));
    body[0] = 0; /* id 0 */
    assert_false(proto_win_decode(PROTO_WIN_CREATE, body, sizeof body, &m));
    /* DAMAGE: raw length must be 4wh; w*h over the record bound; rectangle beyond 8192 */
    uint8_t d[17 + 8] = {1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0, 0, 8, 0, 0, 0};
    assert_true(proto_win_decode(PROTO_WIN_DAMAGE, d, sizeof d, &m));
    d[13] = 7; /* announces 7 bytes, carries 8 */
    assert_false(proto_win_decode(PROTO_WIN_DAMAGE, d, sizeof d, &m));
    d[13] = 8, d[12] = 2; /* unknown encoding */
    assert_false(proto_win_decode(PROTO_WIN_DAMAGE, d, sizeof d, &m));
    d[12] = 0, d[4] = 0xff, d[5] = 0x1f; /* x = 8191, w = 2 */
    assert_false(proto_win_decode(PROTO_WIN_DAMAGE, d, sizeof d, &m));
    /* unknown type, strings with NUL, over their bound */
    assert_false(proto_win_decode(0x7f, d, sizeof d, &m));
    uint8_t t[4 + 4 + 3] = {1, 0, 0, 0, 3, 0, 0, 0, 'a', 0, 'b'};
    assert_false(proto_win_decode(PROTO_WIN_TITLE, t, sizeof t, &m));
    uint8_t big[8] = {1, 0, 0, 0, 0x01, 0x04, 0, 0}; /* 1025-byte title */
    assert_false(proto_win_decode(PROTO_WIN_TITLE, big, sizeof big, &m));
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff}; /* clipboard claiming 4 GiB */
    assert_false(proto_win_decode(PROTO_WIN_CLIPBOARD, huge, sizeof huge, &m));
}

static void runs(void **st)
{
    (void)st;
    enum { N = 5000 };
    uint32_t *px = malloc(N * 4), *back = malloc(N * 4);
    uint8_t *enc = malloc(N * 5 + 16);
    srand(7);
    for (int pass = 0; pass < 4; pass++) {
        for (int i = 0; i < N; i++)
            px[i] = pass == 0 ? 0x123456 : pass == 1 ? (uint32_t)rand() & 0xffffff
                  : (uint32_t)(rand() % 3) * 0x10101u * (uint32_t)(pass == 2 ? 1 : (i / 200 % 2));
        size_t n = proto_win_runs_encode(px, N, enc, N * 5 + 16);
        assert_true(n > 0);
        if (pass == 0)
            assert_true(n <= 5 * (N / 129 + 1));
        memset(back, 0xee, N * 4);
        assert_true(proto_win_pixels_decode(PROTO_WIN_ENC_RUNS, enc, n, back, 100, 100, 50));
        assert_memory_equal(px, back, N * 4);
        /* short, long, and a cap too small to encode */
        assert_false(proto_win_pixels_decode(PROTO_WIN_ENC_RUNS, enc, n - 1, back, 100, 100, 50));
        assert_false(proto_win_pixels_decode(PROTO_WIN_ENC_RUNS, enc, n, back, 100, 100, 49));
        assert_int_equal(proto_win_runs_encode(px, N, enc, 3), 0);
    }
    /* a run crossing w*h is malformed, never written past the rectangle */
    uint8_t over[5] = {255, 1, 2, 3, 0}; /* 129 pixels */
    uint32_t small[4 * 4];
    memset(small, 0, sizeof small);
    assert_false(proto_win_pixels_decode(PROTO_WIN_ENC_RUNS, over, 5, small, 4, 2, 2));
    free(px), free(back), free(enc);
}

/* A back end that records what reached it. */
typedef struct rec_be {
    int creates, destroys, maps, geoms, titles, presents, clips, refuse;
    char last_title[WIN_TITLE_MAX];
    int px, py, pw, ph;
} rec_be;
static int r_create(void *c, win_window *w) { rec_be *b = c; (void)w; b->creates++; return b->refuse ? -1 : 0; }
static void r_destroy(void *c, win_window *w) { (void)w; ((rec_be *)c)->destroys++; }
static void r_map(void *c, win_window *w) { (void)w; ((rec_be *)c)->maps++; }
static void r_geom(void *c, win_window *w, bool r) { (void)w, (void)r; ((rec_be *)c)->geoms++; }
static void r_title(void *c, win_window *w) { rec_be *b = c; b->titles++; snprintf(b->last_title, sizeof b->last_title, "%s", w->title); }
static void r_present(void *c, win_window *w, int x, int y, int rw, int rh)
{
    rec_be *b = c;
    assert_true(x >= 0 && y >= 0 && x + rw <= w->w && y + rh <= w->h);
    b->presents++, b->px = x, b->py = y, b->pw = rw, b->ph = rh;
}
static void r_clip(void *c, const char *t, size_t n) { (void)t, (void)n; ((rec_be *)c)->clips++; }

static rec_be rb;
static win_backend be = {.ctx = &rb, .create = r_create, .destroy = r_destroy, .map = r_map,
                         .geometry = r_geom, .title = r_title, .present = r_present, .clipboard = r_clip};

static int handle(win_table *t, const proto_win_msg *m)
{
    proto_rec r = make(m);
    return win_handle(t, &r);
}

static int create(win_table *t, uint32_t id, uint16_t w, uint16_t h)
{
    return handle(t, &(proto_win_msg){.type = PROTO_WIN_CREATE, .id = id, .w = w, .h = h});
}

static int damage_raw(win_table *t, uint32_t id, int x, int y, uint16_t w, uint16_t h, uint32_t v, uint32_t len)
{
    uint8_t *d = malloc((size_t)w * h * 4 + 4);
    for (size_t i = 0; i < (size_t)w * h; i++)
        memcpy(d + 4 * i, &v, 4);
    /* encode honestly, then patch data_len/length to lie when asked */
    proto_win_msg m = {.type = PROTO_WIN_DAMAGE, .id = id, .x = x, .y = y, .w = w, .h = h,
                       .data = d, .data_len = (uint32_t)w * h * 4};
    proto_rec r = make(&m);
    free(d);
    if (len != m.data_len) {
        uint8_t *body = (uint8_t *)r.body;
        memcpy(body + 13, &len, 4);
        r.body_len = 17 + (len < m.data_len ? len : m.data_len);
    }
    return win_handle(t, &r);
}

static void table_hostile(void **st)
{
    (void)st;
    memset(&rb, 0, sizeof rb);
    static win_table t;
    win_table_init(&t, &be, "app", -1);
    assert_int_equal(create(&t, 5, 10, 10), 0);
    assert_int_equal(create(&t, 5, 10, 10), -1);                   /* duplicate */
    assert_int_equal(t.drops[WIN_DROP_DUPLICATE], 1);
    assert_int_equal(damage_raw(&t, 6, 0, 0, 2, 2, 1, 16), -1);     /* unknown id */
    assert_int_equal(handle(&t, &(proto_win_msg){.type = PROTO_WIN_MAP, .id = 99, .flags = 1}), -1);
    assert_int_equal(t.drops[WIN_DROP_UNKNOWN_ID], 2);
    assert_int_equal(damage_raw(&t, 5, 9, 9, 2, 2, 1, 16), -1);     /* outside */
    assert_int_equal(damage_raw(&t, 5, 0, 0, 10, 11, 1, 440), -1);  /* taller */
    assert_int_equal(t.drops[WIN_DROP_RECT], 2);
    assert_int_equal(damage_raw(&t, 5, 0, 0, 2, 2, 1, 12), -1);     /* short data */
    assert_int_equal(damage_raw(&t, 5, 0, 0, 2, 2, 1, 1000), -1);   /* announces more */
    assert_int_equal(rb.presents, 0);
    assert_int_equal(damage_raw(&t, 5, 8, 8, 2, 2, 0xabcdef, 16), 0);
    assert_int_equal(rb.presents, 1);
    win_window *w = win_find(&t, 5);
    assert_int_equal(w->px[9 * 10 + 9], 0xabcdef);
    assert_int_equal(w->px[7 * 10 + 7], 0);
    /* shrink: content kept inside, damage at the old corner now outside */
    assert_int_equal(handle(&t, &(proto_win_msg){.type = PROTO_WIN_GEOMETRY, .id = 5, .w = 9, .h = 9}), 0);
    assert_int_equal(damage_raw(&t, 5, 8, 8, 2, 2, 1, 16), -1);
    /* host-to-guest types from the guest */
    assert_int_equal(handle(&t, &(proto_win_msg){.type = PROTO_WIN_KEY, .id = 5, .aux = 1}), -1);
    assert_int_equal(t.drops[WIN_DROP_DIRECTION], 1);
    /* too big for the pixel budget */
    assert_int_equal(create(&t, 6, 8192, 8192), -1);
    assert_int_equal(t.drops[WIN_DROP_TOO_BIG], 1);
    /* a back end that refuses leaves nothing behind */
    rb.refuse = 1;
    assert_int_equal(create(&t, 7, 4, 4), -1);
    assert_null(win_find(&t, 7));
    rb.refuse = 0;
    win_table_free(&t);
    assert_int_equal(rb.destroys, 1);
    assert_int_equal(t.count, 0);
    assert_int_equal(t.total_px, 0);
}

static void million_windows(void **st)
{
    (void)st;
    memset(&rb, 0, sizeof rb);
    static win_table t;
    win_table_init(&t, &be, "app", -1);
    for (uint32_t id = 1; id <= 1000000; id++)
        create(&t, id, 1, 1);
    assert_int_equal(t.count, PROTO_WIN_MAX_WINDOWS);
    assert_int_equal(t.drops[WIN_DROP_TOO_MANY], 1000000 - PROTO_WIN_MAX_WINDOWS);
    /* create/destroy churn keeps lookups right (hash deletion) */
    srand(3);
    static bool live[4096];
    memset(live, 0, sizeof live);
    for (uint32_t id = 1; id <= PROTO_WIN_MAX_WINDOWS; id++)
        live[id] = true;
    for (int i = 0; i < 200000; i++) {
        uint32_t id = 1 + (uint32_t)rand() % 4000;
        if (live[id]) {
            assert_int_equal(handle(&t, &(proto_win_msg){.type = PROTO_WIN_DESTROY, .id = id}), 0);
            live[id] = false;
        } else if (t.count < PROTO_WIN_MAX_WINDOWS) {
            assert_int_equal(create(&t, id, 1, 1), 0);
            live[id] = true;
        }
    }
    for (uint32_t id = 1; id < 4001; id++)
        assert_true((win_find(&t, id) != NULL) == live[id]);
    win_table_free(&t);
}

static void titles(void **st)
{
    (void)st;
    char out[WIN_TITLE_MAX];
    win_title_sanitize("vim\x1b]0;root\x07 - x", 16, "", "app", out, sizeof out);
    assert_string_equal(out, "vim?]0;root? - x (app VM)");
    win_title_sanitize("caf\xc3\xa9 \xff\xc0\xaf \xe2\x80\xae", 13, "", "app", out, sizeof out);
    assert_string_equal(out, "caf\xc3\xa9 ??? ? (app VM)");
    win_title_sanitize("", 0, "XTerm", "dev", out, sizeof out);
    assert_string_equal(out, "XTerm (dev VM)");
    win_title_sanitize("", 0, "", "app", out, sizeof out);
    assert_string_equal(out, "window (app VM)");
    /* cut on a character boundary: 300 x "é" */
    char lng[600];
    for (int i = 0; i < 300; i++)
        lng[2 * i] = (char)0xc3, lng[2 * i + 1] = (char)0xa9;
    win_title_sanitize(lng, 600, "", "app", out, sizeof out);
    assert_int_equal(strlen(out), WIN_TITLE_CUT + strlen(" (app VM)"));
    assert_string_equal(out + WIN_TITLE_CUT, " (app VM)");
    /* a longest guest title and a long VM name: the VM mark still ends the title */
    win_title_sanitize(lng, 600, "", "a-very-long-virtual-machine-name-that-goes-on-and-on-and-on",
                       out, sizeof out);
    assert_true(strlen(out) < WIN_TITLE_MAX);
    assert_string_equal(out + strlen(out) - 4, " VM)");
    /* through the table: a title record reaches the back end sanitized */
    memset(&rb, 0, sizeof rb);
    static win_table t;
    win_table_init(&t, &be, "app", -1);
    create(&t, 9, 5, 5);
    assert_int_equal(handle(&t, &(proto_win_msg){.type = PROTO_WIN_TITLE, .id = 9, .s1 = {"a\nb\tc", 5}}), 0);
    assert_string_equal(rb.last_title, "a?b?c (app VM)");
    /* no title: the class, arriving after the (empty) title, stands in for it */
    create(&t, 10, 5, 5);
    assert_int_equal(handle(&t, &(proto_win_msg){.type = PROTO_WIN_TITLE, .id = 10}), 0);
    assert_int_equal(handle(&t, &(proto_win_msg){.type = PROTO_WIN_CLASS, .id = 10,
                                                 .s1 = {"xterm", 5}, .s2 = {"XTerm", 5}}), 0);
    assert_string_equal(rb.last_title, "XTerm (app VM)");
    win_table_free(&t);
}

static void send_records(void **st)
{
    (void)st;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(win_send_key(sv[0], 3, true, 0x61), 0);
    assert_int_equal(win_send_pointer(sv[0], 3, -1, 2, 4, true), 0);
    assert_int_equal(win_send_resize(sv[0], 3, 0, 10), -1); /* never a size of 0 */
    assert_int_equal(win_send_clipboard(sv[0], "hello", 5), 0);
    assert_int_equal(win_send_close(sv[0], 3), 0);
    close(sv[0]);
    uint8_t in[256];
    ssize_t n = read(sv[1], in, sizeof in);
    assert_true(n > 0);
    proto_rec_stream s;
    uint8_t buf[512];
    proto_rec_stream_init(&s, buf, sizeof buf - 4);
    uint8_t types[8];
    int k = 0;
    size_t off = 0;
    while (off < (size_t)n) {
        size_t used;
        proto_rec r;
        int rc = proto_rec_stream_feed(&s, in + off, (size_t)n - off, &used, &r);
        off += used;
        if (rc != PROTO_FRAME)
            break;
        proto_win_msg m;
        assert_true(proto_win_decode(r.type, r.body, r.body_len, &m));
        types[k++] = m.type;
    }
    assert_int_equal(k, 4);
    assert_int_equal(types[0], PROTO_WIN_KEY);
    assert_int_equal(types[1], PROTO_WIN_POINTER);
    assert_int_equal(types[2], PROTO_WIN_CLIPBOARD);
    assert_int_equal(types[3], PROTO_WIN_CLOSE);
    close(sv[1]);
}

/* revm gui refuses a display that is not an X display name, before reaching any VM. */
static void gui_args(void **st)
{
    (void)st;
    cli_opts o = {.vm = "app"};
    char *bad[] = {"gui", "--display", "/tmp/x", "xterm"};
    assert_int_equal(cli_cmd_gui(&o, 4, bad), 2);
    char *longd[] = {"gui", "--display", ":0123456789012345678901234567890123456789", "xterm"};
    assert_int_equal(cli_cmd_gui(&o, 4, longd), 2);
}

int main(void)
{
    recbuf = malloc(PROTO_WIN_MAX_RECORD + 8);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundtrip), cmocka_unit_test(bounds), cmocka_unit_test(runs),
        cmocka_unit_test(table_hostile), cmocka_unit_test(million_windows),
        cmocka_unit_test(titles), cmocka_unit_test(send_records), cmocka_unit_test(gui_args),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(recbuf);
    return rc;
}
