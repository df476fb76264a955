/* `revm mux --listen PATH`: serves revm clients on PATH over one bridge connection (the one
 * --socket / $REVM_SOCKET names), in the foreground. The supervisor embeds the same
 * multiplexer (librevm/rb_mux.h) per VM; this command is for tests and for debugging a guest
 * without the supervisor. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rb_mux.h"
#include "rb_unix.h"

static void mux_log(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "revm mux: %s\n", msg);
}

static void mux_ready(void *ctx, const rb_params *p)
{
    const char *listen = ctx;
    fprintf(stderr, "revm mux: bridge ready (protocol %u, guest \"%s\"); serving %s\n",
            p->version, p->agent, listen);
}

int cli_cmd_mux(const cli_opts *o, int argc, char **argv)
{
    const char *listen = NULL;
    if (argc == 3 && !strcmp(argv[1], "--listen"))
        listen = argv[2];
    if (!listen || !o->socket) {
        fprintf(stderr, "revm: usage: revm --socket BRIDGE mux --listen PATH\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char err[512];
    int vm = rb_unix_connect(o->socket, err, sizeof err);
    if (vm < 0) {
        fprintf(stderr, "revm: VM %s is not running (%s)\n", o->vm, err);
        return 255;
    }
    int lfd = rb_unix_listen(listen, err, sizeof err);
    if (lfd < 0) {
        fprintf(stderr, "revm: cannot listen: %s\n", err);
        close(vm);
        return 1;
    }
    rb_mux_opts mo = {.stop_fd = -1, .handshake_timeout_ms = 10000, .log = mux_log,
                      .on_ready = mux_ready, .ctx = (void *)listen, .max_clients = 1000};
    char why[300];
    rb_mux_run(vm, lfd, &mo, why, sizeof why);
    unlink(listen);
    fprintf(stderr, "revm mux: %s\n", why);
    return 1;
}
