/* revm-display: the Linux test front end of the display service (PROTOCOL.md, Display
 * service). It shows one connector of the driver VM's GPU as a shared-memory framebuffer file
 * (XRGB8888, width * 4 bytes per row, no header) and a unix control socket; a program draws
 * into the file and tells the front end which rectangle changed:
 *
 *   info                 -> ok NAME W H
 *   modes                -> ok WxH@R[*] ...        (* preferred)
 *   damage X Y W H       -> ok | error TEXT        (only that rectangle crosses the bridge)
 *   full                 -> ok | error TEXT
 *   mode WxH[@R]         -> ok W H | error TEXT    (the file is replaced: map it again)
 *   quit                 -> ok, and the front end exits
 *
 * One line per request, one line per answer; one control client at a time. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "revm/cli.h"
#include "cm_io.h"
#include "cm_text.h"
#include "display/disp_client.h"
#include "display/disp_scheme.h"
#include "rb_svc.h"
#include "rb_unix.h"

typedef struct fe {
    rb_svc *svc;
    disp_client *dc;
    char conn_name[PROTO_DISP_MAX_NAME + 1];
    proto_disp_conn conn;     /* as last listed */
    bool gone;                /* the connector vanished or lost its display */
    proto_disp_mode mode;
    const char *shm_path;
    uint8_t *fb;
    size_t fb_size;
} fe;

static void usage(FILE *o)
{
    fputs("usage: revm-display [--vm NAME | --socket PATH | --local GUESTD] [--device ARG]\n"
          "                    [--connector NAME] [--mode WxH[@R]] --shm FILE --control SOCKET\n"
          "Shows a display of the driver VM as FILE (XRGB8888 framebuffer) + SOCKET (commands:\n"
          "info, modes, damage X Y W H, full, mode WxH[@R], quit).\n", o);
}

/* A new framebuffer file of w x h (temp name + rename: readers of the old file keep a valid
 * mapping until they map the new one). w and h are a mode the guest confirmed, so at most
 * 8192 x 8192 x 4 bytes. */
static int make_shm(fe *f, uint16_t w, uint16_t h, char *err, size_t errlen)
{
    size_t size = (size_t)w * h * 4;
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", f->shm_path) >= sizeof tmp) {
        snprintf(err, errlen, "%.400s...: path too long", f->shm_path);
        return -1;
    }
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
        snprintf(err, errlen, "%.400s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED || rename(tmp, f->shm_path) < 0) {
        snprintf(err, errlen, "%.400s: %s", f->shm_path, strerror(errno));
        if (p != MAP_FAILED)
            munmap(p, size);
        unlink(tmp);
        return -1;
    }
    if (f->fb)
        munmap(f->fb, f->fb_size);
    f->fb = p;
    f->fb_size = size;
    return 0;
}

/* "WxH" or "WxH@R" within the protocol's bounds: the same syntax as the scheme's mode file. */
static bool parse_mode(const char *s, uint16_t *w, uint16_t *h, uint16_t *r)
{
    return disp_scheme_parse_mode(s, strlen(s), w, h, r);
}

/* Lists, finds our connector, sets the mode (w = h = 0: preferred), remakes the file. */
static int setup(fe *f, uint16_t w, uint16_t h, uint16_t r, char *err, size_t errlen)
{
    proto_disp_conn list[PROTO_DISP_MAX_CONNS];
    size_t n;
    int code;
    if (disp_list(f->dc, list, PROTO_DISP_MAX_CONNS, &n, &code, err, errlen) < 0)
        return -1;
    const proto_disp_conn *c = f->conn_name[0] ? disp_find_conn(list, n, f->conn_name)
                                               : disp_default_conn(list, n);
    if (!c && f->conn_name[0]) {
        snprintf(err, errlen, "no connector named %s in the VM", f->conn_name);
        return -1;
    }
    if (!c) {
        snprintf(err, errlen, "no connector of the VM has a display attached");
        return -1;
    }
    if (!c->connected) {
        snprintf(err, errlen, "connector %s has no display attached", c->name);
        return -1;
    }
    f->conn = *c;
    snprintf(f->conn_name, sizeof f->conn_name, "%s", c->name);
    if (w == 0 && h == 0) {
        const proto_disp_mode *pm = disp_preferred_mode(c);
        if (!pm) {
            snprintf(err, errlen, "connector %s lists no modes", c->name);
            return -1;
        }
        w = pm->w, h = pm->h, r = pm->refresh;
    }
    proto_disp_mode got;
    if (disp_set_mode(f->dc, c->id, w, h, r, &got, &code, err, errlen) < 0)
        return -1;
    /* f->mode changes only with f->fb: every command reads mode.w * mode.h * 4 bytes of it. */
    bool resized = got.w != f->mode.w || got.h != f->mode.h || !f->fb;
    if (resized && make_shm(f, got.w, got.h, err, errlen) < 0)
        return -1;
    f->mode = got;
    f->gone = false;
    /* The guest cleared its new buffer; the host's picture (kept across a re-plug) goes back. */
    return disp_update(f->dc, c->id, f->fb, (size_t)f->mode.w * 4, 0, 0, f->mode.w, f->mode.h,
                       &code, err, errlen);
}

