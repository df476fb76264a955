#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rb_control.h"
#include "state.h"

int sup_control_listen(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    /* A socket file left by a dead supervisor is removed; a live one means we must not run. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        snprintf(err, errlen, "another revmd is already serving %s", path);
        close(fd);
        return -1;
    }
    close(fd);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    mode_t old = umask(077);
    int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc < 0 || listen(fd, 16) < 0) {
        snprintf(err, errlen, "%s: cannot listen: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static bool peer_allowed(int fd)
{
#ifdef SO_PEERCRED
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return false;
    return cred.uid == 0 || cred.uid == geteuid();
#else
    (void)fd;
    return true; /* the 0700 state directory is the only gate where peer credentials don't exist */
#endif
}

void sup_control_accept(sup_ctx *c)
{
    for (;;) {
        int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        if (!peer_allowed(fd)) {
            static const char msg[] = "error: permission denied\n";
            (void)!write(fd, msg, sizeof msg - 1);
            close(fd);
            continue;
        }
        size_t i = 0;
        while (i < SUP_MAX_CLIENTS && c->clients[i].fd >= 0)
            i++;
        if (i == SUP_MAX_CLIENTS) {
            static const char msg[] = "error: too many clients\n";
            (void)!write(fd, msg, sizeof msg - 1);
            close(fd);
            continue;
        }
        c->clients[i] = (sup_client){.fd = fd, .vm = -1};
    }
}

