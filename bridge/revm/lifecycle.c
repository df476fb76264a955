/* `revm start|stop|restart|status|list|console|logs [VM]`, and the "make sure the VM runs"
 * step before `revm PROGRAM`: both talk to revmd over STATE/control.sock (see
 * revmd/control.h), starting a revmd in the background when none runs. root uses the
 * system instance (/run/revm, the one Redox's boot units start); other users their own. */
#include "lifecycle.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "rb_control.h"
#include "rb_state.h"

static int control_connect(const char *state)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (snprintf(sa.sun_path, sizeof sa.sun_path, "%s/control.sock", state) >= (int)sizeof sa.sun_path)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* revmd lives beside revm (<prefix>/bin); REVM_REVMD overrides for tests. */
static void revmd_path(char out[PATH_MAX])
{
    const char *env = getenv("REVM_REVMD");
    if (env && *env) {
        snprintf(out, PATH_MAX, "%s", env);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", out, PATH_MAX - 8);
    char *slash = n > 0 ? memrchr(out, '/', (size_t)n) : NULL;
    if (!slash) {
        snprintf(out, PATH_MAX, "revmd");
        return;
    }
    memcpy(slash + 1, "revmd", 6);
}

/* Starts a detached revmd logging to STATE/revmd.log and waits for its control socket. */
static int spawn_revmd(const char *state)
{
    char bin[PATH_MAX], log[PATH_MAX + 16];
    revmd_path(bin);
    snprintf(log, sizeof log, "%s/revmd.log", state);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setsid();
        if (fork() != 0) /* double fork: revmd is nobody's child and never a zombie of ours */
            _exit(0);
        sigset_t none; /* revm may have signals blocked for its signalfd; revmd starts clean */
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int in = open("/dev/null", O_RDONLY);
        int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        dup2(in, 0);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        /* root shares the system instance (/run/revm) with the boot units */
        if (geteuid() == 0)
            execl(bin, "revmd", "--system", (char *)NULL);
        else
            execl(bin, "revmd", (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    for (int i = 0; i < 100; i++) {
        int fd = control_connect(state);
        if (fd >= 0)
            return fd;
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    return -1;
}

int cli_control_open(bool spawn, char *err, size_t errlen)
{
    char state[PATH_MAX];
    if (rb_state_dir(geteuid() == 0, state, err, errlen) < 0)
        return -1;
    int fd = control_connect(state);
    if (fd < 0 && spawn)
        fd = spawn_revmd(state);
    if (fd < 0)
        snprintf(err, errlen, spawn ? "cannot start the VM supervisor (see %s/revmd.log)"
                                    : "the VM supervisor is not running", state);
    return fd;
}

/* Data lines go to the FILE in ctx (if any); info lines are progress for the user. */
static void show_line(void *ctx, enum rb_ctl_kind kind, const char *text)
{
    if (kind == RB_CTL_INFO)
        return;
    if (ctx)
        fprintf(ctx, "%s\n", text);
}

/* A start that really boots the VM says so first, so the user knows why it takes a while. */
static void start_progress(void *ctx, enum rb_ctl_kind kind, const char *text)
{
    const char *vm = ctx;
    size_t w = strlen(RB_CTL_INFO_STARTING);
    if (kind == RB_CTL_INFO && !strncmp(text, RB_CTL_INFO_STARTING, w) && (!text[w] || text[w] == ' '))
        fprintf(stderr, "revm: starting VM %s...\n", vm);
}

int cli_vm_ready(const char *vm, char client_sock[PATH_MAX], char *err, size_t errlen)
{
    int fd = cli_control_open(true, err, errlen);
    if (fd < 0)
        return -1;
    /* One request: a start of a ready VM answers at once. */
    char req[128], final[1024];
    snprintf(req, sizeof req, "start %s", vm);
    int rc = rb_ctl_request(fd, req, start_progress, (void *)vm, final, sizeof final);
    close(fd);
    if (rc < 0) {
        snprintf(err, errlen, "%s", final);
        return -1;
    }
    char state[PATH_MAX];
    if (rb_state_dir(geteuid() == 0, state, err, errlen) < 0)
        return -1;
    if (!rb_state_vm_path(client_sock, PATH_MAX, state, vm, "client.sock")) {
        snprintf(err, errlen, "VM %s: state path too long", vm);
        return -1;
    }
    return 0;
}

static int print_file(const char *vm, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f && errno == ENOENT) {
        fprintf(stderr, "revm: VM %s has no console log: it was never started here\n", vm);
        return 1;
    }
    if (!f) {
        fprintf(stderr, "revm: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(f);
    return 0;
}

/* `revm console VM`: the serial console, raw; Ctrl-] detaches. */
static int console(const char *vm)
{
    char state[PATH_MAX], err[512];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (rb_state_dir(geteuid() == 0, state, err, sizeof err) < 0 ||
        !rb_state_vm_path(sa.sun_path, sizeof sa.sun_path, state, vm, "console.sock")) {
        fprintf(stderr, "revm: %s\n", err);
        return 1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(stderr, "revm: VM %s is not running\n", vm);
        return 1;
    }
    struct termios saved, raw;
    bool tty = tcgetattr(0, &saved) == 0;
    if (tty) {
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(0, TCSANOW, &raw);
        fprintf(stderr, "revm: console of VM %s; Ctrl-] detaches\r\n", vm);
    }
    char buf[4096];
    for (;;) {
        struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[0].revents) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n <= 0 || (tty && memchr(buf, 0x1d, (size_t)n)))
                break;
            if (write(fd, buf, (size_t)n) != n)
                break;
        }
        if (p[1].revents) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n <= 0 || write(1, buf, (size_t)n) != n)
                break;
        }
    }
    if (tty)
        tcsetattr(0, TCSANOW, &saved);
    close(fd);
    return 0;
}

