/* revmd: the VM supervisor. Loads the launch profiles, starts VMs on request (or at boot),
 * watches their QEMU processes, restarts crashed ones per profile policy, and serves the
 * control socket that `revm` talks to. One process, one poll loop; each VM's bridge link runs
 * on its own thread (link.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accel.h"
#include "apps.h"
#include "control.h"
#include "qemu_args.h"
#include "rb_state.h"
#include "state.h"

static void usage(FILE *f)
{
    fputs("usage: revmd [--system] [--state-dir DIR] [--profiles DIR] [--images DIR]\n"
          "             [--qemu BINARY] [--boot] [--start VM]...\n"
          "Supervises the revm VMs: one QEMU per VM, started on request from `revm`\n"
          "(control socket STATE/control.sock), at start (--start), or all profiles with\n"
          "boot = yes (--boot). Crashed VMs are restarted per their profile's policy.\n"
          "  --system        system instance: state in /run/revm (root only)\n"
          "  --state-dir DIR state directory (default $REVM_STATE_DIR, $XDG_RUNTIME_DIR/revm)\n"
          "  --profiles DIR  launch profiles (default <prefix>/lib/revm/profiles, $REVM_PROFILES)\n"
          "  --images DIR    VM images (default <prefix>/lib/revm/images, $REVM_IMAGES)\n"
          "  --qemu BINARY   QEMU system emulator (default qemu-system-x86_64)\n"
          "  --print-qemu VM print VM's QEMU command line, one argument a line, and exit\n"
          "When $INIT_NOTIFY names a file descriptor (Redox init), one byte is written to it\n"
          "once the control socket is up and every --boot/--start VM is ready.\n", f);
}

/* <prefix>/lib/revm/<leaf>, from our own executable's location <prefix>/bin/revmd. */
static void default_data_dir(char out[PATH_MAX], const char *leaf)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(out, PATH_MAX, "/usr/lib/revm/%s", leaf);
        return;
    }
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    if (snprintf(out, PATH_MAX, "%.*s/lib/revm/%s", PATH_MAX - 64, exe, leaf) >= PATH_MAX)
        snprintf(out, PATH_MAX, "/usr/lib/revm/%s", leaf);
}

static int load_profiles(sup_ctx *c, const char *dir, const char *images, const char *state)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "revmd: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const char *f = names[i]->d_name;
        size_t len = strlen(f);
        char path[PATH_MAX], err[512];
        if (len > 4 && !strcmp(f + len - 4, ".ini") && c->n_vms < SUP_MAX_VMS &&
            snprintf(path, sizeof path, "%s/%s", dir, f) < (int)sizeof path) {
            sup_vm *vm = &c->vms[c->n_vms];
            memset(vm, 0, sizeof *vm);
            if (sup_profile_load(path, images, &vm->prof, err, sizeof err) < 0) {
                fprintf(stderr, "revmd: skipping profile: %s\n", err);
            } else {
                vm->lock_fd = -1;
                snprintf(vm->state_dir, sizeof vm->state_dir, "%s", state);
                c->n_vms++;
            }
        }
        free(names[i]);
    }
    free(names);
    return 0;
}

static int find(sup_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->n_vms; i++)
        if (!strcmp(c->vms[i].prof.name, name))
            return (int)i;
    return -1;
}

static int print_qemu(sup_ctx *c, const char *name, const char *state)
{
    int i = find(c, name);
    if (i < 0) {
        fprintf(stderr, "revmd: no such VM: %s (no launch profile)\n", name);
        return 1;
    }
    const char *why;
    char dir[PATH_MAX], err[512];
    rb_state_vm_path(dir, sizeof dir, state, name, NULL);
    sup_launch l = {.qemu = c->qemu, .state_dir = dir,
                    .accel = sup_accel_resolve(c->vms[i].prof.accel, c->qemu, &why),
                    .force_net_restrict = getenv("REVM_NET_RESTRICT") != NULL};
    sup_argv a;
    if (sup_qemu_args(&c->vms[i].prof, &l, &a, err, sizeof err) < 0) {
        fprintf(stderr, "revmd: %s\n", err);
        return 1;
    }
    for (size_t k = 0; k < a.n; k++)
        printf("%s\n", a.v[k]);
    sup_argv_free(&a);
    return 0;
}

