/* The Redox display.* adapter (display/disp_scheme.c) driven by real request packets
 * (scheme_harness) against the real display helper run locally (revm-guestd --service display
 * fake:DUMP): open "V.S", fpath as graphics-ipc parses it, mmap_prep, damage writes (only the
 * rectangle reaches the screen), fsync, mode.S, hostile requests, hot-plug. */
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

#include "display/disp_scheme.h"
#include "rb_svc.h"
#include "scheme_harness.h"
#include "scheme_loop.h"

typedef struct fx {
    char dir[64], dump[128], unplug[160];
    rb_svc *svc;
    disp_client *dc;
    disp_scheme *ds;
    scheme_harness *h;
} fx;

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

static int setup(void **st)
{
    if (access(guestd(), X_OK) != 0)
        return -1;
    fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/test-dscheme-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->dump, sizeof f->dump, "%s/screen.ppm", f->dir);
    snprintf(f->unplug, sizeof f->unplug, "%s.unplugged", f->dump);
    char arg[160], err[300];
    snprintf(arg, sizeof arg, "fake:%s", f->dump);
    char *argv[] = {(char *)guestd(), "--service", "display", arg, NULL};
    f->svc = rb_svc_spawn_local(argv, NULL, err, sizeof err);
    assert_non_null(f->svc);
    f->dc = disp_client_new(rb_svc_fd(f->svc));
    f->ds = disp_scheme_new(f->dc, "display.revm", err, sizeof err);
    assert_non_null(f->ds);
    f->h = scheme_harness_new("display.revm", disp_scheme_ops(), f->ds, 0);
    assert_non_null(f->h);
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    fx *f = *st;
    scheme_harness_free(f->h);
    disp_scheme_free(f->ds);
    disp_client_free(f->dc);
    rb_svc_close(f->svc);
    unlink(f->unplug);
    unlink(f->dump);
    rmdir(f->dir);
    free(f);
    return 0;
}

static const uint8_t *dump_pixel(fx *f, unsigned w, unsigned x, unsigned y)
{
    static uint8_t buf[1280 * 1024 * 3 + 64];
    FILE *fp = fopen(f->dump, "rb");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    char hdr[32];
    unsigned hw, hh;
    assert_int_equal(sscanf((char *)buf, "P6\n%u %u\n255\n", &hw, &hh), 2);
    assert_int_equal(hw, w);
    int k = snprintf(hdr, sizeof hdr, "P6\n%u %u\n255\n", hw, hh);
    assert_true((size_t)k + (size_t)hw * hh * 3 == n);
    return buf + k + ((size_t)y * w + x) * 3;
}

static void damage(uint8_t out[16], uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    uint32_t v[4] = {x, y, w, h};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++)
            out[i * 4 + b] = (uint8_t)(v[i] >> (8 * b));
}

