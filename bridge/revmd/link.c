#include "link.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "apps.h" /* launcher entries for the VM's applications */
#include "rb_mux.h"
#include "rb_unix.h"

struct sup_link {
    pthread_t thread;
    char vm[32];
    char bridge_sock[108];
    char client_sock[108];
    int event_fd;
    uint32_t generation;
    int stop_pipe[2]; /* written by sup_link_stop: wakes every poll in the thread */
    sup_apps *apps;   /* launcher entries: started at the first ready, stopped with the link */
};

static void emit(struct sup_link *l, uint32_t kind, const char *text)
{
    sup_link_event ev = {.kind = kind, .generation = l->generation};
    snprintf(ev.vm, sizeof ev.vm, "%s", l->vm);
    snprintf(ev.agent, sizeof ev.agent, "%s", text);
    /* The pipe holds far more than the few events a VM produces; never block the thread. */
    (void)!write(l->event_fd, &ev, sizeof ev);
}

static bool stopping(struct sup_link *l, int timeout_ms)
{
    struct pollfd p = {.fd = l->stop_pipe[0], .events = POLLIN};
    return poll(&p, 1, timeout_ms) > 0;
}

/* QEMU creates the bridge socket a moment after it starts; retry until it accepts. */
static int connect_bridge(struct sup_link *l)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", l->bridge_sock);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        if (stopping(l, 100))
            return -1;
    }
}

static void on_ready(void *ctx, const rb_params *p)
{
    struct sup_link *l = ctx;
    emit(ctx, SUP_LINK_READY, p->agent);
    if (!l->apps) /* launcher entries: a client of our own socket; it reconnects by itself later */
        l->apps = sup_apps_start(l->vm, l->client_sock);
}

static void on_log(void *ctx, const char *msg)
{
    struct sup_link *l = ctx;
    fprintf(stderr, "revmd: VM %s: bridge: %s\n", l->vm, msg);
}

/* Connect, multiplex clients until the connection ends, and start over while the VM runs: a
 * guest daemon that restarts gets a fresh HELLO (a session reset, PROTOCOL.md) this way. */
static void *link_main(void *arg)
{
    struct sup_link *l = arg;
    for (;;) {
        int fd = connect_bridge(l);
        if (fd < 0)
            return NULL;
        char err[256], why[256] = "";
        unlink(l->client_sock);
        int listen_fd = rb_unix_listen(l->client_sock, err, sizeof err);
        if (listen_fd < 0) {
            close(fd);
            emit(l, SUP_LINK_DOWN, err);
            return NULL;
        }
        char agent[64];
        snprintf(agent, sizeof agent, "revmd %s", REVM_VERSION);
        rb_mux_opts o = {.agent = agent, .stop_fd = l->stop_pipe[0], .on_ready = on_ready,
                         .log = on_log, .ctx = l};
        int rc = rb_mux_run(fd, listen_fd, &o, why, sizeof why); /* owns both fds */
        unlink(l->client_sock);
        if (rc == 0)
            return NULL; /* stopped */
        emit(l, SUP_LINK_DOWN, why);
        if (stopping(l, 1000))
            return NULL;
    }
}

sup_link *sup_link_start(const char *vm, const char *bridge_sock, const char *client_sock,
                         int event_fd, uint32_t generation)
{
    struct sup_link *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    snprintf(l->vm, sizeof l->vm, "%s", vm);
    snprintf(l->bridge_sock, sizeof l->bridge_sock, "%s", bridge_sock);
    snprintf(l->client_sock, sizeof l->client_sock, "%s", client_sock);
    l->event_fd = event_fd;
    l->generation = generation;
    if (pipe2(l->stop_pipe, O_CLOEXEC) < 0) {
        free(l);
        return NULL;
    }
    if (pthread_create(&l->thread, NULL, link_main, l) != 0) {
        close(l->stop_pipe[0]);
        close(l->stop_pipe[1]);
        free(l);
        return NULL;
    }
    return l;
}

void sup_link_stop(sup_link *l)
{
    if (!l)
        return;
    (void)!write(l->stop_pipe[1], "x", 1);
    pthread_join(l->thread, NULL);
    sup_apps_stop(l->apps);
    close(l->stop_pipe[0]);
    close(l->stop_pipe[1]);
    free(l);
}
