/* The host display client (display/disp_client.c) against a hostile guest (records written
 * by the test on the other end of a socketpair: absurd lists, zero or huge sizes, a mode
 * nobody asked for, lengths out of bounds, a connector that vanishes mid-frame, a guest that
 * hangs up), and against the real helper (revm-guestd --service display fake:DUMP) run
 * locally: list, mode, full and partial updates checked in the helper's dump, hot-plug. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "display/disp_client.h"
#include "proto.h"
#include "rb_svc.h"

typedef struct pair {
    int host, guest;
    disp_client *c;
} pair;

static int setup(void **st)
{
    pair *p = calloc(1, sizeof *p);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    p->host = sv[0], p->guest = sv[1];
    p->c = disp_client_new(p->host);
    *st = p;
    return 0;
}

static int teardown(void **st)
{
    pair *p = *st;
    disp_client_free(p->c);
    close(p->host);
    if (p->guest >= 0)
        close(p->guest);
    free(p);
    return 0;
}

/* The guest's answer, queued before the request (the socket buffers both directions). */
static void guest_says(pair *p, uint8_t type, uint32_t tag, const void *body, size_t n)
{
    assert_int_equal(rb_svc_send(p->guest, type, tag, body, n), 0);
}

static size_t list_of(uint8_t *b, size_t cap, unsigned nconn, bool connected)
{
    proto_disp_conn c[PROTO_DISP_MAX_CONNS];
    memset(c, 0, sizeof c);
    for (unsigned i = 0; i < nconn; i++) {
        c[i].id = 10 + i;
        c[i].connected = connected;
        snprintf(c[i].name, sizeof c[i].name, "Virtual-%u", i + 1);
        if (connected) {
            c[i].nmodes = 2;
            c[i].modes[0] = (proto_disp_mode){1024, 768, 60, PROTO_DISP_MODE_PREFERRED};
            c[i].modes[1] = (proto_disp_mode){800, 600, 60, 0};
        }
    }
    return proto_disp_enc_conns(b, cap, c, nconn);
}