static void display_lifecycle(void **st)
{
    fx *f = *st;
    int64_t fd = scheme_h_open(f->h, "1.0", scheme_h_flags(SCHEME_OPEN_READ | SCHEME_OPEN_WRITE, 0));
    assert_true(fd > 0);
    /* fpath as graphics-ipc's map_display parses it: after ':', W and H after the first '/'. */
    char path[256];
    assert_true(scheme_h_fpath(f->h, fd, path, sizeof path) > 0);
    assert_string_equal(path, "display.revm:1.0/1024/768");
    assert_int_equal(scheme_h_fsize(f->h, fd), 1024 * 768 * 4);
    int64_t addr = scheme_h_mmap_prep(f->h, fd, 0, 1024 * 768 * 4, 3);
    assert_true(addr > 0);
    uint8_t *fb = (uint8_t *)(uintptr_t)addr;
    assert_int_equal((uintptr_t)fb % 4096, 0);
    /* Draw: a full sync shows everything. */
    for (size_t i = 0; i < 1024 * 768; i++)
        fb[i * 4] = 0x40, fb[i * 4 + 1] = 0x50, fb[i * 4 + 2] = 0x60;
    assert_int_equal(scheme_h_fsync(f->h, fd), 0);
    const uint8_t *p = dump_pixel(f, 1024, 1000, 700);
    assert_int_equal(p[0], 0x60); /* R */
    assert_int_equal(p[2], 0x40); /* B */
    /* A damage write sends exactly its rectangle: two changed pixels, one damaged. */
    fb[(10 * 1024 + 10) * 4 + 2] = 0xff;
    fb[(500 * 1024 + 500) * 4 + 2] = 0xff;
    uint8_t d[32];
    damage(d, 8, 8, 4, 4);
    damage(d + 16, 2000, 2000, 5, 5); /* entirely outside: clipped to nothing */
    assert_int_equal(scheme_h_write(f->h, fd, d, 32, 0), 32);
    assert_int_equal(dump_pixel(f, 1024, 10, 10)[0], 0xff);
    assert_int_equal(dump_pixel(f, 1024, 500, 500)[0], 0x60);
    /* Damage reaching past the edge is clipped, not refused. */
    damage(d, 1020, 760, 100, 100);
    assert_int_equal(scheme_h_write(f->h, fd, d, 16, 0), 16);
    /* Not whole Damage records / wrong mmap ranges. */
    assert_int_equal(scheme_h_write(f->h, fd, d, 15, 0), -EINVAL);
    assert_int_equal(scheme_h_mmap_prep(f->h, fd, 0, 1024 * 768 * 4 + 4096, 3), -EINVAL);
    assert_int_equal(scheme_h_mmap_prep(f->h, fd, 100, 4096, 3), -EINVAL);
    assert_int_equal(scheme_h_mmap_prep(f->h, fd, UINT64_MAX - 4095, 4096, 3), -EINVAL);

    /* Modes: list, change, the display's fpath follows. */
    int64_t mfd = scheme_h_open(f->h, "mode.0", scheme_h_flags(SCHEME_OPEN_READ | SCHEME_OPEN_WRITE, 0));
    assert_true(mfd > 0);
    char text[512] = {0};
    assert_true(scheme_h_read(f->h, mfd, text, sizeof text - 1, 0) > 0);
    assert_non_null(strstr(text, "1024x768\n"));
    assert_non_null(strstr(text, "1024x768@60*\n1280x1024@60\n800x600@60"));
    assert_int_equal(scheme_h_write(f->h, mfd, "801x600", 7, 0), -EINVAL); /* not listed */
    assert_int_equal(scheme_h_write(f->h, mfd, "0x0", 3, 0), -EINVAL);
    assert_int_equal(scheme_h_write(f->h, mfd, "99999x1", 7, 0), -EINVAL);
    assert_int_equal(scheme_h_write(f->h, mfd, "garbage", 7, 0), -EINVAL);
    assert_int_equal(scheme_h_write(f->h, mfd, "800x600\n", 8, 0), 8);
    assert_true(scheme_h_fpath(f->h, fd, path, sizeof path) > 0);
    assert_string_equal(path, "display.revm:1.0/800/600");
    addr = scheme_h_mmap_prep(f->h, fd, 0, 800 * 600 * 4, 3);
    assert_true(addr > 0);
    fb = (uint8_t *)(uintptr_t)addr;
    memset(fb, 0x22, 800 * 600 * 4);
    assert_int_equal(scheme_h_fsync(f->h, fd), 0);
    assert_int_equal(dump_pixel(f, 800, 799, 599)[1], 0x22);
    scheme_h_close(f->h, mfd);
    scheme_h_close(f->h, fd);
}

