/* The table of record services and how the daemon starts their helpers (revm-guestd/svc.h). */
#include "svc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "fs.h"
#include "proto.h"
#include "disp.h"

/* One line per service. A helper's main reads records from fd 0 and writes them to fd 1. */
static const guest_svc table[] = {
    {PROTO_SVC_FS, "fs", guest_fs_main, NULL},
    {PROTO_SVC_WINDOW, "window", NULL, GUEST_SVC_LIBEXEC "/revm-winagent"},
    {PROTO_SVC_DISPLAY, "display", guest_disp_main, NULL},
    {PROTO_SVC_DEVICE, "device", guest_dev_main, NULL},
};

const guest_svc *guest_svc_find(uint16_t service)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].service == service)
            return &table[i];
    return NULL;
}

const guest_svc *guest_svc_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].name, name))
            return &table[i];
    return NULL;
}

bool guest_svc_request(const guest_svc *s, const uint8_t *p, size_t n, struct proto_exec_open *req)
{
    uint32_t flags;
    proto_str arg;
    if (!proto_dec_svc_open(p, n, &flags, &arg))
        return false;
    /* Static: the request points into these until the spawn has copied them. */
    static char flagbuf[32];
    req->flags = PROTO_EXEC_NOPATH;
    req->rows = req->cols = 0;
    req->user = req->cwd = (proto_str){"", 0};
    req->argc = 0;
    if (s->main) {
        /* Our own binary: /proc/self/exe is still the daemon in the child before it execs. */
        req->argv[req->argc++] = (proto_str){"/proc/self/exe", 14};
        req->argv[req->argc++] = (proto_str){GUEST_SVC_ARG, sizeof GUEST_SVC_ARG - 1};
        req->argv[req->argc++] = (proto_str){s->name, (uint32_t)strlen(s->name)};
    } else {
        req->argv[req->argc++] = (proto_str){s->program, (uint32_t)strlen(s->program)};
    }
    req->argv[req->argc++] = arg;
    int k = snprintf(flagbuf, sizeof flagbuf, "REVM_SVC_FLAGS=%u", flags);
    req->envc = 0;
    req->env[req->envc++] = (proto_str){flagbuf, (uint32_t)k};
    /* The helper sees the daemon's display and locale settings (runit or a test sets them). */
    static char envbuf[4][1024];
    static const char *const names[] = {"XDG_DATA_DIRS", "LC_ALL", "LANG", "REVM_SVC_ROOT"};
    for (int i = 0; i < 4; i++) {
        const char *v = getenv(names[i]);
        int m = v ? snprintf(envbuf[i], sizeof envbuf[i], "%s=%s", names[i], v) : -1;
        if (m > 0 && (size_t)m < sizeof envbuf[i])
            req->env[req->envc++] = (proto_str){envbuf[i], (uint32_t)m};
    }
    return true;
}

int guest_svc_main(int argc, char **argv)
{
    /* argv: revm-guestd --service NAME [ARG] */
    const guest_svc *s = argc >= 3 ? guest_svc_by_name(argv[2]) : NULL;
    if (!s || !s->main) {
        fprintf(stderr, "revm-guestd: no such in-daemon service: %s\n", argc >= 3 ? argv[2] : "(none)");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a closed channel shows as a failed write */
    const char *f = getenv("REVM_SVC_FLAGS");
    uint32_t flags = f ? (uint32_t)strtoul(f, NULL, 10) : 0;
    return s->main(argc >= 4 ? argv[3] : "", flags);
}
