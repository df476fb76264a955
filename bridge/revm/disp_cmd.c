/* `revm displays [DEVICE]`: the connectors and modes of a VM's GPU through the display
 * service (PROTOCOL.md, Display service); `--vm driver` is the usual VM. Showing a display
 * needs a front end that stays connected (revm-display on Linux, the display.* scheme on
 * Redox): the guest gives the card back to its console when the channel closes. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cm_text.h"
#include "display/disp_client.h"
#include "rb_svc.h"

/* The helper's last log line ("display: cannot open ...") when there is one, else err. */
static const char *helper_reason(int fd, char *err, size_t cap)
{
    char buf[4096];
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (n <= 0)
        return err;
    buf[n] = 0;
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = 0;
    char *line = strrchr(buf, '\n');
    line = line ? line + 1 : buf;
    if (!strncmp(line, "display: ", 9))
        line += 9;
    cm_sanitize(line, strlen(line)); /* the guest's text */
    snprintf(err, cap, "display service: %.400s", line);
    return err;
}

int cli_cmd_displays(const cli_opts *o, int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "revm: usage: revm [--vm NAME] displays [DRM-DEVICE]\n");
        return 2;
    }
    int fd = cli_connect_bridge(o);
    if (fd < 0)
        return 1;
    char err[512];
    /* The helper's log lines: kept to name the reason when it fails (-v: shown as they come). */
    int lp[2] = {-1, -1};
    if (!o->verbose && pipe2(lp, O_CLOEXEC | O_NONBLOCK) < 0)
        lp[0] = lp[1] = -1;
    rb_svc *s = rb_svc_open(fd, PROTO_SVC_DISPLAY, 0, argc == 2 ? argv[1] : "", o->verbose ? 2 : lp[1],
                            err, sizeof err);
    if (!s) {
        fprintf(stderr, "revm: VM %s: %s\n", o->vm, err);
        if (lp[0] >= 0)
            close(lp[0]), close(lp[1]);
        return 1;
    }
    disp_client *c = disp_client_new(rb_svc_fd(s));
    proto_disp_conn list[PROTO_DISP_MAX_CONNS];
    size_t n = 0;
    int code, rc = 1;
    if (!c)
        fprintf(stderr, "revm: out of memory\n");
    else if (disp_list(c, list, PROTO_DISP_MAX_CONNS, &n, &code, err, sizeof err) < 0)
        fprintf(stderr, "revm: VM %s: %s\n", o->vm, helper_reason(lp[0], err, sizeof err));
    else
        rc = 0;
    for (size_t i = 0; i < n; i++) {
        printf("%s %s", list[i].name, list[i].connected ? "connected" : "disconnected");
        for (unsigned k = 0; k < list[i].nmodes; k++) {
            const proto_disp_mode *m = &list[i].modes[k];
            printf(" %ux%u@%u%s", m->w, m->h, m->refresh, m->flags & PROTO_DISP_MODE_PREFERRED ? "*" : "");
        }
        printf("\n");
    }
    if (rc == 0 && n == 0)
        printf("(no connectors)\n");
    disp_client_free(c);
    rb_svc_close(s);
    if (lp[0] >= 0)
        close(lp[0]), close(lp[1]);
    return rc;
}
