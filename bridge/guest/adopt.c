/* --adopt PIDFILE: runit's service for a daemon that the initramfs init already started.
 *
 * revm-init starts revm-guestd as soon as the root is mounted, before the distribution's
 * runit stage 1, and writes its pid to PIDFILE; the bridge port admits one opener, so the
 * service runit starts later must not start a second daemon. Instead the service's process
 * stands in for the early one: it forwards the signals runsv sends (sv down, sv term, ...)
 * to it and lives exactly as long as it does, so runit sees the service up while the daemon
 * runs and stopping the service stops the daemon. When the early daemon ends by itself, the
 * stand-in becomes the daemon (what runsv would do by restarting the service); when it was
 * told to stop, it exits. No pid file, or one naming a process that is not this program:
 * there is nothing to adopt and the caller starts the daemon as usual. */
#include "adopt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guestd.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* every architecture since Linux 5.3; old libc headers lack it */
#endif

/* The pid in PIDFILE, or 0. */
static pid_t read_pidfile(const char *path)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end;
    long pid = strtol(buf, &end, 10);
    if (end == buf || (*end && *end != '\n') || pid <= 1 || pid > INT_MAX)
        return 0;
    return (pid_t)pid;
}

/* True when PID runs the same executable as this process (a pid file outlives its process,
 * and the pid may have been reused since). */
static bool same_program(pid_t pid)
{
    char path[64], mine[PATH_MAX], theirs[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    ssize_t a = readlink("/proc/self/exe", mine, sizeof mine - 1);
    ssize_t b = readlink(path, theirs, sizeof theirs - 1);
    if (a <= 0 || b <= 0)
        return false;
    mine[a] = theirs[b] = '\0';
    return strcmp(mine, theirs) == 0;
}

void guest_adopt(const char *pidfile)
{
    pid_t pid = read_pidfile(pidfile);
    if (pid <= 0)
        return;
    /* A pidfd names this very process: no pid reuse can redirect a signal or the wait. */
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd < 0 || !same_program(pid)) {
        if (pfd >= 0)
            close(pfd);
        unlink(pidfile);
        return;
    }
    /* Not "revm-guestd": ps, and anything that looks the daemon up by name, find the one
     * that serves the bridge. */
    prctl(PR_SET_NAME, "revm-adopt", 0, 0, 0);
    guest_log("adopting the daemon the init started early (pid %d)", (int)pid);

    static const int fwd[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCONT, SIGUSR1, SIGUSR2,
                              SIGALRM};
    sigset_t set, old;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof fwd / sizeof *fwd; i++)
        sigaddset(&set, fwd[i]);
    sigprocmask(SIG_BLOCK, &set, &old);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    bool stopping = false;
    for (;;) {
        struct pollfd p[2] = {{.fd = pfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        int n = poll(p, sfd >= 0 ? 2 : 1, sfd >= 0 ? -1 : 1000);
        if (n < 0 && errno != EINTR)
            break;
        if (p[0].revents) /* the early daemon has exited */
            break;
        struct signalfd_siginfo si;
        if (sfd >= 0 && (p[1].revents & POLLIN) && read(sfd, &si, sizeof si) == sizeof si) {
            kill(pid, (int)si.ssi_signo);
            /* runsv stops a service with TERM (then CONT); SIGHUP, USR1 and the like are
             * messages to the daemon, not requests to end it. */
            if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGQUIT)
                stopping = true;
        }
    }
    close(pfd);
    if (sfd >= 0)
        close(sfd);
    unlink(pidfile);
    if (stopping) {
        guest_log("the adopted daemon has stopped");
        exit(0);
    }
    guest_log("the adopted daemon has exited; starting a new one");
    prctl(PR_SET_NAME, "revm-guestd", 0, 0, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
}
