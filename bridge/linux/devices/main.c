/* revm-devices: the Linux host's front end of the device service (PROTOCOL.md, Device
 * service). It keeps, for each device the driver VM offers that it was told to attach, a host
 * device alive: an NBD export on a unix socket for a disk, a TAP interface for a NIC. The
 * device channels are reopened whenever they end (the driver VM restarted, revmd restarted),
 * with requests that were in flight sent again, so NBD clients and the host's network stack
 * never have to be restarted.
 *
 *   revm-devices [--vm NAME | --socket PATH | --local GUESTD]
 *                [--block NAME=NBD_SOCKET]... [--net NAME=TAP]... [--all DIR] [--read-only]
 *
 * --all DIR: every device the VM offers, now and when hot-added: disks as DIR/NAME.nbd, NICs
 * as TAP rv-NAME (the inventory channel is followed; a removed device's channel is no longer
 * reopened until it comes back).
 * --vm NAME (default driver): the VM's bridge through revmd; --socket: a bridge socket;
 * --local GUESTD: runs `GUESTD --service device ...` here (tests; NAME may then be a file). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dev_blk.h"
#include "dev_net.h"
#include "linux/nbd/nbd_server.h"
#include "linux/tap/tap.h"
#include "proto.h"
#include "rb_state.h"
#include "rb_svc.h"
#include "rb_unix.h"

#define MAX_DEVS 16
/* Per device: its channel, then the NBD listener and every client it accepts (at most 32)
 * or the TAP; a client left out of the poll set would never be read. */
#define POLL_PER_DEV 40
#define MAX_POLL (1 + MAX_DEVS * POLL_PER_DEV)

typedef struct hostdev {
    bool block;
    bool gone;   /* --all: the VM removed it; do not reopen its channel */
    bool broken; /* --all: its host side could not be set up */
    char name[PATH_MAX], target[PATH_MAX];
    rb_svc *svc;
    int fd;
    time_t retry_at;
    unsigned failures;
    dev_blk *blk;
    nbd_server *nbd;
    dev_net *net;
    int tap;
    uint8_t frame[PROTO_DEV_MAX_FRAME + 64];
} hostdev;

static struct {
    const char *vm, *socket, *local, *all_dir;
    bool ro;
    hostdev devs[MAX_DEVS];
    size_t ndevs;
    /* --all: the inventory channel */
    rb_svc *inv;
    int inv_fd;
    time_t inv_retry;
    unsigned inv_failures;
    proto_rec_stream inv_rs;
    uint8_t inv_buf[4 + 4096];
} g = {.vm = "driver", .inv_fd = -1};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "revm-devices: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: revm-devices [--vm NAME | --socket PATH | --local GUESTD]\n"
                 "                    [--block NAME=NBD_SOCKET]... [--net NAME=TAP]... [--all DIR] [--read-only]\n");
}

/* A device service channel with this OPEN argument: NULL with err. */
static rb_svc *open_channel_arg(const char *arg, uint32_t flags, char *err, size_t errlen)
{
    if (g.local) {
        char fl[32];
        snprintf(fl, sizeof fl, "REVM_SVC_FLAGS=%u", flags);
        char *argv[] = {(char *)g.local, "--service", "device", (char *)arg, NULL};
        char *env[] = {"REVM_DEV_ALLOW_PATH=1", fl, NULL};
        return rb_svc_spawn_local(argv, env, err, errlen);
    }
    char path[PATH_MAX];
    if (g.socket) {
        snprintf(path, sizeof path, "%s", g.socket);
    } else {
        char state[PATH_MAX];
        if (rb_state_dir(geteuid() == 0, state, err, errlen) < 0)
            return NULL;
        if (!rb_state_vm_path(path, sizeof path, state, g.vm, "client.sock")) {
            snprintf(err, errlen, "VM %s: state path too long", g.vm);
            return NULL;
        }
    }
    int fd = rb_unix_connect(path, err, errlen);
    if (fd < 0)
        return NULL;
    return rb_svc_open(fd, PROTO_SVC_DEVICE, flags, arg, 2, err, errlen);
}

