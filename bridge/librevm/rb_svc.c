/* Record services as a local socket (rb_svc.h). */
#include "rb_svc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cm_io.h"
#include "proto.h"
#include "rb_client.h"

#define SVC_HANDSHAKE_MS 10000
#define SVC_MAX_POLL 16

struct rb_svc {
    int user_fd;     /* handed out by rb_svc_fd */
    int inner_fd;    /* the pump's end (bridge mode) */
    int stop_pipe[2];
    rb_client *cl;
    rb_exec *ex;
    pthread_t thread;
    bool threaded;
    pid_t child;     /* local mode */
    pthread_mutex_t lock;
    char why[256];
};

static void set_why(rb_svc *s, const char *why)
{
    pthread_mutex_lock(&s->lock);
    if (!s->why[0])
        snprintf(s->why, sizeof s->why, "%s", why);
    pthread_mutex_unlock(&s->lock);
}

static void *pump(void *arg)
{
    rb_svc *s = arg;
    struct pollfd fds[SVC_MAX_POLL + 1];
    for (;;) {
        int timeout = -1;
        size_t n = rb_client_pollfds(s->cl, fds, SVC_MAX_POLL, &timeout);
        fds[n] = (struct pollfd){.fd = s->stop_pipe[0], .events = POLLIN};
        if (poll(fds, n + 1, timeout) < 0 && errno != EINTR) {
            set_why(s, strerror(errno));
            break;
        }
        if (fds[n].revents) {
            rb_exec_close(s->ex);
            set_why(s, "closed by the host");
            break;
        }
        if (rb_client_step(s->cl, fds, n) < 0 || rb_exec_done(s->ex)) {
            const rb_exec_status *st = rb_exec_result(s->ex);
            char why[256];
            if (st->error)
                snprintf(why, sizeof why, "%s", st->text);
            else if (st->exited && st->signaled)
                snprintf(why, sizeof why, "the service ended by signal %d", st->value);
            else
                snprintf(why, sizeof why, "the service ended (status %d)", st->value);
            set_why(s, why);
            break;
        }
    }
    /* The user sees EOF from now on; a write gets EPIPE. */
    shutdown(s->inner_fd, SHUT_RDWR);
    return NULL;
}