static void on_hotplug(fe *f, const proto_disp_conn *list, size_t n)
{
    const proto_disp_conn *c = disp_find_conn(list, n, f->conn_name);
    if (!c || !c->connected) {
        if (!f->gone)
            fprintf(stderr, "revm-display: connector %s %s\n", f->conn_name, c ? "lost its display" : "vanished");
        f->gone = true;
        return;
    }
    if (!f->gone && c->cur_w == f->mode.w && c->cur_h == f->mode.h)
        return;
    /* Back (or the guest dropped our buffer): set the same mode again if it is listed. */
    char err[512];
    bool listed = false;
    for (unsigned i = 0; i < c->nmodes; i++)
        listed |= c->modes[i].w == f->mode.w && c->modes[i].h == f->mode.h;
    if (setup(f, listed ? f->mode.w : 0, listed ? f->mode.h : 0, 0, err, sizeof err) < 0)
        fprintf(stderr, "revm-display: connector %s is back but unusable: %s\n", f->conn_name, err);
    else
        fprintf(stderr, "revm-display: connector %s is back at %ux%u\n", f->conn_name, f->mode.w, f->mode.h);
}

static void reply(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(int fd, const char *fmt, ...)
{
    /* One line whatever it quotes (the client's own text, the guest's error messages). */
    char b[4096];
    va_list ap;
    va_start(ap, fmt);
    cm_voneline(b, sizeof b - 1, fmt, ap);
    va_end(ap);
    size_t n = strlen(b);
    b[n++] = '\n';
    (void)cm_send_all(fd, b, n); /* a client that went away is seen by the next read */
}

/* One command line. Returns 1 for quit. */
static int command(fe *f, int cfd, char *line)
{
    char err[512];
    int code;
    unsigned x, y, w, h;
    char extra;
    if (!strcmp(line, "info")) {
        reply(cfd, "ok %s %u %u", f->conn_name, f->mode.w, f->mode.h);
    } else if (!strcmp(line, "modes")) {
        char b[64 * 24] = "ok";
        size_t k = 2;
        for (unsigned i = 0; i < f->conn.nmodes; i++) {
            const proto_disp_mode *m = &f->conn.modes[i];
            k += (size_t)snprintf(b + k, sizeof b - k, " %ux%u@%u%s", m->w, m->h, m->refresh,
                                  m->flags & PROTO_DISP_MODE_PREFERRED ? "*" : "");
        }
        reply(cfd, "%s", b);
    } else if (!strcmp(line, "quit")) {
        reply(cfd, "ok");
        return 1;
    } else if (f->gone) {
        reply(cfd, "error connector %s is gone", f->conn_name);
    } else if (!strcmp(line, "full") || sscanf(line, "damage %u %u %u %u%c", &x, &y, &w, &h, &extra) == 4) {
        if (line[0] == 'f')
            x = y = 0, w = f->mode.w, h = f->mode.h;
        if (w == 0 || h == 0 || x > f->mode.w || y > f->mode.h || w > f->mode.w - x || h > f->mode.h - y)
            reply(cfd, "error damage %u %u %u %u is outside %ux%u", x, y, w, h, f->mode.w, f->mode.h);
        else if (disp_update(f->dc, f->conn.id, f->fb, (size_t)f->mode.w * 4, (uint16_t)x,
                             (uint16_t)y, (uint16_t)w, (uint16_t)h, &code, err, sizeof err) < 0)
            reply(cfd, "error %s", err);
        else
            reply(cfd, "ok");
    } else if (!strncmp(line, "mode ", 5)) {
        uint16_t mw, mh, mr;
        if (!parse_mode(line + 5, &mw, &mh, &mr))
            reply(cfd, "error mode: '%s' is not WxH or WxH@R", line + 5);
        else if (setup(f, mw, mh, mr, err, sizeof err) < 0)
            reply(cfd, "error %s", err);
        else
            reply(cfd, "ok %u %u", f->mode.w, f->mode.h);
    } else {
        reply(cfd, "error unknown command (info, modes, damage X Y W H, full, mode WxH, quit)");
    }
    return 0;
}

static int serve(fe *f, int lfd)
{
    int cfd = -1;
    char line[512];
    size_t have = 0;
    for (;;) {
        if (disp_client_has_event(f->dc)) {
            proto_disp_conn list[PROTO_DISP_MAX_CONNS];
            size_t n;
            if (disp_client_event(f->dc, list, PROTO_DISP_MAX_CONNS, &n) == 1)
                on_hotplug(f, list, n);
        }
        struct pollfd p[2] = {{.fd = disp_client_fd(f->dc), .events = POLLIN},
                              {.fd = cfd >= 0 ? cfd : lfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (p[0].revents) {
            proto_disp_conn list[PROTO_DISP_MAX_CONNS];
            size_t n;
            int e = disp_client_event(f->dc, list, PROTO_DISP_MAX_CONNS, &n);
            if (e < 0) {
                fprintf(stderr, "revm-display: %s\n", disp_client_why(f->dc));
                return 1;
            }
            if (e == 1)
                on_hotplug(f, list, n);
        }
        if (!p[1].revents)
            continue;
        if (cfd < 0) {
            cfd = accept(lfd, NULL, NULL);
            have = 0;
            continue;
        }
        ssize_t r = read(cfd, line + have, sizeof line - 1 - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(cfd);
            cfd = -1;
            continue;
        }
        have += (size_t)r;
        char *nl;
        while ((nl = memchr(line, '\n', have))) {
            *nl = 0;
            int q = command(f, cfd, line);
            size_t used = (size_t)(nl + 1 - line);
            memmove(line, nl + 1, have - used);
            have -= used;
            if (q) {
                close(cfd);
                return 0;
            }
            if (disp_client_why(f->dc)[0]) {
                fprintf(stderr, "revm-display: %s\n", disp_client_why(f->dc));
                close(cfd);
                return 1;
            }
        }
        if (have == sizeof line - 1) {
            reply(cfd, "error line too long");
            have = 0;
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"vm", required_argument, 0, 'v'},      {"socket", required_argument, 0, 's'},
        {"local", required_argument, 0, 'l'},   {"device", required_argument, 0, 'd'},
        {"connector", required_argument, 0, 'c'}, {"mode", required_argument, 0, 'm'},
        {"shm", required_argument, 0, 'f'},     {"control", required_argument, 0, 'C'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    cli_opts o = {.vm = "driver", .socket = getenv("REVM_SOCKET")};
    const char *local = NULL, *device = "", *mode = NULL, *control = NULL;
    fe f = {0};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'v': o.vm = optarg; break;
        case 's': o.socket = optarg; break;
        case 'l': local = optarg; break;
        case 'd': device = optarg; break;
        case 'c': snprintf(f.conn_name, sizeof f.conn_name, "%s", optarg); break;
        case 'm': mode = optarg; break;
        case 'f': f.shm_path = optarg; break;
        case 'C': control = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!f.shm_path || !control || optind != argc) {
        usage(stderr);
        return 2;
    }
    uint16_t mw = 0, mh = 0, mr = 0;
    if (mode && !parse_mode(mode, &mw, &mh, &mr)) {
        fprintf(stderr, "revm-display: --mode: '%s' is not WxH or WxH@R (1 to %u)\n", mode, PROTO_DISP_MAX_DIM);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char err[512];
    if (local) {
        char *av[] = {(char *)local, "--service", "display", (char *)device, NULL};
        f.svc = rb_svc_spawn_local(av, NULL, err, sizeof err);
    } else {
        int bfd = cli_connect_bridge(&o);
        if (bfd < 0)
            return 1;
        f.svc = rb_svc_open(bfd, PROTO_SVC_DISPLAY, 0, device, 2, err, sizeof err);
    }
    if (!f.svc) {
        fprintf(stderr, "revm-display: %s\n", err);
        return 1;
    }
    f.dc = disp_client_new(rb_svc_fd(f.svc));
    int rc = 1;
    int lfd = -1;
    if (!f.dc) {
        fprintf(stderr, "revm-display: out of memory\n");
    } else if (setup(&f, mw, mh, mr, err, sizeof err) < 0) {
        fprintf(stderr, "revm-display: %s\n", err);
    } else if ((lfd = rb_unix_listen(control, err, sizeof err)) < 0) {
        fprintf(stderr, "revm-display: %s\n", err);
    } else {
        printf("revm-display: ready %s %ux%u@%u\n", f.conn_name, f.mode.w, f.mode.h, f.mode.refresh);
        fflush(stdout);
        rc = serve(&f, lfd);
        unlink(control);
    }
    if (lfd >= 0)
        close(lfd);
    if (f.fb) /* the framebuffer file lives as long as the front end */
        unlink(f.shm_path);
    disp_client_free(f.dc);
    rb_svc_close(f.svc);
    return rc;
}