static void reap(sup_ctx *c)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < c->n_vms; i++) {
            sup_vm *vm = &c->vms[i];
            if (vm->qemu_pid != pid)
                continue;
            if (sup_vm_exited(vm, status))
                fprintf(stderr, "revmd: VM %s: %s; %s\n", vm->prof.name, vm->last_error,
                        vm->state == SUP_WAITING ? "restarting after back-off" : "not restarting");
            else
                fprintf(stderr, "revmd: VM %s: %s\n", vm->prof.name, sup_vm_state_name(vm->state));
            sup_control_vm_changed(c, i);
        }
    }
}

static void link_events(sup_ctx *c)
{
    sup_link_event ev;
    while (read(c->link_pipe[0], &ev, sizeof ev) == (ssize_t)sizeof ev) {
        ev.agent[sizeof ev.agent - 1] = 0;
        ev.vm[sizeof ev.vm - 1] = 0;
        int i = find(c, ev.vm);
        if (i >= 0) {
            /* A stale event from an earlier start of this VM is ignored by generation. */
            sup_vm *vm = &c->vms[i];
            enum sup_vm_state before = vm->state;
            sup_vm_link_event(vm, &ev);
            if (vm->state != before) {
                fprintf(stderr, "revmd: VM %s: %s (%s, %.1f s after start)\n", vm->prof.name,
                        sup_vm_state_name(vm->state), vm->agent,
                        (double)(vm->ready_ms - vm->started_ms) / 1000.0);
                sup_control_vm_changed(c, (size_t)i);
            }
        }
    }
}

static void timers(sup_ctx *c)
{
    long long now = sup_now_ms();
    for (size_t i = 0; i < c->n_vms; i++) {
        sup_vm *vm = &c->vms[i];
        if (!vm->deadline_ms || vm->deadline_ms > now)
            continue;
        vm->deadline_ms = 0;
        if (sup_vm_timer(vm) && !c->quit) {
            char err[512];
            if (sup_control_start_vm(c, i, err, sizeof err) < 0) {
                fprintf(stderr, "revmd: VM %s: restart failed: %s\n", vm->prof.name, err);
                vm->state = SUP_FAILED;
            }
        }
        sup_control_vm_changed(c, i);
    }
}

static int next_timeout(const sup_ctx *c)
{
    long long now = sup_now_ms(), best = -1;
    for (size_t i = 0; i < c->n_vms; i++) {
        long long d = c->vms[i].deadline_ms;
        if (d && (best < 0 || d < best))
            best = d;
    }
    if (best < 0)
        return -1;
    return best <= now ? 0 : (int)(best - now > 60000 ? 60000 : best - now);
}

