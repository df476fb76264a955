#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "accel.h"
#include "qemu_args.h"
#include "qmp.h"
#include "rb_state.h"
#include "state.h"

long long sup_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *sup_vm_state_name(enum sup_vm_state s)
{
    static const char *names[] = {"stopped", "starting", "ready", "stopping", "restarting", "failed"};
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "unknown";
}

/* Stale sockets from a previous QEMU would make it fail to bind; they are ours to remove. */
static void remove_sockets(const sup_vm *vm)
{
    static const char *leaves[] = {"qmp.sock", "bridge.sock", "console.sock", "client.sock"};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof leaves / sizeof *leaves; i++)
        if (rb_state_vm_path(path, sizeof path, vm->state_dir, vm->prof.name, leaves[i]))
            unlink(path);
}

static int open_log(const sup_vm *vm)
{
    char path[PATH_MAX];
    if (!rb_state_vm_path(path, sizeof path, vm->state_dir, vm->prof.name, "qemu.log"))
        return -1;
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

int sup_vm_start(sup_vm *vm, const char *qemu, int link_event_fd, char *err, size_t errlen)
{
    for (unsigned i = 0; i < 3; i++) {
        const char *f = i == 0 ? vm->prof.kernel : i == 1 ? vm->prof.initramfs : vm->prof.disk;
        if (access(f, R_OK) < 0) {
            snprintf(err, errlen, "VM %s: %s: %s", vm->prof.name, f, strerror(errno));
            return -1;
        }
    }
    vm->accel = sup_accel_resolve(vm->prof.accel, qemu, &vm->accel_why);
    char vmdir[PATH_MAX];
    if (!rb_state_vm_path(vmdir, sizeof vmdir, vm->state_dir, vm->prof.name, NULL)) {
        snprintf(err, errlen, "VM %s: state path too long", vm->prof.name);
        return -1;
    }
    sup_launch l = {.qemu = qemu, .state_dir = vmdir, .accel = vm->accel,
                    .force_net_restrict = getenv("REVM_NET_RESTRICT") != NULL};
    sup_argv args;
    if (sup_qemu_args(&vm->prof, &l, &args, err, errlen) < 0)
        return -1;
    remove_sockets(vm);
    int log = open_log(vm);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "VM %s: fork: %s", vm->prof.name, strerror(errno));
        sup_argv_free(&args);
        if (log >= 0)
            close(log);
        return -1;
    }
    if (pid == 0) {
        /* QEMU must not outlive its supervisor: an orphaned VM would hold the image lock. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        setpgid(0, 0); /* keep terminal Ctrl-C on the supervisor away from QEMU */
        /* revmd blocks SIGTERM/SIGINT/SIGCHLD for its signalfd; exec keeps the mask, and a
         * QEMU with SIGTERM blocked would ignore the parent-death signal above. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(args.v[0], args.v);
        dprintf(2, "cannot run %s: %s\n", args.v[0], strerror(errno));
        _exit(127);
    }
    sup_argv_free(&args);
    if (log >= 0)
        close(log);
    vm->qemu_pid = pid;
    vm->generation++;
    vm->state = SUP_STARTING;
    vm->started_ms = sup_now_ms();
    vm->ready_ms = 0;
    vm->deadline_ms = vm->started_ms + (long long)vm->prof.ready_timeout_s * 1000;
    vm->agent[0] = 0;
    vm->last_error[0] = 0;
    vm->start_timed_out = false;
    char bridge[PATH_MAX], client[PATH_MAX];
    rb_state_vm_path(bridge, sizeof bridge, vm->state_dir, vm->prof.name, "bridge.sock");
    rb_state_vm_path(client, sizeof client, vm->state_dir, vm->prof.name, "client.sock");
    vm->link = sup_link_start(vm->prof.name, bridge, client, link_event_fd, vm->generation);
    return 0;
}

static void end_link(sup_vm *vm)
{
    if (vm->link) {
        sup_link_stop(vm->link);
        vm->link = NULL;
    }
}

void sup_vm_stop(sup_vm *vm)
{
    if (vm->state == SUP_WAITING || vm->state == SUP_FAILED) {
        vm->state = SUP_STOPPED;
        return;
    }
    if (vm->state != SUP_STARTING && vm->state != SUP_READY)
        return;
    vm->state = SUP_STOPPING;
    vm->deadline_ms = sup_now_ms() + (long long)vm->prof.stop_timeout_s * 1000;
    char qmp[PATH_MAX], err[256];
    if (!rb_state_vm_path(qmp, sizeof qmp, vm->state_dir, vm->prof.name, "qmp.sock"))
        return;
    int fd = sup_qmp_open(qmp, 2000, err, sizeof err);
    if (fd < 0) {
        sup_vm_kill(vm); /* no QMP: nothing clean is possible */
        return;
    }
    /* Before the guest has booted far enough to handle ACPI, power-down would be ignored. */
    if (vm->ready_ms == 0 || sup_qmp_execute(fd, "system_powerdown", NULL, 0, 2000) < 0)
        sup_qmp_execute(fd, "quit", NULL, 0, 2000);
    close(fd);
}