static void lists_and_modes(void **st)
{
    pair *p = *st;
    uint8_t b[PROTO_DISP_MAX_EVENT];
    guest_says(p, PROTO_DISP_CONNECTORS, 1, b, list_of(b, sizeof b, 2, true));
    proto_disp_conn l[PROTO_DISP_MAX_CONNS];
    size_t n;
    int code;
    char err[300];
    assert_int_equal(disp_list(p->c, l, PROTO_DISP_MAX_CONNS, &n, &code, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(disp_default_conn(l, n)->name, "Virtual-1");
    assert_ptr_equal(disp_find_conn(l, n, "Virtual-2"), &l[1]);
    /* The preferred mode (0x0), answered with its size. */
    guest_says(p, PROTO_DISP_MODE, 2, b, proto_disp_enc_mode(b, sizeof b, 10, 1024, 768, 60));
    proto_disp_mode got;
    assert_int_equal(disp_set_mode(p->c, 10, 0, 0, 0, &got, &code, err, sizeof err), 0);
    assert_int_equal(got.w, 1024);
    /* A refusal is an error with the guest's code, and the client stays usable; control
     * characters in the guest's text do not reach ours. */
    guest_says(p, PROTO_DISP_ERROR, 3, b, proto_disp_enc_error(b, sizeof b, EINVAL, "no\x1b[2Jsuch mode"));
    assert_int_equal(disp_set_mode(p->c, 10, 801, 600, 0, &got, &code, err, sizeof err), -1);
    assert_int_equal(code, EINVAL);
    assert_null(strchr(err, '\x1b'));
    assert_string_equal(disp_client_why(p->c), "");
}

static void expect_broken(pair *p, const char *what)
{
    proto_disp_conn l[PROTO_DISP_MAX_CONNS];
    size_t n;
    int code = -1;
    char err[300];
    assert_int_equal(disp_list(p->c, l, PROTO_DISP_MAX_CONNS, &n, &code, err, sizeof err), -1);
    assert_int_equal(code, 0);
    if (!strstr(err, what))
        fail_msg("error '%s' lacks '%s'", err, what);
    assert_int_equal(n, 0);
    /* Broken stays broken, with the same reason, without reading anything else. */
    assert_int_equal(disp_list(p->c, l, PROTO_DISP_MAX_CONNS, &n, &code, err, sizeof err), -1);
    assert_non_null(strstr(err, what));
}

static void absurd_list(void **st)
{
    pair *p = *st;
    uint8_t b[64] = {200}; /* 200 connectors, then nothing */
    guest_says(p, PROTO_DISP_CONNECTORS, 1, b, 1);
    expect_broken(p, "too many connectors");
}

/* The guest answers a SET_MODE for ask_w x ask_h with MODE got_w x got_h: refused with want. */
static void expect_mode_refused(pair *p, uint16_t ask_w, uint16_t ask_h, uint16_t got_w,
                                uint16_t got_h, const char *want)
{
    uint8_t b[16];
    guest_says(p, PROTO_DISP_MODE, 1, b, proto_disp_enc_mode(b, sizeof b, 10, got_w, got_h, 60));
    proto_disp_mode got;
    int code;
    char err[300];
    assert_int_equal(disp_set_mode(p->c, 10, ask_w, ask_h, 0, &got, &code, err, sizeof err), -1);
    if (!strstr(err, want))
        fail_msg("error '%s' lacks '%s'", err, want);
}

static void zero_size_mode(void **st) { expect_mode_refused(*st, 0, 0, 0, 0, "malformed MODE"); }
static void unasked_mode(void **st) { expect_mode_refused(*st, 800, 600, 8192, 8192, "does not match"); }

static void huge_record(void **st)
{
    pair *p = *st;
    uint8_t h[9] = {0xff, 0xff, 0xff, 0x7f, PROTO_DISP_CONNECTORS, 1, 0, 0, 0};
    assert_int_equal(write(p->guest, h, sizeof h), (ssize_t)sizeof h);
    expect_broken(p, "longer than");
}

static void wrong_tag_and_type(void **st)
{
    pair *p = *st;
    guest_says(p, PROTO_DISP_OK, 99, NULL, 0);
    expect_broken(p, "reply tag 99");
}

static void unsolicited_non_event(void **st)
{
    pair *p = *st;
    guest_says(p, PROTO_DISP_OK, 0, NULL, 0);
    expect_broken(p, "unsolicited");
}

static void guest_hangs_up(void **st)
{
    pair *p = *st;
    uint8_t part[5] = {20, 0, 0, 0, PROTO_DISP_CONNECTORS}; /* a record cut short */
    assert_int_equal(write(p->guest, part, sizeof part), 5);
    close(p->guest);
    p->guest = -1;
    expect_broken(p, "display service ended");
}

/* The connector vanishes mid-frame: a HOTPLUG arrives between the bands' replies and the rest
 * of the frame is refused with ENODEV; the client stays usable and reports the event. */
static void vanishes_mid_frame(void **st)
{
    pair *p = *st;
    /* 1024 x 2048 rows = 8 MiB: two bands (tags 1 and 2). */
    size_t w = 1024, h = 2048;
    uint8_t *fb = calloc(w * h, 4);
    uint8_t b[PROTO_DISP_MAX_EVENT];
    guest_says(p, PROTO_DISP_OK, 1, NULL, 0);
    guest_says(p, PROTO_DISP_HOTPLUG, 0, b, list_of(b, sizeof b, 1, false));
    guest_says(p, PROTO_DISP_ERROR, 2, b, proto_disp_enc_error(b, sizeof b, 19, "connector has no mode set"));
    /* The guest end must drain the 8 MiB the client sends: a reader process. */
    pid_t pid = fork();
    if (pid == 0) {
        static uint8_t sink[65536];
        close(p->host);
        while (read(p->guest, sink, sizeof sink) > 0) {}
        _exit(0);
    }
    int code;
    char err[300];
    assert_int_equal(disp_update(p->c, 10, fb, w * 4, 0, 0, (uint16_t)w, (uint16_t)h, &code, err, sizeof err), -1);
    assert_int_equal(code, 19);
    assert_string_equal(disp_client_why(p->c), "");
    assert_true(disp_client_has_event(p->c));
    proto_disp_conn l[PROTO_DISP_MAX_CONNS];
    size_t n;
    assert_int_equal(disp_client_event(p->c, l, PROTO_DISP_MAX_CONNS, &n), 1);
    assert_int_equal(n, 1);
    assert_int_equal(l[0].connected, 0);
    close(p->guest);
    p->guest = -1;
    shutdown(p->host, SHUT_WR);
    waitpid(pid, NULL, 0);
    free(fb);
}

static void bad_rectangles(void **st)
{
    pair *p = *st;
    uint8_t fb[64] = {0};
    int code;
    char err[300];
    assert_int_equal(disp_update(p->c, 1, fb, 16, 0, 0, 0, 1, &code, err, sizeof err), -1);
    assert_int_equal(disp_update(p->c, 1, fb, 16, 8190, 0, 4, 1, &code, err, sizeof err), -1);
    assert_int_equal(disp_update(p->c, 1, fb, 16, 2, 0, 4, 1, &code, err, sizeof err), -1); /* past stride */
    assert_string_equal(disp_client_why(p->c), "");
}

/* ---- the real helper, run locally with the fake backend ---- */

static const char *guestd(void)
{
    static char path[4096];
    const char *over = getenv("REVM_GUESTD");
    if (over && *over)
        return over;
    const char *b = getenv("BUILD");
    snprintf(path, sizeof path, "%s/tests/bin/revm-guestd", b ? b : "build");
    return path;
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static uint8_t buf[1280 * 1024 * 3 + 64];
    *n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

static void real_helper(void **st)
{
    (void)st;
    if (access(guestd(), X_OK) != 0)
        skip();
    char dir[] = "/tmp/test-disp-XXXXXX", dump[128], arg[160], unplug[160];
    assert_non_null(mkdtemp(dir));
    snprintf(dump, sizeof dump, "%s/screen.ppm", dir);
    snprintf(arg, sizeof arg, "fake:%s", dump);
    snprintf(unplug, sizeof unplug, "%s.unplugged", dump);
    char *argv[] = {(char *)guestd(), "--service", "display", arg, NULL};
    char err[300];
    rb_svc *s = rb_svc_spawn_local(argv, NULL, err, sizeof err);
    assert_non_null(s);
    disp_client *c = disp_client_new(rb_svc_fd(s));
    proto_disp_conn l[PROTO_DISP_MAX_CONNS];
    size_t n;
    int code;
    assert_int_equal(disp_list(c, l, PROTO_DISP_MAX_CONNS, &n, &code, err, sizeof err), 0);
    const proto_disp_conn *vc = disp_default_conn(l, n);
    assert_non_null(vc);
    uint32_t id = vc->id;
    proto_disp_mode m;
    assert_int_equal(disp_set_mode(c, id, 640, 480, 0, &m, &code, err, sizeof err), 0);
    assert_int_equal(m.w, 640);
    /* A frame with a padded stride (packed by the client), then a partial update. */
    size_t stride = 700 * 4;
    uint8_t *fb = calloc(stride, 480);
    for (size_t y = 0; y < 480; y++)
        for (size_t x = 0; x < 640; x++)
            fb[y * stride + x * 4] = (uint8_t)x, fb[y * stride + x * 4 + 1] = (uint8_t)y;
    assert_int_equal(disp_update(c, id, fb, stride, 0, 0, 640, 480, &code, err, sizeof err), 0);
    memset(fb + 10 * stride + 20 * 4, 0xff, 4);        /* damaged */
    memset(fb + 300 * stride + 300 * 4, 0xff, 4);      /* changed, never damaged */
    assert_int_equal(disp_update(c, id, fb, stride, 20, 10, 1, 1, &code, err, sizeof err), 0);
    size_t dn;
    const uint8_t *d = read_file(dump, &dn);
    assert_non_null(d);
    const char *hdr = "P6\n640 480\n255\n";
    assert_memory_equal(d, hdr, strlen(hdr));
    const uint8_t *px = d + strlen(hdr);
    assert_int_equal(dn, strlen(hdr) + 640 * 480 * 3);
    assert_int_equal(px[(5 * 640 + 7) * 3 + 2], 7);      /* blue = x */
    assert_int_equal(px[(5 * 640 + 7) * 3 + 1], 5);      /* green = y */
    assert_int_equal(px[(10 * 640 + 20) * 3], 0xff);     /* the damaged pixel */
    assert_int_equal(px[(300 * 640 + 300) * 3], 0);     /* not damaged: old */
    /* Errors the helper answers: unlisted mode, rectangle outside, unknown connector. */
    assert_int_equal(disp_set_mode(c, id, 641, 480, 0, &m, &code, err, sizeof err), -1);
    assert_int_equal(code, EINVAL);
    assert_int_equal(disp_update(c, id, fb, stride, 600, 0, 41, 1, &code, err, sizeof err), -1);
    assert_int_equal(code, EINVAL);
    assert_int_equal(disp_set_mode(c, 999, 0, 0, 0, &m, &code, err, sizeof err), -1);
    assert_int_equal(code, EINVAL);
    /* Unplugged: HOTPLUG within the helper's 2 s look, then updates answer ENODEV. */
    FILE *u = fopen(unplug, "w");
    fclose(u);
    proto_disp_conn ev[PROTO_DISP_MAX_CONNS];
    int e = 0;
    for (int i = 0; i < 100 && e == 0; i++) {
        struct timeval tv = {0, 100000};
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(rb_svc_fd(s), &fds);
        if (select(rb_svc_fd(s) + 1, &fds, NULL, NULL, &tv) > 0)
            e = disp_client_event(c, ev, PROTO_DISP_MAX_CONNS, &n);
    }
    assert_int_equal(e, 1);
    assert_int_equal(disp_find_conn(ev, n, vc->name)->connected, 0);
    assert_int_equal(disp_update(c, id, fb, stride, 0, 0, 1, 1, &code, err, sizeof err), -1);
    assert_int_equal(code, ENODEV);
    unlink(unplug);
    disp_client_free(c);
    rb_svc_close(s);
    free(fb);
    unlink(dump);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(lists_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(absurd_list, setup, teardown),
        cmocka_unit_test_setup_teardown(zero_size_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(unasked_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(huge_record, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_tag_and_type, setup, teardown),
        cmocka_unit_test_setup_teardown(unsolicited_non_event, setup, teardown),
        cmocka_unit_test_setup_teardown(guest_hangs_up, setup, teardown),
        cmocka_unit_test_setup_teardown(vanishes_mid_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_rectangles, setup, teardown),
        cmocka_unit_test(real_helper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