static bool all_stopped(const sup_ctx *c)
{
    for (size_t i = 0; i < c->n_vms; i++)
        if (c->vms[i].qemu_pid)
            return false;
    return true;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"system", no_argument, 0, 'S'},   {"state-dir", required_argument, 0, 'd'},
        {"profiles", required_argument, 0, 'p'}, {"images", required_argument, 0, 'i'},
        {"qemu", required_argument, 0, 'q'}, {"boot", no_argument, 0, 'b'},
        {"start", required_argument, 0, 's'}, {"print-qemu", required_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *print_vm = NULL;
    bool system = false, boot = false;
    const char *starts[SUP_MAX_VMS];
    size_t n_starts = 0;
    char profiles[PATH_MAX] = "", images[PATH_MAX] = "";
    static sup_ctx c;
    c.qemu = "qemu-system-x86_64";
    int o;
    opterr = 0; /* one error line of our own instead of getopt's plus the usage text */
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'S': system = true; break;
        case 'd': setenv("REVM_STATE_DIR", optarg, 1); break;
        case 'p': snprintf(profiles, sizeof profiles, "%s", optarg); break;
        case 'i': snprintf(images, sizeof images, "%s", optarg); break;
        case 'q': c.qemu = optarg; break;
        case 'b': boot = true; break;
        case 's':
            if (n_starts < SUP_MAX_VMS)
                starts[n_starts++] = optarg;
            break;
        case 'P': print_vm = optarg; break;
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, "revmd: bad option '%s' (unknown, or missing its value; see revmd --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "revmd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    const char *env;
    if (!*profiles)
        (env = getenv("REVM_PROFILES")) && *env ? (void)snprintf(profiles, sizeof profiles, "%s", env)
                                                : default_data_dir(profiles, "profiles");
    if (!*images)
        (env = getenv("REVM_IMAGES")) && *env ? (void)snprintf(images, sizeof images, "%s", env)
                                              : default_data_dir(images, "images");
    char state[PATH_MAX], err[512], path[PATH_MAX + 16];
    if (rb_state_dir(system, state, err, sizeof err) < 0) {
        fprintf(stderr, "revmd: %s\n", err);
        return 1;
    }
    if (load_profiles(&c, profiles, images, state) < 0)
        return 1;
    if (print_vm)
        return print_qemu(&c, print_vm, state);
    snprintf(path, sizeof path, "%s/control.sock", state);
    c.listen_fd = sup_control_listen(path, err, sizeof err);
    if (c.listen_fd < 0) {
        fprintf(stderr, "revmd: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < c.n_vms; i++) /* launcher entries left by a previous run */
        sup_apps_clear_stale(c.vms[i].prof.name);
    for (size_t i = 0; i < SUP_MAX_CLIENTS; i++)
        c.clients[i].fd = -1;
    if (pipe2(c.link_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        perror("revmd: pipe");
        return 1;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

    for (size_t i = 0; i < c.n_vms; i++) {
        bool want = boot && c.vms[i].prof.boot;
        for (size_t s = 0; s < n_starts; s++)
            want |= !strcmp(starts[s], c.vms[i].prof.name);
        if (want && sup_control_start_vm(&c, i, err, sizeof err) < 0)
            fprintf(stderr, "revmd: %s\n", err);
    }
    for (size_t s = 0; s < n_starts; s++)
        if (find(&c, starts[s]) < 0)
            fprintf(stderr, "revmd: no such VM: %s (no launch profile in %s)\n", starts[s], profiles);
    fprintf(stderr, "revmd: serving %s (%zu VM profiles from %s)\n", path, c.n_vms, profiles);

    bool notified = getenv("INIT_NOTIFY") == NULL;
    for (;;) {
        if (!notified) {
            bool pending = false;
            for (size_t i = 0; i < c.n_vms; i++)
                pending |= c.vms[i].state == SUP_STARTING;
            if (!pending) {
                int fd = atoi(getenv("INIT_NOTIFY"));
                (void)!write(fd, "", 1);
                close(fd);
                notified = true;
            }
        }
        if (c.quit && all_stopped(&c))
            break;
        struct pollfd p[3 + SUP_MAX_CLIENTS];
        size_t np = 0;
        p[np++] = (struct pollfd){.fd = c.listen_fd, .events = POLLIN};
        p[np++] = (struct pollfd){.fd = c.link_pipe[0], .events = POLLIN};
        p[np++] = (struct pollfd){.fd = sfd, .events = POLLIN};
        size_t map[SUP_MAX_CLIENTS];
        for (size_t i = 0; i < SUP_MAX_CLIENTS; i++) {
            if (c.clients[i].fd >= 0) {
                map[np - 3] = i;
                p[np++] = (struct pollfd){.fd = c.clients[i].fd, .events = POLLIN};
            }
        }
        int r = poll(p, np, next_timeout(&c));
        if (r < 0 && errno != EINTR) {
            perror("revmd: poll");
            break;
        }
        if (p[2].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                    c.quit = true;
                    for (size_t i = 0; i < c.n_vms; i++)
                        sup_vm_stop(&c.vms[i]);
                }
            }
            reap(&c);
        }
        if (p[1].revents)
            link_events(&c);
        if (p[0].revents)
            sup_control_accept(&c);
        for (size_t k = 3; k < np; k++)
            if (p[k].revents && c.clients[map[k - 3]].fd == p[k].fd)
                sup_control_input(&c, map[k - 3]);
        timers(&c);
    }
    unlink(path);
    fprintf(stderr, "revmd: all VMs stopped, exiting\n");
    return 0;
}