static rb_svc *open_channel(const hostdev *d, char *err, size_t errlen)
{
    char arg[PATH_MAX + 8];
    snprintf(arg, sizeof arg, "%s:%s", d->block ? "block" : "net", d->name);
    return open_channel_arg(arg, d->block && g.ro ? PROTO_DEV_OPEN_RO : 0, err, errlen);
}

static void connect_dev(hostdev *d, time_t now)
{
    char err[512];
    d->svc = open_channel(d, err, sizeof err);
    if (!d->svc) {
        if (d->failures++ == 0)
            logf_("%s: cannot open the device channel (retrying): %s", d->name, err);
        unsigned backoff = d->failures < 5 ? 1 : 5;
        d->retry_at = now + backoff;
        return;
    }
    d->fd = rb_svc_fd(d->svc);
    fcntl(d->fd, F_SETFL, fcntl(d->fd, F_GETFL) | O_NONBLOCK);
    logf_("%s: device channel open%s", d->name, d->failures ? " again" : "");
    d->failures = 0;
    if (d->block)
        dev_blk_attach(d->blk, d->fd);
    else
        dev_net_attach(d->net, d->fd);
}

static void disconnect_dev(hostdev *d, time_t now)
{
    if (d->block)
        dev_blk_detach(d->blk);
    else
        dev_net_detach(d->net);
    const char *why = rb_svc_why(d->svc);
    logf_("%s: device channel ended%s%s; reconnecting", d->name, why && *why ? ": " : "", why ? why : "");
    rb_svc_close(d->svc);
    d->svc = NULL;
    d->fd = -1;
    d->retry_at = now + 1;
    d->failures = 1;
    if (!d->block && d->tap >= 0) {
        const proto_net_info *ni = dev_net_info(d->net);
        char err[256];
        if (ni && tap_configure(d->tap, d->target, ni->mac, ni->mtu, false, err, sizeof err) < 0)
            logf_("%s", err);
    }
}

static void net_frame(void *ctx, const uint8_t *frame, size_t len)
{
    hostdev *d = ctx;
    ssize_t w = write(d->tap, frame, len);
    (void)w; /* a full TAP queue drops the frame, as a NIC would */
}

static void net_info(void *ctx, const proto_net_info *ni)
{
    hostdev *d = ctx;
    char err[256];
    if (tap_configure(d->tap, d->target, ni->mac, ni->mtu, ni->link, err, sizeof err) < 0)
        logf_("%s", err);
    else
        logf_("%s: %s mac %02x:%02x:%02x:%02x:%02x:%02x mtu %u link %s", d->name, d->target,
              ni->mac[0], ni->mac[1], ni->mac[2], ni->mac[3], ni->mac[4], ni->mac[5], ni->mtu,
              ni->link ? "up" : "down");
}

static void blk_log(void *ctx, const char *line)
{
    (void)ctx;
    logf_("%s", line);
}

static int add_dev(const char *spec, bool block)
{
    const char *eq = strrchr(spec, '=');
    if (g.ndevs >= MAX_DEVS || !eq || eq == spec || !eq[1]) {
        fprintf(stderr, "revm-devices: bad device '%s': expected NAME=%s\n", spec,
                block ? "NBD_SOCKET" : "TAP");
        return -1;
    }
    hostdev *d = &g.devs[g.ndevs++];
    d->block = block;
    snprintf(d->name, sizeof d->name, "%.*s", (int)(eq - spec), spec);
    snprintf(d->target, sizeof d->target, "%s", eq + 1);
    d->fd = d->tap = -1;
    return 0;
}

static int setup(hostdev *d)
{
    char err[512];
    if (d->block) {
        d->blk = dev_blk_new(d->name, blk_log, NULL);
        d->nbd = d->blk ? nbd_server_new(d->target, d->name, d->blk, err, sizeof err) : NULL;
        if (!d->nbd) {
            fprintf(stderr, "revm-devices: %s: %s\n", d->name, d->blk ? err : "out of memory");
            return -1;
        }
        return 0;
    }
    static const dev_net_ops ops = {net_frame, net_info};
    d->net = dev_net_new(d->name, &ops, d);
    d->tap = d->net ? tap_open(d->target, err, sizeof err) : -1;
    if (d->tap < 0) {
        fprintf(stderr, "revm-devices: %s: %s\n", d->name, d->net ? err : "out of memory");
        return -1;
    }
    return 0;
}

