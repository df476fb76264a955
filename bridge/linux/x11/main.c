/* revm-windows: shows an app VM's windows on the host's X display (x11win.h).
 *
 *   revm-windows [--vm NAME] [--bridge-fd N | --local AGENT] [--display :N] [--revm PATH]
 *                [-- PROGRAM [ARGS...]]
 *
 * --bridge-fd N: an already-connected bridge stream (what `revm gui` hands over); --local
 * AGENT runs the guest agent on this machine instead of in a VM (tests, development). With a
 * PROGRAM, it is started once the guest display is up (in the VM through `revm -e DISPLAY=...`,
 * or locally with DISPLAY set when --local), and revm-windows exits with its status when it
 * ends. Without one it shows windows until interrupted or the VM goes away. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rb_svc.h"
#include "x11win.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: revm-windows [--vm NAME] [--bridge-fd N | --local AGENT] [--display :N] "
                    "[--revm PATH] [-- PROGRAM [ARGS...]]\n");
    return 2;
}

/* The program, once the guest display is known. */
static pid_t start_program(char **prog, int nprog, const char *revm, const char *vm,
                           const char *display, bool local)
{
    char **argv = calloc((size_t)nprog + 8, sizeof *argv);
    if (!argv)
        return -1;
    char envdisp[128];
    snprintf(envdisp, sizeof envdisp, "DISPLAY=%s", display);
    int k = 0;
    if (!local) {
        argv[k++] = (char *)revm;
        argv[k++] = "--vm";
        argv[k++] = (char *)vm;
        argv[k++] = "-T";
        argv[k++] = "-e";
        argv[k++] = envdisp;
        argv[k++] = "--";
    }
    for (int i = 0; i < nprog; i++)
        argv[k++] = prog[i];
    argv[k] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        if (local)
            setenv("DISPLAY", display, 1);
        execvp(argv[0], argv);
        fprintf(stderr, "revm-windows: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(argv);
    return pid;
}

int main(int argc, char **argv)
{
    const char *vm = "app", *local = NULL, *display = ":0", *revm = NULL;
    int bridge_fd = -1, i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--") ) {
            i++;
            break;
        } else if (!strcmp(argv[i], "--vm") && i + 1 < argc) {
            vm = argv[++i];
        } else if (!strcmp(argv[i], "--bridge-fd") && i + 1 < argc) {
            bridge_fd = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--local") && i + 1 < argc) {
            local = argv[++i];
        } else if (!strcmp(argv[i], "--display") && i + 1 < argc) {
            display = argv[++i];
        } else if (!strcmp(argv[i], "--revm") && i + 1 < argc) {
            revm = argv[++i];
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage();
            return 0;
        } else {
            return usage();
        }
    }
    char **prog = argv + i;
    int nprog = argc - i;
    if ((bridge_fd < 0) == !local) {
        fprintf(stderr, "revm-windows: give exactly one of --bridge-fd (see `revm gui`) or --local AGENT\n");
        return 2;
    }
    if (nprog && !local && !revm) {
        fprintf(stderr, "revm-windows: --revm PATH is needed to start a program in the VM\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    char err[256] = "";
    rb_svc *svc;
    if (local) {
        char *av[] = {(char *)local, (char *)display, NULL};
        svc = rb_svc_spawn_local(av, NULL, err, sizeof err);
    } else {
        svc = rb_svc_open(bridge_fd, PROTO_SVC_WINDOW, 0, display, 2, err, sizeof err);
    }
    if (!svc) {
        fprintf(stderr, "revm-windows: cannot open the window service of VM %s: %s\n", vm, err);
        return 1;
    }
    int fd = rb_svc_fd(svc);
    static x11w x;
    if (!x11w_init(&x, fd, vm)) {
        rb_svc_close(svc);
        return 1;
    }
    uint8_t *recbuf = malloc(4 + (size_t)PROTO_WIN_MAX_RECORD);
    if (!recbuf) {
        fprintf(stderr, "revm-windows: out of memory for the record buffer\n");
        x11w_free(&x);
        rb_svc_close(svc);
        return 1;
    }
    static uint8_t in[1 << 16];
    proto_rec_stream rs;
    proto_rec_stream_init(&rs, recbuf, PROTO_WIN_MAX_RECORD);
    pid_t child = -1;
    int status = 0, rc = 0;
    bool done = false;
    while (!stop && !done) {
        if (child < 0 && nprog && x.ready) {
            child = start_program(prog, nprog, revm, vm, x.display, local != NULL);
            if (child < 0) {
                fprintf(stderr, "revm-windows: cannot start %s: %s\n", prog[0], strerror(errno));
                rc = 1;
                break;
            }
        }
        if (child > 0 && waitpid(child, &status, WNOHANG) == child) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
                              {.fd = xcb_get_file_descriptor(x.c), .events = POLLIN}};
        /* Short timeout only while a child runs: its end is noticed by polling. */
        if (poll(p, 2, child > 0 ? 100 : 1000) < 0 && errno != EINTR)
            break;
        if (p[0].revents) {
            ssize_t n = read(fd, in, sizeof in);
            if (n <= 0) {
                fprintf(stderr, "revm-windows: the window service ended%s%s\n",
                        *rb_svc_why(svc) ? ": " : "", rb_svc_why(svc));
                rc = 1;
                done = true;
            }
            size_t off = 0;
            while (n > 0 && off < (size_t)n) {
                size_t used;
                proto_rec rec;
                int st = proto_rec_stream_feed(&rs, in + off, (size_t)n - off, &used, &rec);
                off += used;
                if (st == PROTO_BAD_FRAME) {
                    fprintf(stderr, "revm-windows: window record length out of bounds from the guest: closing\n");
                    rc = 1;
                    done = true;
                    break;
                }
                if (st == PROTO_FRAME)
                    win_handle(&x.table, &rec);
            }
            xcb_flush(x.c);
        }
        if (!x11w_events(&x)) {
            fprintf(stderr, "revm-windows: lost the host display\n");
            rc = 1;
            break;
        }
    }
    if (child > 0 && (stop || done)) {
        kill(child, SIGTERM);
        waitpid(child, &status, 0);
    }
    uint64_t drops = win_drops(&x.table);
    if (drops)
        fprintf(stderr, "revm-windows: %llu guest window records dropped\n", (unsigned long long)drops);
    x11w_free(&x);
    rb_svc_close(svc);
    free(recbuf);
    return rc;
}