static void bad_paths(void **st)
{
    fx *f = *st;
    uint64_t fl = scheme_h_flags(SCHEME_OPEN_READ, 0);
    const char *bad[] = {"1", "1.", ".0", "1.0x", "1.1", "a.b", "1.0/2", "mode.", "mode.1", "mode.x",
                         "99999999999.0", "1.-1", "-1.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t r = scheme_h_open(f->h, bad[i], fl);
        if (r >= 0)
            fail_msg("open '%s' succeeded", bad[i]);
    }
    /* The root: fpath names the scheme, reads and writes are refused. */
    char path[64];
    assert_true(scheme_h_fpath(f->h, scheme_h_root(f->h), path, sizeof path) > 0);
    assert_string_equal(path, "display.revm:");
    uint8_t d[16] = {0};
    assert_true(scheme_h_write(f->h, scheme_h_root(f->h), d, 16, 0) < 0);
}

/* Waits (up to 6 s: the helper looks every 2 s) for the service fd to become readable with
 * HOTPLUG, and hands it to the adapter. */
static void wait_hotplug(fx *f)
{
    int fdv = disp_client_fd(f->dc);
    for (int i = 0; i < 60; i++) {
        fd_set s;
        FD_ZERO(&s);
        FD_SET(fdv, &s);
        struct timeval tv = {0, 100000};
        if (select(fdv + 1, &s, NULL, NULL, &tv) > 0) {
            assert_int_equal(disp_scheme_poll(f->ds), 0);
            return;
        }
    }
}

static void hotplug(void **st)
{
    fx *f = *st;
    int64_t fd = scheme_h_open(f->h, "2.0", scheme_h_flags(SCHEME_OPEN_READ | SCHEME_OPEN_WRITE, 0));
    assert_true(fd > 0);
    FILE *u = fopen(f->unplug, "w");
    fclose(u);
    wait_hotplug(f);
    assert_int_equal(scheme_h_fsync(f->h, fd), -ENODEV);
    assert_int_equal(scheme_h_open(f->h, "2.0", scheme_h_flags(SCHEME_OPEN_READ, 0)), -ENODEV);
    unlink(f->unplug);
    wait_hotplug(f);
    /* Back: the next open sets the mode again. */
    int64_t fd2 = scheme_h_open(f->h, "2.0", scheme_h_flags(SCHEME_OPEN_READ | SCHEME_OPEN_WRITE, 0));
    assert_true(fd2 > 0);
    assert_int_equal(scheme_h_fsync(f->h, fd2), 0);
    scheme_h_close(f->h, fd2);
    scheme_h_close(f->h, fd);
}

/* The daemon loop over a SOCK_SEQPACKET pair (packet boundaries as on the Redox scheme
 * socket) with real pointers in the Sqes, as the kernel sends them: open, fpath, fsync. */
static void put_sqe(uint8_t *out, uint8_t op, uint32_t tag, uint64_t a0, uint64_t a1, uint64_t a2,
                    uint64_t a3)
{
    scheme_sqe q = {.opcode = op, .tag = tag, .args = {a0, a1, a2, a3, 0, 0}, .caller = 3};
    scheme_sqe_encode(&q, out);
}

static void serve_loop(void **st)
{
    fx *f = *st;
    scheme_server_config cfg = {.name = "display.revm", .ops = disp_scheme_ops(), .svc = f->ds,
                                .mem = scheme_mem_direct};
    scheme_server *s = scheme_server_new(&cfg);
    assert_non_null(s);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[1]);
        _exit(disp_scheme_serve(f->ds, s, sv[0]) == 0 ? 0 : 1);
    }
    close(sv[0]);
    static const char path[] = "1.0";
    char fpath[128] = {0};
    uint8_t in[3 * SCHEME_SQE_SIZE], out[3 * SCHEME_CQE_SIZE];
    put_sqe(in, SCHEME_OP_OPENAT, 10, 1, (uintptr_t)path, 3, 0x30000);
    assert_int_equal(write(sv[1], in, SCHEME_SQE_SIZE), SCHEME_SQE_SIZE);
    assert_int_equal(read(sv[1], out, sizeof out), SCHEME_CQE_SIZE);
    scheme_cqe c;
    scheme_cqe_decode(out, &c);
    int64_t id = scheme_result_decode(c.result);
    assert_true(id > 1);
    put_sqe(in, SCHEME_OP_FPATH, 11, (uint64_t)id, (uintptr_t)fpath, sizeof fpath, 0);
    put_sqe(in + SCHEME_SQE_SIZE, SCHEME_OP_FSYNC, 12, (uint64_t)id, 0, 0, 0);
    assert_int_equal(write(sv[1], in, 2 * SCHEME_SQE_SIZE), 2 * SCHEME_SQE_SIZE);
    assert_int_equal(read(sv[1], out, sizeof out), 2 * SCHEME_CQE_SIZE);
    /* The fpath went into the child's copy of fpath[]: check the answer's length and result. */
    scheme_cqe_decode(out, &c);
    assert_int_equal(scheme_result_decode(c.result), (int64_t)strlen("display.revm:1.0/1024/768"));
    scheme_cqe_decode(out + SCHEME_CQE_SIZE, &c);
    assert_int_equal(c.tag, 12);
    assert_int_equal(scheme_result_decode(c.result), 0);
    /* The helper got the full frame: its dump exists at the mode's size. */
    dump_pixel(f, 1024, 0, 0);
    close(sv[1]); /* unmounted: the loop ends cleanly */
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    scheme_server_free(s);
}