/* --all: a device from the inventory gets a host side the first time it is seen. */
static void inv_add(const proto_dev_info *di)
{
    bool block = di->kind == PROTO_DEV_BLOCK;
    for (size_t i = 0; i < g.ndevs; i++) {
        hostdev *d = &g.devs[i];
        if (d->block == block && strlen(d->name) == di->name.n && !memcmp(d->name, di->name.s, di->name.n)) {
            if (d->gone)
                logf_("%s: back in the VM", d->name);
            d->gone = false;
            return;
        }
    }
    if (g.ndevs >= MAX_DEVS) {
        logf_("%.*s: more than %d devices: not attached", (int)di->name.n, di->name.s, MAX_DEVS);
        return;
    }
    hostdev *d = &g.devs[g.ndevs++];
    memset(d, 0, sizeof *d);
    d->block = block;
    d->fd = d->tap = -1;
    snprintf(d->name, sizeof d->name, "%.*s", (int)di->name.n, di->name.s);
    if (block)
        snprintf(d->target, sizeof d->target, "%s/%.*s.nbd", g.all_dir, (int)di->name.n, di->name.s);
    else
        snprintf(d->target, sizeof d->target, "rv-%.*s", (int)(di->name.n > 12 ? 12 : di->name.n), di->name.s);
    d->broken = setup(d) < 0;
    if (!d->broken)
        logf_("%s: attached as %s", d->name, d->target);
}

static void inv_remove(uint8_t kind, const proto_str *name)
{
    for (size_t i = 0; i < g.ndevs; i++) {
        hostdev *d = &g.devs[i];
        if (d->block == (kind == PROTO_DEV_BLOCK) && strlen(d->name) == name->n &&
            !memcmp(d->name, name->s, name->n) && !d->gone) {
            d->gone = true;
            logf_("%s: removed from the VM; %s stays, waiting for it to come back", d->name, d->target);
        }
    }
}