int cli_lifecycle_main(int argc, char **argv)
{
    const char *cmd = argv[0];
    const char *vm = argc > 1 ? argv[1] : NULL;
    bool needs_vm = strcmp(cmd, "status") && strcmp(cmd, "list");
    if (argc > 2 || (needs_vm && !vm && strcmp(cmd, "start") && strcmp(cmd, "stop") &&
                     strcmp(cmd, "restart"))) {
        fprintf(stderr, "revm: usage: revm %s%s\n", cmd, needs_vm ? " VM" : " [VM]");
        return 2;
    }
    if (needs_vm && !vm)
        vm = "app"; /* start/stop/restart default to the app VM, like `revm PROGRAM` */
    char state[PATH_MAX], err[512], path[PATH_MAX];
    if (!strcmp(cmd, "logs") || !strcmp(cmd, "console")) {
        if (rb_state_dir(geteuid() == 0, state, err, sizeof err) < 0) {
            fprintf(stderr, "revm: %s\n", err);
            return 1;
        }
        if (!strcmp(cmd, "console"))
            return console(vm);
        if (!rb_state_vm_path(path, sizeof path, state, vm, "console.log"))
            return 1;
        return print_file(vm, path);
    }
    /* stop/status/list never start a supervisor just to say nothing runs. */
    bool spawn = !strcmp(cmd, "start") || !strcmp(cmd, "restart");
    int fd = cli_control_open(spawn, err, sizeof err);
    if (fd < 0) {
        if (!spawn) {
            if (!strcmp(cmd, "stop")) {
                printf("VM %s is not running\n", vm);
                return 0;
            }
            fprintf(stderr, "revm: %s; no VM is running\n", err);
            return strcmp(cmd, "list") ? 3 : 0;
        }
        fprintf(stderr, "revm: %s\n", err);
        return 1;
    }
    char req[128], final[1024];
    snprintf(req, sizeof req, "%s%s%s", cmd, vm ? " " : "", vm ? vm : "");
    if (!strcmp(cmd, "start") || !strcmp(cmd, "restart"))
        fprintf(stderr, "revm: %s VM %s...\n", !strcmp(cmd, "start") ? "starting" : "restarting", vm);
    int rc = rb_ctl_request(fd, req, show_line, stdout, final, sizeof final);
    close(fd);
    if (rc < 0) {
        fprintf(stderr, "revm: %s\n", final);
        return 1;
    }
    if (*final)
        printf("%s\n", final);
    return 0;
}
