/* `revm gui [--display :N] [PROGRAM [ARGS...]]`: the window service, the VM's windows on the host.
 * revm connects to the VM's bridge as for any program (starting the VM when needed) and hands
 * the connection to revm-windows, the host's window back end (X11 on Linux: bridge/linux/x11),
 * which opens the window service, and once the guest display is up runs PROGRAM in the VM
 * with DISPLAY set (through this same revm). revm gui's exit status is PROGRAM's. Without
 * PROGRAM it shows every window of the VM's display until interrupted. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_cmd_gui(const cli_opts *o, int argc, char **argv)
{
    const char *display = ":0";
    int i = 1;
    if (i + 1 < argc && !strcmp(argv[i], "--display"))
        display = argv[i + 1], i += 2;
    if (i < argc && !strcmp(argv[i], "--"))
        i++;
    if (display[0] != ':' || strlen(display) > 32) {
        fprintf(stderr, "revm: gui: --display takes an X display such as :0, not %s\n", display);
        return 2;
    }
    char self[PATH_MAX], back[PATH_MAX];
    cli_sibling("revm", self, sizeof self);
    const char *env = getenv("REVM_WINDOWS");
    if (env && *env)
        snprintf(back, sizeof back, "%s", env);
    else
        cli_sibling("revm-windows", back, sizeof back);
    if (access(back, X_OK) != 0) {
        fprintf(stderr, "revm: gui: the host window back end is not installed (%s)\n", back);
        return 127;
    }
    if (o->socket)
        setenv("REVM_SOCKET", o->socket, 1); /* for the revm that starts PROGRAM */
    int fd = cli_connect_bridge(o);
    if (fd < 0)
        return 255;
    int fl = fcntl(fd, F_GETFD);
    fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
    char fdbuf[16];
    snprintf(fdbuf, sizeof fdbuf, "%d", fd);
    char **av = calloc((size_t)argc + 16, sizeof *av);
    if (!av)
        return 255;
    int k = 0;
    av[k++] = back;
    av[k++] = "--vm", av[k++] = (char *)o->vm;
    av[k++] = "--bridge-fd", av[k++] = fdbuf;
    av[k++] = "--display", av[k++] = (char *)display;
    av[k++] = "--revm", av[k++] = self;
    av[k++] = "--";
    for (; i < argc; i++)
        av[k++] = argv[i];
    av[k] = NULL;
    execv(back, av);
    fprintf(stderr, "revm: gui: cannot run %s: %s\n", back, strerror(errno));
    free(av);
    return 127;
}