/* The pure request decoding, without a helper. */
static void parsers(void **st)
{
    (void)st;
    bool m;
    unsigned vt, sc;
    assert_true(disp_scheme_parse_path("3.1", &m, &vt, &sc));
    assert_false(m);
    assert_int_equal(vt, 3);
    assert_int_equal(sc, 1);
    assert_true(disp_scheme_parse_path("mode.2", &m, &vt, &sc));
    assert_true(m);
    assert_int_equal(sc, 2);
    const char *bad[] = {"", "1", "1.", ".1", "1.1.1", "1.0 ", " 1.0", "+1.0", "1.+0", "123456.0",
                         "1.123456", "mode.", "mode.+1", "mode.1x", "mode. 1", "modes.1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (disp_scheme_parse_path(bad[i], &m, &vt, &sc))
            fail_msg("path '%s' accepted", bad[i]);
    uint16_t w, h, r;
    assert_true(disp_scheme_parse_mode("1024x768", 8, &w, &h, &r));
    assert_int_equal(w, 1024);
    assert_int_equal(r, 0);
    assert_true(disp_scheme_parse_mode("800x600@60\n", 11, &w, &h, &r));
    assert_int_equal(r, 60);
    const char *badm[] = {"", "x", "0x0", "8193x10", "10x8193", "10x10@1001", "10x10@", "10x10x",
                          "-1x10", "10x10\n\n", "abc", "10x1\0", "10x 10", "10x-10", "10x+10",
                          "10x10@ 60", "10x10@+60"};
    for (size_t i = 0; i < sizeof badm / sizeof badm[0]; i++)
        if (disp_scheme_parse_mode(badm[i], strlen(badm[i]) + (i == 11), &w, &h, &r))
            fail_msg("mode '%s' accepted", badm[i]);
    uint32_t x = 1020, y = 760, cw = 100, ch = 100;
    assert_true(disp_scheme_clip(1024, 768, &x, &y, &cw, &ch));
    assert_int_equal(cw, 4);
    assert_int_equal(ch, 8);
    x = 0xffffffffu, y = 0, cw = 0xffffffffu, ch = 1;
    assert_false(disp_scheme_clip(1024, 768, &x, &y, &cw, &ch));
    x = 5, y = 5, cw = 0xffffffffu, ch = 0xffffffffu;
    assert_true(disp_scheme_clip(1024, 768, &x, &y, &cw, &ch));
    assert_int_equal(cw, 1019);
    assert_int_equal(ch, 763);
    x = 0, y = 0, cw = 0, ch = 5;
    assert_false(disp_scheme_clip(1024, 768, &x, &y, &cw, &ch));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parsers),
        cmocka_unit_test_setup_teardown(display_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(hotplug, setup, teardown),
        cmocka_unit_test_setup_teardown(serve_loop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