/* 0, or -1 when the inventory channel ended. */
static int inv_step(short revents)
{
    if (!(revents & (POLLIN | POLLHUP | POLLERR)))
        return 0;
    uint8_t in[8192];
    ssize_t k = read(g.inv_fd, in, sizeof in);
    if (k < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (k <= 0)
        return -1;
    for (size_t off = 0; off < (size_t)k;) {
        size_t used;
        proto_rec rec;
        int st = proto_rec_stream_feed(&g.inv_rs, in + off, (size_t)k - off, &used, &rec);
        off += used;
        if (st == PROTO_BAD_FRAME) {
            logf_("inventory: record out of bounds: ending the channel");
            return -1;
        }
        if (st == PROTO_NEED_MORE)
            break;
        proto_dev_info di;
        proto_str name;
        uint8_t kind;
        if (rec.type == PROTO_DEV_ADD && proto_dec_dev_add(rec.body, rec.body_len, &di))
            inv_add(&di);
        else if (rec.type == PROTO_DEV_REMOVE && proto_dec_dev_remove(rec.body, rec.body_len, &kind, &name))
            inv_remove(kind, &name);
        else if (rec.type != PROTO_DEV_SYNC) {
            logf_("inventory: malformed record (type 0x%02x): ending the channel", rec.type);
            return -1;
        }
    }
    return 0;
}

static void inv_connect(time_t now)
{
    char err[512];
    g.inv = open_channel_arg("", 0, err, sizeof err);
    if (!g.inv) {
        if (g.inv_failures++ == 0)
            logf_("inventory: cannot open the channel (retrying): %s", err);
        g.inv_retry = now + (g.inv_failures < 5 ? 1 : 5);
        return;
    }
    g.inv_failures = 0;
    g.inv_fd = rb_svc_fd(g.inv);
    fcntl(g.inv_fd, F_SETFL, fcntl(g.inv_fd, F_GETFL) | O_NONBLOCK);
    proto_rec_stream_init(&g.inv_rs, g.inv_buf, 4096);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--read-only")) {
            g.ro = true;
        } else if (v && !strcmp(a, "--vm")) {
            g.vm = v, i++;
        } else if (v && !strcmp(a, "--socket")) {
            g.socket = v, i++;
        } else if (v && !strcmp(a, "--local")) {
            g.local = v, i++;
        } else if (v && !strcmp(a, "--all")) {
            g.all_dir = v, i++;
        } else if (v && (!strcmp(a, "--block") || !strcmp(a, "--net"))) {
            if (add_dev(v, !strcmp(a, "--block")) < 0)
                return 2;
            i++;
        } else {
            fprintf(stderr, "revm-devices: unknown or incomplete option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!g.ndevs && !g.all_dir) {
        fprintf(stderr, "revm-devices: nothing to attach: give --block, --net or --all DIR\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    for (size_t i = 0; i < g.ndevs; i++)
        if (setup(&g.devs[i]) < 0)
            return 1;

    struct pollfd fds[MAX_POLL];
    while (!stop) {
        time_t now = time(NULL);
        size_t n = 0;
        size_t start[MAX_DEVS], count[MAX_DEVS];
        if (g.all_dir && !g.inv && now >= g.inv_retry)
            inv_connect(now);
        if (g.inv)
            fds[n++] = (struct pollfd){.fd = g.inv_fd, .events = POLLIN};
        for (size_t i = 0; i < g.ndevs; i++) {
            hostdev *d = &g.devs[i];
            start[i] = n;
            count[i] = 0;
            if (d->broken)
                continue;
            if (!d->svc && !d->gone && now >= d->retry_at)
                connect_dev(d, now);
            if (d->svc) {
                short ev = d->block ? dev_blk_events(d->blk) : dev_net_events(d->net);
                fds[n++] = (struct pollfd){.fd = d->fd, .events = ev};
            }
            if (d->block) {
                n += nbd_server_pollfds(d->nbd, fds + n, POLL_PER_DEV - 1);
            } else {
                fds[n++] = (struct pollfd){.fd = d->tap, .events = POLLIN};
            }
            count[i] = n - start[i];
        }
        if (poll(fds, n, 500) < 0 && errno != EINTR)
            break;
        now = time(NULL);
        size_t ndevs_polled = g.ndevs; /* the inventory may add devices below */
        if (g.inv && inv_step(fds[0].revents) < 0) {
            const char *why = rb_svc_why(g.inv);
            logf_("inventory: channel ended%s%s; reconnecting", why && *why ? ": " : "", why ? why : "");
            rb_svc_close(g.inv);
            g.inv = NULL;
            g.inv_fd = -1;
            g.inv_retry = now + 1;
        }
        for (size_t i = 0; i < ndevs_polled; i++) {
            hostdev *d = &g.devs[i];
            struct pollfd *f = fds + start[i];
            size_t k = count[i];
            if (d->broken)
                continue;
            if (d->svc) {
                int rc = d->block ? dev_blk_step(d->blk, f->revents) : dev_net_step(d->net, f->revents);
                if (rc < 0)
                    disconnect_dev(d, now);
                f++, k--;
            }
            if (d->block) {
                nbd_server_step(d->nbd, f, k);
                if (d->svc && dev_blk_step(d->blk, 0) < 0)
                    disconnect_dev(d, now);
            } else if (f->revents & POLLIN) {
                for (int burst = 0; burst < 64; burst++) {
                    ssize_t r = read(d->tap, d->frame, sizeof d->frame);
                    if (r <= 0)
                        break;
                    dev_net_send(d->net, d->frame, (size_t)r);
                }
                if (d->svc && dev_net_step(d->net, 0) < 0)
                    disconnect_dev(d, now);
            }
        }
    }
    if (g.inv)
        rb_svc_close(g.inv);
    for (size_t i = 0; i < g.ndevs; i++) {
        hostdev *d = &g.devs[i];
        if (d->svc)
            rb_svc_close(d->svc);
        if (d->broken)
            continue;
        if (d->block) {
            dev_blk_free(d->blk);
            nbd_server_free(d->nbd);
        } else {
            const dev_net_stats *st = dev_net_get_stats(d->net);
            logf_("%s: %llu frames to the VM, %llu from it, %llu dropped", d->name,
                  (unsigned long long)st->to_guest, (unsigned long long)st->from_guest,
                  (unsigned long long)(st->dropped_full + st->dropped_bad));
            dev_net_free(d->net);
            close(d->tap);
        }
    }
    return 0;
}
