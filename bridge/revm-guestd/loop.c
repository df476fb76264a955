/* Event loop (see loop.h). Connection handling per mode:
 * - FD: the connection ends -> the daemon ends (tests own both ends).
 * - LISTEN: one host at a time; a new connection replaces the old one (a reconnecting host).
 * - DEVICE/AUTO: virtio-serial reports POLLHUP while no host is attached. The port stays open
 *   and is polled with a backoff until the HUP clears (QEMU chardev reconnect), because a HUP
 *   fd in epoll would wake us constantly. */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guestd.h"
#include "port.h"
#include "power.h"
#include "spawn.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 500

struct loop {
    guestd g;
    const guest_opts *o;
    int epfd, sfd, lfd, pfd, powfd;
    uint32_t pev; /* events registered for pfd; 0 = not in epoll */
    bool connected; /* pfd is a live connection (not waiting for a host) */
    int64_t probe_at; /* device modes: when to look for the host/port again; 0 = never */
    int backoff;
    bool stop, said_missing;
    int status;
    int ready_fd; /* o->ready_fd until the first handshake closes it */
};

static uint8_t rbuf[256 * 1024];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

static void ep_set(struct loop *L, int fd, uint32_t *cur, uint32_t want, int kind)
{
    if (fd < 0 || want == *cur)
        return;
    struct epoll_event e = {.events = want, .data.u64 = (uint64_t)kind << 32};
    int op = !want ? EPOLL_CTL_DEL : !*cur ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(L->epfd, op, fd, &e) < 0 && op != EPOLL_CTL_DEL)
        guest_log("epoll_ctl(port): %s", strerror(errno));
    *cur = want;
}

static void port_sync(struct loop *L)
{
    uint32_t want = 0;
    if (L->connected) {
        if (!L->g.paused)
            want |= EPOLLIN;
        if (guest_outq_len(&L->g.out))
            want |= EPOLLOUT;
        /* paused implies a non-empty queue, so want is never 0 while connected */
    }
    ep_set(L, L->pfd, &L->pev, want, GUEST_TK_PORT);
}

static bool device_mode(const struct loop *L)
{
    return L->o->mode == GUEST_MODE_DEVICE || L->o->mode == GUEST_MODE_AUTO;
}

/* The host went away (eof) or the stream is unusable (hard). */
static void conn_lost(struct loop *L, bool hard, const char *why)
{
    guest_log("host connection lost (%s): ending all programs", why);
    guest_conn_reset(&L->g);
    ep_set(L, L->pfd, &L->pev, 0, GUEST_TK_PORT);
    L->connected = false;
    switch (L->o->mode) {
    case GUEST_MODE_FD:
        close(L->pfd);
        L->pfd = -1;
        L->stop = true;
        break;
    case GUEST_MODE_LISTEN:
        close(L->pfd);
        L->pfd = -1;
        break;
    default:
        /* A garbled stream cannot be resynchronised: reopen the port. A plain hangup keeps
         * the port open and waits for the host to come back. */
        if (hard) {
            close(L->pfd);
            L->pfd = -1;
        }
        L->backoff = BACKOFF_MIN_MS;
        L->probe_at = L->g.now + L->backoff;
        break;
    }
}

static void conn_start(struct loop *L)
{
    guest_conn_reset(&L->g);
    L->connected = true;
    L->backoff = BACKOFF_MIN_MS;
    L->probe_at = 0;
    port_sync(L);
}