void sup_vm_kill(sup_vm *vm)
{
    if (vm->qemu_pid > 0)
        kill(vm->qemu_pid, SIGKILL);
}

bool sup_vm_exited(sup_vm *vm, int status)
{
    end_link(vm);
    vm->qemu_pid = 0;
    bool expected = vm->state == SUP_STOPPING;
    if (expected) {
        vm->state = vm->start_timed_out ? SUP_FAILED : SUP_STOPPED;
        vm->restarts = 0;
        return false;
    }
    if (WIFSIGNALED(status))
        snprintf(vm->last_error, sizeof vm->last_error, "QEMU killed by signal %d",
                 WTERMSIG(status));
    else
        snprintf(vm->last_error, sizeof vm->last_error, "QEMU exited with status %d%s",
                 WEXITSTATUS(status), vm->state == SUP_STARTING ? " before the bridge came up" : "");
    bool restart = vm->prof.restart == SUP_RESTART_ALWAYS ||
                   (vm->prof.restart == SUP_RESTART_ON_FAILURE &&
                    !(WIFEXITED(status) && WEXITSTATUS(status) == 0));
    if (restart) {
        /* 1 s, 2 s, 4 s, ... up to the profile's maximum, reset by a clean stop. */
        unsigned shift = vm->restarts < 16 ? vm->restarts : 16;
        long long backoff = 1000LL << shift;
        long long max = (long long)vm->prof.restart_max_backoff_s * 1000;
        vm->restarts++;
        vm->state = SUP_WAITING;
        vm->deadline_ms = sup_now_ms() + (backoff < max ? backoff : max);
    } else {
        vm->state = SUP_FAILED;
    }
    return true;
}

void sup_vm_link_event(sup_vm *vm, const sup_link_event *ev)
{
    if (ev->generation != vm->generation)
        return;
    if (ev->kind == SUP_LINK_READY && vm->state == SUP_STARTING) {
        vm->state = SUP_READY;
        vm->ready_ms = sup_now_ms();
        vm->restarts = 0;
        snprintf(vm->agent, sizeof vm->agent, "%s", ev->agent);
    } else if (ev->kind == SUP_LINK_DOWN && vm->state == SUP_READY) {
        /* QEMU still runs but the bridge went away (guest daemon died or hung): wait for it
         * to come back like at boot; the ready timeout then kills a VM that stays silent. */
        snprintf(vm->last_error, sizeof vm->last_error, "bridge connection lost: %s", ev->agent);
        vm->state = SUP_STARTING;
        vm->deadline_ms = sup_now_ms() + (long long)vm->prof.ready_timeout_s * 1000;
    }
}

bool sup_vm_timer(sup_vm *vm)
{
    switch (vm->state) {
    case SUP_STARTING:
        snprintf(vm->last_error, sizeof vm->last_error,
                 "the bridge did not come up within %u s (see console.log)", vm->prof.ready_timeout_s);
        vm->state = SUP_STOPPING; /* its exit then lands as a stop that ends failed */
        vm->start_timed_out = true;
        vm->deadline_ms = sup_now_ms() + 5000;
        sup_vm_kill(vm);
        return false;
    case SUP_STOPPING:
        sup_vm_kill(vm);
        vm->deadline_ms = sup_now_ms() + 5000;
        return false;
    case SUP_WAITING:
        return true;
    default:
        vm->deadline_ms = 0;
        return false;
    }
}