static rb_svc *svc_alloc(void)
{
    rb_svc *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->user_fd = s->inner_fd = s->stop_pipe[0] = s->stop_pipe[1] = -1;
    s->child = -1;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

rb_svc *rb_svc_open(int bridge_fd, uint16_t service, uint32_t flags, const char *arg,
                    int log_fd, char *err, size_t errlen)
{
    rb_svc *s = svc_alloc();
    int sv[2] = {-1, -1};
    if (!s || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
        pipe2(s->stop_pipe, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "cannot set up the service socket: %s", strerror(errno));
        close(bridge_fd);
        goto fail;
    }
    s->user_fd = sv[0];
    s->inner_fd = sv[1];
    fcntl(s->inner_fd, F_SETFL, fcntl(s->inner_fd, F_GETFL) | O_NONBLOCK);
    s->cl = rb_client_new(bridge_fd, NULL, err, errlen);
    if (!s->cl)
        goto fail;
    if (rb_client_handshake(s->cl, SVC_HANDSHAKE_MS, err, errlen) < 0)
        goto fail;
    /* One socket end for both directions: the client reads requests from it and writes
     * replies to it; it never closes the fds it is given. */
    s->ex = rb_service_start(s->cl, service, flags, arg, s->inner_fd, s->inner_fd, log_fd, err, errlen);
    if (!s->ex)
        goto fail;
    /* Wait for OPEN_OK (or the refusal) here, so callers get the guest's reason directly. */
    struct pollfd fds[SVC_MAX_POLL];
    while (rb_exec_result(s->ex)->state == RB_EXEC_OPENING) {
        int timeout = -1;
        size_t n = rb_client_pollfds(s->cl, fds, SVC_MAX_POLL, &timeout);
        /* Do not pump the user's socket yet: only the bridge (slot 0). */
        for (size_t i = 1; i < n; i++)
            fds[i].events = 0;
        if (poll(fds, n, timeout) < 0 && errno != EINTR)
            break;
        if (rb_client_step(s->cl, fds, n) < 0)
            break;
    }
    const rb_exec_status *st = rb_exec_result(s->ex);
    if (st->state != RB_EXEC_RUNNING) {
        snprintf(err, errlen, "%s", st->text[0] ? st->text : rb_client_error(s->cl));
        goto fail;
    }
    if (pthread_create(&s->thread, NULL, pump, s) != 0) {
        snprintf(err, errlen, "cannot start the service thread");
        goto fail;
    }
    s->threaded = true;
    return s;
fail:
    rb_svc_close(s);
    return NULL;
}

rb_svc *rb_svc_spawn_local(char *const argv[], char *const env[], char *err, size_t errlen)
{
    rb_svc *s = svc_alloc();
    int sv[2];
    if (!s || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(err, errlen, "cannot set up the service socket: %s", strerror(errno));
        free(s);
        return NULL;
    }
    s->user_fd = sv[0];
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(sv[1]);
        rb_svc_close(s);
        return NULL;
    }
    if (pid == 0) {
        dup2(sv[1], 0);
        dup2(sv[1], 1);
        for (size_t i = 0; env && env[i]; i++)
            putenv(env[i]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(sv[1]);
    s->child = pid;
    return s;
}

int rb_svc_fd(const rb_svc *s)
{
    return s->user_fd;
}

const char *rb_svc_why(rb_svc *s)
{
    return s->why;
}

void rb_svc_close(rb_svc *s)
{
    if (!s)
        return;
    if (s->threaded) {
        ssize_t w = write(s->stop_pipe[1], "x", 1);
        (void)w;
        pthread_join(s->thread, NULL);
        /* Give the CLOSE a moment to leave: the bridge fd closes with the client. */
        struct pollfd fds[SVC_MAX_POLL];
        int timeout = -1;
        size_t n = rb_client_pollfds(s->cl, fds, 1, &timeout);
        if (n && (fds[0].events & POLLOUT) && poll(fds, 1, 200) > 0)
            rb_client_step(s->cl, fds, 1);
    }
    if (s->child > 0) {
        close(s->user_fd); /* the helper sees EOF and ends */
        s->user_fd = -1;
        int st;
        for (int i = 0; i < 100 && waitpid(s->child, &st, WNOHANG) == 0; i++)
            usleep(10000);
        if (waitpid(s->child, &st, WNOHANG) == 0) {
            kill(s->child, SIGKILL);
            waitpid(s->child, &st, 0);
        }
    }
    if (s->cl)
        rb_client_free(s->cl);
    int fds[] = {s->user_fd, s->inner_fd, s->stop_pipe[0], s->stop_pipe[1]};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int rb_svc_send(int fd, uint8_t type, uint32_t tag, const void *body, size_t len)
{
    uint8_t h[PROTO_REC_HDR];
    if (len > UINT32_MAX - PROTO_REC_MIN) {
        errno = EMSGSIZE;
        return -1;
    }
    proto_rec_hdr(h, type, tag, len);
    if (cm_send_all(fd, h, sizeof h) < 0)
        return -1;
    return len ? cm_send_all(fd, body, len) : 0;
}

int rb_svc_recv(int fd, uint8_t *buf, size_t cap, uint8_t *type, uint32_t *tag, size_t *body_len)
{
    uint8_t h[PROTO_REC_HDR];
    if (cm_read_exact(fd, h, sizeof h) < 0)
        return -1;
    uint32_t len = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    if (len < PROTO_REC_MIN || len - PROTO_REC_MIN > cap) {
        errno = EPROTO;
        return -1;
    }
    *type = h[4];
    *tag = (uint32_t)h[5] | (uint32_t)h[6] << 8 | (uint32_t)h[7] << 16 | (uint32_t)h[8] << 24;
    *body_len = len - PROTO_REC_MIN;
    return cm_read_exact(fd, buf, *body_len);
}