static void reply(sup_client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply(sup_client *cl, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    /* Replies are small and the client reads them; a client that doesn't is dropped. */
    if (send(cl->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
        close(cl->fd);
        cl->fd = -1;
    }
}

static int find_vm(sup_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->n_vms; i++)
        if (!strcmp(c->vms[i].prof.name, name))
            return (int)i;
    return -1;
}

int sup_control_start_vm(sup_ctx *c, size_t i, char *err, size_t errlen)
{
    sup_vm *vm = &c->vms[i];
    if (vm->lock_fd < 0) {
        vm->lock_fd = sup_vm_lock(vm->state_dir, vm->prof.name, err, errlen);
        if (vm->lock_fd < 0)
            return -1;
    }
    if (sup_vm_start(vm, c->qemu, c->link_pipe[1], err, errlen) < 0) {
        close(vm->lock_fd);
        vm->lock_fd = -1;
        return -1;
    }
    fprintf(stderr, "revmd: VM %s: starting (QEMU pid %ld, %s: %s)\n", vm->prof.name,
            (long)vm->qemu_pid, sup_accel_name(vm->accel), vm->accel_why);
    return 0;
}

static void status_line(sup_client *cl, const sup_vm *vm)
{
    long long now = sup_now_ms();
    rb_ctl_status st = {.uptime_s = vm->qemu_pid ? (now - vm->started_ms) / 1000 : 0,
                        .pid = (long)vm->qemu_pid, .memory_mib = vm->prof.memory_mib};
    snprintf(st.vm, sizeof st.vm, "%s", vm->prof.name);
    snprintf(st.state, sizeof st.state, "%s", sup_vm_state_name(vm->state));
    snprintf(st.accel, sizeof st.accel, "%s", vm->qemu_pid ? sup_accel_name(vm->accel) : "");
    snprintf(st.bridge, sizeof st.bridge, "%s", vm->agent);
    snprintf(st.error, sizeof st.error, "%s", vm->last_error);
    char line[RB_CTL_LINE_MAX];
    if (rb_ctl_format_status(&st, line, sizeof line))
        reply(cl, "%s", line);
}

static void handle(sup_ctx *c, sup_client *cl, char *line)
{
    char *cmd = strtok(line, " \t");
    char *arg = strtok(NULL, " \t");
    if (!cmd) {
        reply(cl, "error: empty request");
        return;
    }
    if (!strcmp(cmd, "ping")) {
        reply(cl, "ok revmd %ld", (long)getpid());
        return;
    }
    if (!strcmp(cmd, "list")) {
        for (size_t i = 0; i < c->n_vms; i++)
            reply(cl, "%s %s %s", c->vms[i].prof.name, sup_vm_state_name(c->vms[i].state),
                  c->vms[i].prof.description);
        reply(cl, "ok");
        return;
    }
    if (!strcmp(cmd, "shutdown")) {
        c->quit = true;
        for (size_t i = 0; i < c->n_vms; i++)
            sup_vm_stop(&c->vms[i]);
        reply(cl, "ok shutting down");
        return;
    }
    if (!strcmp(cmd, "status") && !arg) {
        for (size_t i = 0; i < c->n_vms; i++)
            status_line(cl, &c->vms[i]);
        reply(cl, "ok");
        return;
    }
    bool known = !strcmp(cmd, "status") || !strcmp(cmd, "start") || !strcmp(cmd, "stop") ||
                 !strcmp(cmd, "restart");
    if (!known) {
        reply(cl, "error: unknown request '%.40s'", cmd);
        return;
    }
    if (!arg) {
        reply(cl, "error: %s needs a VM name", cmd);
        return;
    }
    int i = find_vm(c, arg);
    if (i < 0) {
        reply(cl, "error: no such VM: %.40s (no launch profile)", arg);
        return;
    }
    sup_vm *vm = &c->vms[i];
    if (!strcmp(cmd, "status")) {
        status_line(cl, vm);
        reply(cl, "ok");
        return;
    }
    if (c->quit) {
        reply(cl, "error: revmd is shutting down");
        return;
    }
    char err[512];
    if (!strcmp(cmd, "start")) {
        if (vm->state == SUP_READY) {
            reply(cl, "ok VM %s is already running", vm->prof.name);
            return;
        }
        if (vm->state == SUP_STOPPING) {
            /* Its QEMU is still shutting down; a second one would race it for the image. */
            reply(cl, "error: VM %s is stopping; start it again once it has stopped", vm->prof.name);
            return;
        }
        /* Two clients starting the same VM at once both wait for the one start. */
        if (vm->state != SUP_STARTING && sup_control_start_vm(c, (size_t)i, err, sizeof err) < 0) {
            reply(cl, "error: %s", err);
            return;
        }
        reply(cl, "info: " RB_CTL_INFO_STARTING " VM %s", vm->prof.name);
        cl->vm = i;
        cl->wait = SUP_WAIT_READY;
        return;
    }
    if (!strcmp(cmd, "stop") || !strcmp(cmd, "restart")) {
        bool restart = !strcmp(cmd, "restart");
        if (vm->state == SUP_STOPPED || vm->state == SUP_FAILED || vm->state == SUP_WAITING) {
            vm->state = SUP_STOPPED;
            if (!restart) {
                reply(cl, "ok VM %s is not running", vm->prof.name);
                return;
            }
            if (sup_control_start_vm(c, (size_t)i, err, sizeof err) < 0) {
                reply(cl, "error: %s", err);
                return;
            }
            cl->vm = i;
            cl->wait = SUP_WAIT_READY;
            return;
        }
        sup_vm_stop(vm);
        cl->vm = i;
        cl->wait = restart ? SUP_WAIT_RESTART : SUP_WAIT_STOPPED;
        sup_control_vm_changed(c, (size_t)i);
    }
}

void sup_control_input(sup_ctx *c, size_t i)
{
    sup_client *cl = &c->clients[i];
    for (;;) {
        ssize_t n = read(cl->fd, cl->buf + cl->have, sizeof cl->buf - 1 - cl->have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            close(cl->fd);
            cl->fd = -1;
            return;
        }
        cl->have += (size_t)n;
        char *nl;
        while (cl->fd >= 0 && (nl = memchr(cl->buf, '\n', cl->have))) {
            *nl = 0;
            size_t used = (size_t)(nl - cl->buf) + 1;
            char line[SUP_LINE_MAX];
            memcpy(line, cl->buf, used);
            memmove(cl->buf, cl->buf + used, cl->have - used);
            cl->have -= used;
            if (cl->wait != SUP_WAIT_NONE) {
                reply(cl, "error: one request at a time");
                continue;
            }
            handle(c, cl, line);
        }
        if (cl->fd >= 0 && cl->have == sizeof cl->buf - 1) {
            reply(cl, "error: request too long");
            if (cl->fd >= 0) {
                close(cl->fd);
                cl->fd = -1;
            }
            return;
        }
    }
}

void sup_control_vm_changed(sup_ctx *c, size_t v)
{
    sup_vm *vm = &c->vms[v];
    bool down = vm->state == SUP_STOPPED || vm->state == SUP_FAILED;
    if (down && vm->lock_fd >= 0 && vm->qemu_pid == 0) {
        close(vm->lock_fd);
        vm->lock_fd = -1;
    }
    for (size_t i = 0; i < SUP_MAX_CLIENTS; i++) {
        sup_client *cl = &c->clients[i];
        if (cl->fd < 0 || cl->vm != (int)v)
            continue;
        /* Per client: answering one (a restart) can start the VM again. */
        down = vm->state == SUP_STOPPED || vm->state == SUP_FAILED;
        enum sup_wait w = cl->wait;
        /* Another restart request already started the VM again: wait for that start. */
        if (w == SUP_WAIT_RESTART && (vm->state == SUP_STARTING || vm->state == SUP_READY))
            w = cl->wait = SUP_WAIT_READY;
        if (w == SUP_WAIT_READY && vm->state == SUP_READY) {
            reply(cl, "ok VM %s is ready (%s)", vm->prof.name, vm->agent);
        } else if (w == SUP_WAIT_READY && (down || vm->state == SUP_WAITING)) {
            reply(cl, "error: VM %s failed to start: %s", vm->prof.name,
                  vm->last_error[0] ? vm->last_error : "unknown reason");
        } else if (w == SUP_WAIT_STOPPED && down) {
            reply(cl, "ok VM %s stopped", vm->prof.name);
        } else if (w == SUP_WAIT_RESTART && down) {
            char err[512];
            if (sup_control_start_vm(c, v, err, sizeof err) < 0) {
                reply(cl, "error: %s", err);
            } else {
                cl->wait = SUP_WAIT_READY;
                continue;
            }
        } else {
            continue;
        }
        if (cl->fd >= 0) {
            cl->wait = SUP_WAIT_NONE;
            cl->vm = -1;
        }
    }
}
