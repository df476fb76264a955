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

#include "proto.h"
#include "link_serve.h"

struct sup_link {
    pthread_t thread;
    char vm[32];
    char bridge_sock[108];
    char client_sock[108];
    int event_fd;
    uint32_t generation;
    int stop_pipe[2]; /* written by sup_link_stop: wakes every poll in the thread */
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

static void *link_main(void *arg)
{
    struct sup_link *l = arg;
    int fd = connect_bridge(l);
    if (fd < 0)
        return NULL;
    char agent[120], why[160];
    /* The guest answers HELLO once its daemon runs: that is what "ready" means. */
    if (sup_link_handshake(fd, l->stop_pipe[0], agent, sizeof agent, why, sizeof why) == 0) {
        emit(l, SUP_LINK_READY, agent);
        sup_link_serve(fd, l->client_sock, l->stop_pipe[0], why, sizeof why);
    }
    close(fd);
    emit(l, SUP_LINK_DOWN, why);
    return NULL;
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
    close(l->stop_pipe[0]);
    close(l->stop_pipe[1]);
    free(l);
}
