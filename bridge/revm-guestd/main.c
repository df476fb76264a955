/* revm-guestd: the bridge daemon inside each Linux VM. Started by the initramfs init before
 * runit's stage 1 and adopted by runit's service (/etc/sv/revm-bridge/run, --adopt), or
 * started by that service; stays in the foreground, logs to stderr. See README.md here. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "adopt.h"
#include "desktop.h"
#include "svc.h"
#include "guestd.h"
#include "loop.h"
#include "port.h"

#define GUESTD_VERSION "0.1"

static void usage(FILE *f)
{
    fputs("usage: revm-guestd [--device PATH | --listen unix:PATH|vsock:PORT | --fd N]\n"
          "                   [--port-name NAME] [--no-power-button] [--quiet]\n"
          "                   [--adopt]\n"
          "Runs programs for the host over the revm bridge protocol.\n"
          "  (default)           find the virtio-serial port named " GUEST_PORT_NAME "\n"
          "                      through /sys/class/virtio-ports/*/name\n"
          "  --device PATH       use this port device\n"
          "  --listen unix:PATH  accept one host at a time on a unix socket (tests)\n"
          "  --listen vsock:PORT the same on a vsock port (hosts with vhost-vsock)\n"
          "  --fd N              use an inherited connected socket; exit when it closes\n"
          "  --port-name NAME    port name to look for instead of " GUEST_PORT_NAME "\n"
          "  --no-power-button   do not power the VM off on an ACPI power-button press\n"
          "                      (watched only in the default port mode)\n"
          "  --quiet             log nothing\n"
          "  --adopt             if the init started a revm-guestd before runit, stand\n"
          "                      in for it until it exits (runit's service)\n"
          "Environment: " GUEST_READY_FD_ENV "=N: close inherited file descriptor N once a\n"
          "host has completed the handshake (the initramfs init waits on it).\n",
          f);
}

/* "revm-guestd 0.1 (Linux 6.1.0, Debian GNU/Linux 12 (bookworm))", shown by `revm status` */
static void make_agent(char *out, size_t cap)
{
    struct utsname u;
    char pretty[128] = "unknown distribution";
    FILE *f = fopen("/etc/os-release", "re");
    if (!f)
        f = fopen("/usr/lib/os-release", "re");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "PRETTY_NAME=", 12)) {
                char *v = line + 12;
                v[strcspn(v, "\n")] = 0;
                size_t n = strlen(v);
                if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
                    v[n - 1] = 0;
                    v++;
                }
                snprintf(pretty, sizeof pretty, "%.120s", v);
            }
        fclose(f);
    }
    if (uname(&u) < 0)
        strcpy(u.release, "?");
    snprintf(out, cap, "revm-guestd " GUESTD_VERSION " (Linux %.64s, %.120s)", u.release, pretty);
}

/* The number in V when it names an open file descriptor; -1 with the error said otherwise. */
static int open_fd_arg(const char *opt, const char *v)
{
    char *end;
    long fd = strtol(v, &end, 10);
    if (*end || end == v || fd < 0 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0) {
        fprintf(stderr, "revm-guestd: %s %s: not an open file descriptor\n", opt, v);
        return -1;
    }
    return (int)fd;
}

int main(int argc, char **argv)
{
    guest_opts o = {.mode = GUEST_MODE_AUTO, .port_name = GUEST_PORT_NAME,
                    .sysdir = "/sys/class/virtio-ports", .devdir = "/dev", .fd = -1,
                    .ready_fd = -1};
    bool no_power = false;
    bool adopt = false;
    if (argc == 2 && !strcmp(argv[1], GUEST_DESKTOP_ARG)) /* the desktop service's child */
        return guest_desktop_main();
    if (argc >= 3 && !strcmp(argv[1], GUEST_SVC_ARG)) /* a record service's helper child */
        return guest_svc_main(argc, argv);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            puts("revm-guestd " GUESTD_VERSION);
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            guest_log_quiet = true;
        } else if (!strcmp(a, "--no-power-button")) {
            no_power = true;
        } else if (!strcmp(a, "--device") && v) {
            o.mode = GUEST_MODE_DEVICE;
            o.path = v;
            i++;
        } else if (!strcmp(a, "--listen") && v) {
            char *end = NULL;
            unsigned long port = 0;
            if (!strncmp(v, "vsock:", 6))
                port = strtoul(v + 6, &end, 10);
            if (!strncmp(v, "unix:", 5) && v[5]) {
                o.path = v + 5;
            } else if (end && end != v + 6 && !*end && port > 0 && port < 0xffffffffUL) {
                o.vsock_port = (unsigned)port;
            } else {
                fprintf(stderr, "revm-guestd: --listen %s: expected unix:PATH or vsock:PORT\n",
                        v);
                return 2;
            }
            o.mode = GUEST_MODE_LISTEN;
            i++;
        } else if (!strcmp(a, "--fd") && v) {
            if ((o.fd = open_fd_arg(a, v)) < 0)
                return 2;
            o.mode = GUEST_MODE_FD;
            i++;
        } else if (!strcmp(a, "--adopt")) {
            adopt = true;
        } else if (!strcmp(a, "--port-name") && v) {
            o.port_name = v;
            i++;
        } else {
            fprintf(stderr, "revm-guestd: %s: unknown option or missing value (see --help)\n", a);
            return 2;
        }
    }
    /* In the environment, not an argument: --adopt knows the init's daemon by its having no
     * arguments (adopt.c). Not handed on to the programs we start. A bad value only costs
     * the init its wait, so it is said and ignored. */
    const char *rfd = getenv(GUEST_READY_FD_ENV);
    if (rfd) {
        o.ready_fd = open_fd_arg(GUEST_READY_FD_ENV, rfd);
        unsetenv(GUEST_READY_FD_ENV);
    }
    if (adopt && o.mode == GUEST_MODE_AUTO)
        guest_adopt(); /* returns when there is no running daemon to stand in for */
    /* The power button is the VM's (ACPI shutdown from the supervisor). Only the production
     * mode watches it: the test modes run on a host whose button must stay the host's. */
    o.power_button = o.mode == GUEST_MODE_AUTO && !no_power;
    /* Programs get fds 0-2 from us by dup2; make sure no pipe of ours can land there. */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
            return 1;
    static char agent[256];
    make_agent(agent, sizeof agent);
    return guest_run(&o, agent);
}
