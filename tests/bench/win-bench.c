/* Window-service benchmark driver (tests/bench/windows.sh). Connected to both the guest's
 * and the host's X display, it draws in a guest window and times until the host window shows
 * it (end to end: XDamage, agent, records, host table, put_image):
 *   win-bench GUEST HOST latency N   64x64 rectangle, N times: median and p90 in microseconds
 *   win-bench GUEST HOST fps SECONDS 800x600 full redraws of noise (incompressible)
 *   win-bench floor                  the same transfers over a plain socketpair (no X)
 * Prints "name value unit" lines. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xcb/xcb.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static xcb_connection_t *conn(const char *d, xcb_screen_t **s)
{
    xcb_connection_t *c = xcb_connect(d, NULL);
    if (xcb_connection_has_error(c)) {
        fprintf(stderr, "win-bench: cannot open display %s\n", d);
        exit(1);
    }
    *s = xcb_setup_roots_iterator(xcb_get_setup(c)).data;
    return c;
}

static xcb_window_t find_host(xcb_connection_t *c, xcb_screen_t *s, const char *name)
{
    for (int tries = 0; tries < 3000; tries++) {
        xcb_query_tree_reply_t *t = xcb_query_tree_reply(c, xcb_query_tree(c, s->root), NULL);
        xcb_window_t *k = xcb_query_tree_children(t);
        for (int i = 0; i < xcb_query_tree_children_length(t); i++) {
            xcb_get_property_reply_t *p = xcb_get_property_reply(
                c, xcb_get_property(c, 0, k[i], XCB_ATOM_WM_NAME, XCB_GET_PROPERTY_TYPE_ANY, 0, 64), NULL);
            if (p && xcb_get_property_value_length(p) == (int)strlen(name) &&
                !memcmp(xcb_get_property_value(p), name, strlen(name))) {
                xcb_window_t w = k[i];
                free(p), free(t);
                return w;
            }
            free(p);
        }
        free(t);
        usleep(10000);
    }
    fprintf(stderr, "win-bench: no host window %s\n", name);
    exit(1);
}

static uint32_t host_pixel(xcb_connection_t *c, xcb_window_t w, int x, int y)
{
    xcb_get_image_reply_t *r = xcb_get_image_reply(
        c, xcb_get_image(c, XCB_IMAGE_FORMAT_Z_PIXMAP, w, (int16_t)x, (int16_t)y, 1, 1, ~0u), NULL);
    uint32_t v = 0xffffffff;
    if (r && xcb_get_image_data_length(r) >= 4)
        memcpy(&v, xcb_get_image_data(r), 4), v &= 0xffffff;
    free(r);
    return v;
}

static void wait_pixel(xcb_connection_t *h, xcb_window_t hw, int x, int y, uint32_t want)
{
    double end = now_us() + 20e6;
    while (host_pixel(h, hw, x, y) != want)
        if (now_us() > end) {
            fprintf(stderr, "win-bench: the host never showed 0x%06x at %d,%d\n", want, x, y);
            exit(1);
        }
}

static int floor_bench(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    static uint8_t buf[800 * 600 * 4];
    pid_t pid = fork();
    if (pid == 0) { /* echo one byte per message received: a reader as fast as a socket allows */
        close(sv[0]);
        uint32_t len;
        while (read(sv[1], &len, 4) == 4) {
            for (size_t got = 0; got < len;) {
                ssize_t n = read(sv[1], buf, len - got > sizeof buf ? sizeof buf : len - got);
                if (n <= 0)
                    _exit(0);
                got += (size_t)n;
            }
            if (write(sv[1], "k", 1) != 1)
                _exit(0);
        }
        _exit(0);
    }
    close(sv[1]);
    double lat[200];
    for (int i = 0; i < 200; i++) {
        uint32_t len = 64 * 64 * 4;
        double t0 = now_us();
        if (write(sv[0], &len, 4) != 4 || write(sv[0], buf, len) != (ssize_t)len || read(sv[0], buf, 1) != 1)
            return 1;
        lat[i] = now_us() - t0;
    }
    qsort(lat, 200, sizeof lat[0], cmp_d);
    printf("floor_latency_64x64 %.0f us\n", lat[100]);
    int frames = 0;
    double t0 = now_us();
    while (now_us() - t0 < 2e6) {
        uint32_t len = sizeof buf;
        if (write(sv[0], &len, 4) != 4)
            return 1;
        for (size_t off = 0; off < len;) {
            ssize_t n = write(sv[0], buf + off, len - off);
            if (n <= 0)
                return 1;
            off += (size_t)n;
        }
        if (read(sv[0], buf, 1) != 1)
            return 1;
        frames++;
    }
    printf("floor_fps_800x600 %.1f fps\n", frames / ((now_us() - t0) / 1e6));
    close(sv[0]);
    waitpid(pid, NULL, 0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "floor"))
        return floor_bench();
    if (argc != 5) {
        fprintf(stderr, "usage: win-bench GUEST HOST latency N | fps SECONDS | floor\n");
        return 2;
    }
    xcb_screen_t *gs, *hs;
    xcb_connection_t *g = conn(argv[1], &gs), *h = conn(argv[2], &hs);
    xcb_window_t gw = xcb_generate_id(g);
    uint32_t vals[] = {0x000000};
    xcb_create_window(g, XCB_COPY_FROM_PARENT, gw, gs->root, 0, 0, 800, 600, 0,
                      XCB_WINDOW_CLASS_INPUT_OUTPUT, gs->root_visual, XCB_CW_BACK_PIXEL, vals);
    xcb_change_property(g, XCB_PROP_MODE_REPLACE, gw, XCB_ATOM_WM_NAME, XCB_ATOM_STRING, 8, 8, "winbench");
    xcb_map_window(g, gw);
    xcb_gcontext_t gc = xcb_generate_id(g);
    xcb_create_gc(g, gc, gw, 0, NULL);
    xcb_flush(g);
    xcb_window_t hw = find_host(h, hs, "winbench (app VM)");
    wait_pixel(h, hw, 0, 0, 0);
    if (!strcmp(argv[3], "latency")) {
        int n = atoi(argv[4]);
        double *lat = calloc((size_t)n, sizeof *lat);
        for (int i = 0; i < n; i++) {
            uint32_t color = 0x010203u * (uint32_t)(i % 80 + 1);
            xcb_change_gc(g, gc, XCB_GC_FOREGROUND, &color);
            xcb_rectangle_t r = {(int16_t)(100 + i % 5 * 70), 100, 64, 64};
            double t0 = now_us();
            xcb_poly_fill_rectangle(g, gw, gc, 1, &r);
            xcb_flush(g);
            wait_pixel(h, hw, r.x + 63, r.y + 63, color);
            lat[i] = now_us() - t0;
        }
        qsort(lat, (size_t)n, sizeof *lat, cmp_d);
        printf("latency_64x64_median %.0f us\nlatency_64x64_p90 %.0f us\n", lat[n / 2], lat[n * 9 / 10]);
        return 0;
    }
    /* fps: full frames of noise (raw encoding), frame number in the last pixel */
    double secs = atof(argv[4]);
    size_t npx = 800 * 600;
    uint32_t *frame[2];
    srand(1);
    for (int k = 0; k < 2; k++) {
        frame[k] = malloc(npx * 4);
        for (size_t i = 0; i < npx; i++)
            frame[k][i] = ((uint32_t)rand() ^ (uint32_t)rand() << 12) & 0xffffff;
    }
    int frames = 0;
    double t0 = now_us();
    while (now_us() - t0 < secs * 1e6) {
        uint32_t *f = frame[frames & 1];
        uint32_t marker = 0x100000u | (uint32_t)frames;
        f[npx - 1] = marker; /* the last pixel: in the last band the agent sends */
        /* 100 rows per request: under the core protocol's request size without BIG-REQUESTS */
        for (int y = 0; y < 600; y += 100)
            xcb_put_image(g, XCB_IMAGE_FORMAT_Z_PIXMAP, gw, gc, 800, 100, 0, (int16_t)y, 0, 24,
                          800 * 100 * 4, (const uint8_t *)(f + (size_t)y * 800));
        xcb_flush(g);
        wait_pixel(h, hw, 799, 599, marker);
        frames++;
    }
    printf("fps_800x600 %.1f fps\n", frames / ((now_us() - t0) / 1e6));
    return 0;
}
