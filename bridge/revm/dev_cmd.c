/* `revm devices [VM] [--watch]`: what the driver VM offers the host (PROTOCOL.md, Device
 * service, inventory channel): one line per disk and NIC; with --watch, then a line per
 * device that appears (+) or goes away (-) until interrupted.
 * `revm devices attach --block NAME=SOCKET | --net NAME=TAP ...`: runs the host front end,
 * revm-devices (installed next to revm), for the driver VM (or --vm's). */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev_inv.h"
#include "proto.h"
#include "rb_svc.h"

static int attach(const cli_opts *o, int argc, char **argv)
{
    char prog[PATH_MAX];
    const char *vm = o->vm && strcmp(o->vm, "app") ? o->vm : "driver";
    char *args[128];
    int k = 0;
    cli_sibling("revm-devices", prog, sizeof prog);
    args[k++] = prog;
    if (o->socket) {
        args[k++] = "--socket";
        args[k++] = (char *)o->socket;
    } else {
        args[k++] = "--vm";
        args[k++] = (char *)vm;
    }
    for (int i = 2; i < argc && k < 127; i++)
        args[k++] = argv[i];
    args[k] = NULL;
    execvp(prog, args);
    fprintf(stderr, "revm: cannot run %s: %s\n", prog, strerror(errno));
    return 127;
}

int cli_cmd_devices(const cli_opts *o, int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "attach"))
        return attach(o, argc, argv);
    cli_opts vo = *o;
    bool watch = false;
    const char *vm = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--watch"))
            watch = true;
        else if (argv[i][0] != '-' && !vm)
            vm = argv[i];
        else {
            fprintf(stderr, "revm: usage: revm devices [VM] [--watch] (VM defaults to driver)\n");
            return 2;
        }
    }
    /* The devices live in the driver VM unless another VM is named. */
    vo.vm = vm ? vm : "driver";
    int fd = cli_connect_bridge(&vo);
    if (fd < 0)
        return 1;
    char err[512];
    rb_svc *s = rb_svc_open(fd, PROTO_SVC_DEVICE, 0, "", -1, err, sizeof err);
    if (!s) {
        fprintf(stderr, "revm: VM %s: cannot list devices: %s\n", vo.vm, err);
        return 1;
    }
    static uint8_t buf[4096];
    bool synced = false;
    int rc = 0;
    size_t count = 0;
    for (;;) {
        uint8_t type;
        uint32_t tag;
        size_t n;
        if (rb_svc_recv(rb_svc_fd(s), buf, sizeof buf, &type, &tag, &n) < 0) {
            if (!synced || watch) {
                const char *why = rb_svc_why(s);
                fprintf(stderr, "revm: VM %s: device list ended: %s\n", vo.vm,
                        errno == EPROTO ? "malformed record" : (why && *why ? why : "channel closed"));
                rc = 1;
            }
            break;
        }
        char line[512];
        proto_dev_info d;
        proto_str name;
        uint8_t kind;
        if (type == PROTO_DEV_ADD && proto_dec_dev_add(buf, n, &d)) {
            dev_inv_format(&d, line, sizeof line);
            if (!synced) {
                if (count++ == 0)
                    printf("%s\n", dev_inv_header());
                printf("%s\n", line);
            } else {
                printf("+ %s\n", line);
            }
        } else if (type == PROTO_DEV_REMOVE && proto_dec_dev_remove(buf, n, &kind, &name)) {
            printf("- %s %.*s\n", kind == PROTO_DEV_BLOCK ? "block" : "net", (int)name.n, name.s);
        } else if (type == PROTO_DEV_SYNC && !synced) {
            synced = true;
            if (!count)
                printf("VM %s offers no devices\n", vo.vm);
            if (!watch)
                break;
        } else {
            fprintf(stderr, "revm: VM %s: malformed device record (type 0x%02x)\n", vo.vm, type);
            rc = 1;
            break;
        }
        fflush(stdout);
    }
    rb_svc_close(s);
    return rc;
}