/* Device modes: (re)open the port and check whether a host is attached. */
static void probe(struct loop *L)
{
    if (L->pfd < 0) {
        char found[512];
        const char *path = L->o->path;
        if (L->o->mode == GUEST_MODE_AUTO) {
            path = guest_port_find(L->o->sysdir, L->o->devdir, L->o->port_name, found,
                                   sizeof found) == 0 ? found : NULL;
        }
        if (path)
            L->pfd = guest_port_open(path);
        if (L->pfd < 0) {
            if (!L->said_missing)
                guest_log("port %s not available yet (%s); waiting",
                          L->o->mode == GUEST_MODE_AUTO ? L->o->port_name : L->o->path,
                          path ? strerror(errno) : "not found");
            L->said_missing = true;
            goto later;
        }
        L->said_missing = false;
        guest_log("using port %s", path);
    }
    struct pollfd p = {.fd = L->pfd, .events = POLLIN};
    if (poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
        goto later;
    conn_start(L);
    return;
later:
    L->probe_at = L->g.now + L->backoff;
    L->backoff = L->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : L->backoff * 2;
}

static void on_port(struct loop *L, uint32_t ev)
{
    if (!L->connected)
        return;
    if ((ev & EPOLLIN) || ((ev & (EPOLLHUP | EPOLLERR)) && !L->g.paused)) {
        ssize_t n = read(L->pfd, rbuf, sizeof rbuf);
        if (n > 0) {
            if (guest_input(&L->g, rbuf, (size_t)n) < 0)
                conn_lost(L, true, "protocol error");
            return;
        }
        if (n == 0) {
            conn_lost(L, false, "end of stream");
            return;
        }
        if (errno != EAGAIN && errno != EINTR) {
            conn_lost(L, true, strerror(errno));
            return;
        }
    }
    if (ev & (EPOLLHUP | EPOLLERR)) {
        conn_lost(L, false, "hangup");
        return;
    }
    /* EPOLLOUT: flushed after every iteration */
}

static void on_listen(struct loop *L)
{
    int fd = accept4(L->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    if (L->pfd >= 0) {
        guest_log("new host connection replaces the old one");
        ep_set(L, L->pfd, &L->pev, 0, GUEST_TK_PORT);
        close(L->pfd);
    }
    L->pfd = fd;
    conn_start(L);
}

static void reap(struct loop *L)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
        guest_child_exited(&L->g, pid, st);
}

static void on_signal(struct loop *L)
{
    struct signalfd_siginfo si;
    while (read(L->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
            reap(L);
        } else {
            guest_log("signal %u: stopping", si.ssi_signo);
            L->stop = true;
        }
    }
}

static void flush(struct loop *L)
{
    if (L->g.overflow) {
        conn_lost(L, true, "output stuck");
        return;
    }
    if (!L->connected || !guest_outq_len(&L->g.out))
        return;
    if (guest_outq_flush(&L->g.out, L->pfd) < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        conn_lost(L, L->o->mode != GUEST_MODE_AUTO && L->o->mode != GUEST_MODE_DEVICE,
                  strerror(errno));
}

/* SIGHUP to every program, a grace period, then SIGKILL. */
static void shutdown_children(struct loop *L)
{
    guest_conn_reset(&L->g);
    int64_t end = now_ms() + GUEST_KILL_GRACE_MS;
    while (guest_live_children(&L->g) > 0 && now_ms() < end) {
        struct pollfd p = {.fd = L->sfd, .events = POLLIN};
        poll(&p, 1, 50);
        L->g.now = now_ms();
        on_signal(L);
        reap(L);
    }
    guest_kill_all(&L->g, SIGKILL);
    while (guest_live_children(&L->g) > 0) {
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0)
            break;
        guest_child_exited(&L->g, pid, st);
    }
}

static int setup(struct loop *L, const guest_opts *o, const char *agent)
{
    memset(L, 0, sizeof *L);
    L->o = o;
    L->lfd = L->pfd = L->sfd = L->powfd = -1;
    /* Kept from the programs we start, whose fds are their own. */
    L->ready_fd = -1;
    if (o->ready_fd >= 0 && fcntl(o->ready_fd, F_SETFD, FD_CLOEXEC) == 0)
        L->ready_fd = o->ready_fd;
    L->backoff = BACKOFF_MIN_MS;
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    L->epfd = epoll_create1(EPOLL_CLOEXEC);
    L->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (L->epfd < 0 || L->sfd < 0) {
        guest_log("cannot set up the event loop: %s", strerror(errno));
        return -1;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = (uint64_t)GUEST_TK_SIGNAL << 32};
    epoll_ctl(L->epfd, EPOLL_CTL_ADD, L->sfd, &e);
    if (guest_init(&L->g, &guest_spawn_backend, agent, L->epfd) < 0) {
        guest_log("out of memory");
        return -1;
    }
    L->g.now = now_ms();
    if (o->power_button && (L->powfd = guest_power_open()) >= 0) {
        e = (struct epoll_event){.events = EPOLLIN, .data.u64 = (uint64_t)GUEST_TK_POWER << 32};
        epoll_ctl(L->epfd, EPOLL_CTL_ADD, L->powfd, &e);
    }
    switch (o->mode) {
    case GUEST_MODE_FD:
        L->pfd = o->fd;
        if (fcntl(L->pfd, F_SETFD, FD_CLOEXEC) < 0 ||
            fcntl(L->pfd, F_SETFL, fcntl(L->pfd, F_GETFL) | O_NONBLOCK) < 0) {
            guest_log("--fd %d: %s", o->fd, strerror(errno));
            return -1;
        }
        conn_start(L);
        break;
    case GUEST_MODE_LISTEN:
        L->lfd = o->path ? guest_listen_unix(o->path) : guest_listen_vsock(o->vsock_port);
        if (L->lfd < 0) {
            if (o->path)
                guest_log("--listen unix:%s: %s", o->path, strerror(errno));
            else
                guest_log("--listen vsock:%u: %s", o->vsock_port, strerror(errno));
            return -1;
        }
        e = (struct epoll_event){.events = EPOLLIN, .data.u64 = (uint64_t)GUEST_TK_LISTEN << 32};
        epoll_ctl(L->epfd, EPOLL_CTL_ADD, L->lfd, &e);
        if (o->path)
            guest_log("listening on %s", o->path);
        else
            guest_log("listening on vsock port %u", o->vsock_port);
        break;
    default:
        L->probe_at = L->g.now;
        break;
    }
    return 0;
}

int guest_run(const guest_opts *o, const char *agent)
{
    static struct loop L;
    if (setup(&L, o, agent) < 0)
        return 1;
    bool trimmed = true;
    while (!L.stop) {
        L.g.now = now_ms();
        int64_t t = guest_tick(&L.g);
        if (L.probe_at) {
            int64_t p = L.probe_at > L.g.now ? L.probe_at - L.g.now : 0;
            t = t < 0 || p < t ? p : t;
        }
        if (t < 0 && !trimmed)
            t = 1000; /* once idle, give back a burst's buffers */
        flush(&L);
        if (L.stop)
            break;
        /* Ready, our answer to the HELLO written: whoever waits on the fd (the initramfs
         * init holding back runit's stage 1, which would compete with the handshake for a
         * TCG vCPU) sees it close. */
        if (L.ready_fd >= 0 && L.g.handshaken) {
            close(L.ready_fd);
            L.ready_fd = -1;
        }
        guest_out_pressure(&L.g);
        port_sync(&L);
        struct epoll_event ev[64];
        int n = epoll_wait(L.epfd, ev, 64, t > 60000 ? 60000 : (int)t);
        L.g.now = now_ms();
        if (n == 0 && !trimmed) {
            guest_outq_trim(&L.g.out);
            trimmed = true;
        }
        if (n > 0)
            trimmed = false;
        for (int i = 0; i < n && !L.stop; i++) {
            int kind = (int)(ev[i].data.u64 >> 32);
            int slot = (int)(uint32_t)ev[i].data.u64;
            switch (kind) {
            case GUEST_TK_PORT: on_port(&L, ev[i].events); break;
            case GUEST_TK_LISTEN: on_listen(&L); break;
            case GUEST_TK_SIGNAL: on_signal(&L); break;
            case GUEST_TK_POWER:
                if (guest_power_pressed(L.powfd))
                    guest_power_off(); /* its child is reaped like any other */
                break;
            default: guest_chan_event(&L.g, kind, slot, ev[i].events); break;
            }
            if (L.g.overflow)
                flush(&L);
        }
        if (L.probe_at && L.g.now >= L.probe_at && device_mode(&L) && !L.connected) {
            L.probe_at = 0;
            probe(&L);
        }
    }
    shutdown_children(&L);
    guest_fini(&L.g);
    if (L.powfd >= 0)
        close(L.powfd);
    if (L.lfd >= 0 && o->mode == GUEST_MODE_LISTEN && o->path)
        unlink(o->path);
    return L.status;
}
