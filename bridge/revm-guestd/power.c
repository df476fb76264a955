/* ACPI power button -> clean shutdown.
 * The supervisor stops a VM the way a person would: an ACPI power-button press via QMP
 * (system_powerdown). Linux turns it into KEY_POWER on the "Power Button" input device
 * (modules button + evdev), but minimal rootfs images run no acpid/elogind to act on it, so
 * the guest daemon, which runs in every image anyway, does: on a press it runs the
 * distribution's own poweroff, which lets runit stop services and unmount cleanly. */
#include "power.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guestd.h"

/* The evdev record (linux/input.h), spelled out because the musl toolchain that builds the
 * static daemon ships no kernel headers; it is stable kernel ABI on 64-bit Linux. */
struct evdev_event {
    int64_t sec, usec;
    uint16_t type, code;
    int32_t value;
};
enum { EVDEV_EV_KEY = 1, EVDEV_KEY_POWER = 116 };

int guest_power_open(void)
{
    DIR *d = opendir("/sys/class/input");
    if (!d)
        return -1;
    struct dirent *de;
    int fd = -1;
    while (fd < 0 && (de = readdir(d))) {
        if (strncmp(de->d_name, "event", 5))
            continue;
        char path[300], name[64] = "";
        snprintf(path, sizeof path, "/sys/class/input/%s/device/name", de->d_name);
        int nfd = open(path, O_RDONLY | O_CLOEXEC);
        if (nfd < 0)
            continue;
        ssize_t n = read(nfd, name, sizeof name - 1);
        close(nfd);
        if (n <= 0 || strncmp(name, "Power Button", 12))
            continue;
        snprintf(path, sizeof path, "/dev/input/%s", de->d_name);
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0)
            guest_log("watching %s (Power Button) for ACPI shutdown requests", path);
    }
    closedir(d);
    return fd;
}

bool guest_power_pressed(int fd)
{
    struct evdev_event ev[16];
    bool pressed = false;
    for (;;) {
        ssize_t n = read(fd, ev, sizeof ev);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return pressed;
        for (size_t i = 0; i < (size_t)n / sizeof *ev; i++)
            if (ev[i].type == EVDEV_EV_KEY && ev[i].code == EVDEV_KEY_POWER && ev[i].value == 1)
                pressed = true;
    }
}

void guest_power_off(void)
{
    static const char *const cmds[] = {"/usr/bin/poweroff", "/sbin/poweroff", "/bin/poweroff"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        if (access(cmds[i], X_OK) != 0)
            continue;
        guest_log("power button pressed: running %s", cmds[i]);
        pid_t pid = fork();
        if (pid == 0) {
            /* the daemon blocks the signals its signalfd reads and ignores SIGPIPE */
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
            signal(SIGPIPE, SIG_DFL);
            setsid();
            execl(cmds[i], cmds[i], (char *)NULL);
            _exit(127);
        }
        return; /* reaped by the daemon's SIGCHLD handling like any child */
    }
    guest_log("power button pressed but no poweroff command found");
}
