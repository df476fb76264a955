/* --adopt: runit's service for a daemon that the initramfs init already started.
 *
 * revm-init starts revm-guestd as soon as the root is mounted, before the distribution's
 * runit stage 1; the bridge port admits one opener, so the service runit starts later must
 * not start a second daemon. Instead the service's process stands in for the early one: it
 * forwards the signals runsv sends (sv down, sv term, ...) to it and lives exactly as long as
 * it does, so runit sees the service up while the daemon runs and stopping the service stops
 * the daemon. When the early daemon ends by itself, the stand-in becomes the daemon (what
 * runsv would do by restarting the service); when it was told to stop, it exits.
 *
 * The early daemon is found in /proc, not through a pid file: a stage 1 may mount a fresh
 * /run over the one the init prepared (the fixtures' does, lacking awk for its mount check).
 * It is the process that runs this same executable with no arguments (the service helpers
 * have some) and whose parent is PID 1 (the init forked it; runsv's children have runsv). */
#include "adopt.h"

#include <dirent.h>
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

/* Both on every architecture since Linux 5.1/5.3; old libc headers lack them. */
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* The parent pid in /proc/PID/stat (after the command name, which may hold spaces), or -1. */
static long parent_of(const char *pid)
{
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
        return -1;
    return strtol(p + 4, NULL, 10); /* ") S PPID ..." */
}

/* True when /proc/PID/cmdline is one word: the daemon as the init starts it. */
static bool no_arguments(const char *pid)
{
    char path[300], buf[PATH_MAX + 2];
    snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n > 0 && memchr(buf, '\0', (size_t)n) == buf + n - 1;
}

/* True when PID runs the same executable as this process. */
static bool same_program(long pid)
{
    char path[64], mine[PATH_MAX], theirs[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%ld/exe", pid);
    ssize_t a = readlink("/proc/self/exe", mine, sizeof mine - 1);
    ssize_t b = readlink(path, theirs, sizeof theirs - 1);
    if (a <= 0 || b <= 0)
        return false;
    mine[a] = theirs[b] = '\0';
    return strcmp(mine, theirs) == 0;
}

/* The early daemon's pid, or 0. */
static pid_t find_early(void)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    pid_t self = getpid(), found = 0;
    struct dirent *de;
    while (!found && (de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 1 || pid == self || pid > INT_MAX)
            continue;
        if (parent_of(de->d_name) == 1 && no_arguments(de->d_name) && same_program(pid))
            found = (pid_t)pid;
    }
    closedir(d);
    return found;
}

void guest_adopt(void)
{
    pid_t pid = find_early();
    if (pid <= 0)
        return;
    /* A pidfd names this very process: no pid reuse can redirect a signal or the wait. */
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd < 0 || !same_program(pid)) {
        if (pfd >= 0)
            close(pfd);
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
    if (sfd < 0) {
        /* Signals could not be forwarded, so runit could not stop the early daemon through
         * us: run as a daemon of our own instead, which waits for the port until the early
         * one lets it go. */
        guest_log("cannot adopt pid %d: signalfd: %s", (int)pid, strerror(errno));
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(pfd);
        return;
    }
    bool stopping = false;
    for (;;) {
        struct pollfd p[2] = {{.fd = pfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        int n = poll(p, 2, -1);
        if (n < 0 && errno != EINTR)
            break;
        if (p[0].revents) /* the early daemon has exited */
            break;
        struct signalfd_siginfo si;
        if ((p[1].revents & POLLIN) && read(sfd, &si, sizeof si) == sizeof si) {
            syscall(SYS_pidfd_send_signal, pfd, (int)si.ssi_signo, NULL, 0);
            /* runsv stops a service with TERM (then CONT); SIGHUP, USR1 and the like are
             * messages to the daemon, not requests to end it. */
            if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGQUIT)
                stopping = true;
        }
    }
    close(pfd);
    close(sfd);
    if (stopping) {
        guest_log("the adopted daemon has stopped");
        exit(0);
    }
    guest_log("the adopted daemon has exited; starting a new one");
    prctl(PR_SET_NAME, "revm-guestd", 0, 0, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
}
