/* `revm PROGRAM ARGS...` and `revm shell`: one exec session over the bridge, with the local
 * stdin/stdout/stderr (and terminal) as its ends. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lifecycle.h"
#include "rb_client.h"
#include "rb_unix.h"
#include "term.h"

#define HANDSHAKE_TIMEOUT_MS 10000
#define EXIT_BRIDGE 255

static void log_fault(void *ctx, const char *msg)
{
    const cli_opts *o = ctx;
    if (o->verbose)
        fprintf(stderr, "revm: %s%s\n", msg, cli_term_is_raw() ? "\r" : "");
}

/* The bridge socket: --socket / $REVM_SOCKET, else the supervisor's client socket for the VM
 * (starting the VM when needed). */
int cli_connect_bridge(const cli_opts *o)
{
    char path[PATH_MAX], err[512];
    const char *sock = o->socket;
    if (!sock) {
        if (cli_vm_ready(o->vm, path, err, sizeof err) < 0) {
            fprintf(stderr, "revm: %s\n", err);
            return -1;
        }
        sock = path;
    }
    int fd = rb_unix_connect(sock, err, sizeof err);
    if (fd < 0) {
        if (errno == ENOENT || errno == ECONNREFUSED)
            fprintf(stderr, "revm: VM %s is not running (nothing listens on %s)\n", o->vm, sock);
        else
            fprintf(stderr, "revm: cannot reach VM %s: %s\n", o->vm, err);
    }
    return fd;
}

static uint32_t linux_signo(int sig)
{
    /* The wire uses Linux numbers; these four are the same on every POSIX system revm
     * targets, but say so explicitly rather than pass host numbers through. */
    switch (sig) {
    case SIGHUP: return 1;
    case SIGINT: return 2;
    case SIGQUIT: return 3;
    case SIGTERM: return 15;
    default: return 0;
    }
}

/* Connected and past the handshake, or NULL after printing why. */
static rb_client *open_client(const cli_opts *o)
{
    int fd = cli_connect_bridge(o);
    if (fd < 0)
        return NULL;
    char err[512];
    rb_client *c = rb_client_new(fd, NULL, err, sizeof err);
    if (!c) {
        fprintf(stderr, "revm: %s\n", err);
        return NULL;
    }
    rb_client_set_log(c, log_fault, (void *)o);
    if (rb_client_handshake(c, HANDSHAKE_TIMEOUT_MS, err, sizeof err) < 0) {
        fprintf(stderr, "revm: VM %s: bridge handshake failed: %s\n", o->vm, err);
        rb_client_free(c);
        return NULL;
    }
    return c;
}

int cli_capture(const cli_opts *o, const char *const *argv, size_t argc, char *out, size_t cap,
                size_t *outlen, char *err, size_t errlen)
{
    *outlen = 0;
    /* A temporary file, not a pipe: the session can write all of it without this loop
     * having to read concurrently. */
    FILE *tmp = tmpfile();
    if (!tmp) {
        snprintf(err, errlen, "cannot create a temporary file: %s", strerror(errno));
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    rb_client *c = open_client(o);
    if (!c) {
        fclose(tmp);
        snprintf(err, errlen, "VM %s is not reachable", o->vm);
        return -1;
    }
    rb_exec_req req = {.argv = argv, .argc = argc, .cwd = o->cwd, .user = o->user,
                       .env = o->env, .envc = o->envc};
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    rb_exec *e = rb_exec_start(c, &req, -1, fileno(tmp), devnull, err, errlen);
    int rc = -1;
    while (e && !rb_exec_done(e)) {
        struct pollfd fds[8];
        int timeout;
        size_t n = rb_client_pollfds(c, fds, 8, &timeout);
        if (poll(fds, n, timeout) < 0 && errno != EINTR)
            break;
        if (rb_client_step(c, fds, n) < 0)
            break;
    }
    if (e && rb_exec_done(e)) {
        const rb_exec_status *st = rb_exec_result(e);
        if (st->error)
            snprintf(err, errlen, "%s", st->text);
        rc = st->error ? -1 : st->exit_code;
        rewind(tmp);
        *outlen = fread(out, 1, cap ? cap - 1 : 0, tmp);
        if (cap)
            out[*outlen] = 0;
    } else if (e) {
        snprintf(err, errlen, "VM %s: %s", o->vm, rb_client_error(c));
    }
    if (devnull >= 0)
        close(devnull);
    fclose(tmp);
    rb_client_free(c);
    return rc;
}

int cli_exec(const cli_opts *o, int argc, char **argv, bool login)
{
    bool in_tty = isatty(0);
    /* A terminal on both ends: an interactive use. With stdout redirected (revm ls | wc) a
     * PTY would merge stderr into stdout and turn \n into \r\n, so only -t asks for one. */
    bool pty = o->pty == CLI_PTY_FORCE || (o->pty == CLI_PTY_AUTO && in_tty && isatty(1));
    /* Forwarded like ssh's default SendEnv: the terminal type for a PTY, and the locale, which
     * full-screen programs need (btop refuses to start without a UTF-8 one). -e comes last
     * and wins. */
    static const char *const fwd_names[] = {"TERM", "LANG", "LC_ALL", "LC_CTYPE"};
    const char *env[CLI_MAX_ENV + sizeof fwd_names / sizeof *fwd_names + 1];
    char fwd_env[sizeof fwd_names / sizeof *fwd_names][128];
    size_t envc = 0;
    for (size_t i = 0; i < sizeof fwd_names / sizeof *fwd_names; i++) {
        const char *v = getenv(fwd_names[i]);
        if ((i == 0 && !pty) || !v || !*v || strlen(v) >= 100)
            continue;
        snprintf(fwd_env[i], sizeof fwd_env[i], "%s=%s", fwd_names[i], v);
        env[envc++] = fwd_env[i];
    }
    for (size_t i = 0; i < o->envc; i++)
        env[envc++] = o->env[i];
    rb_exec_req req = {.argv = (const char *const *)argv, .argc = (size_t)argc, .env = env,
                       .envc = envc, .cwd = o->cwd, .user = o->user, .pty = pty, .login = login,
                       .rows = 24, .cols = 80};
    if (pty)
        cli_term_size(&req.rows, &req.cols);

    int sigfd = cli_signals_init();
    if (sigfd < 0) {
        fprintf(stderr, "revm: cannot set up signal handling: %s\n", strerror(errno));
        return EXIT_BRIDGE;
    }
    rb_client *c = open_client(o);
    if (!c)
        return EXIT_BRIDGE;
    char err[512];
    if (pty && !(rb_client_params(c)->features & PROTO_F_PTY)) {
        if (o->pty == CLI_PTY_FORCE) {
            fprintf(stderr, "revm: VM %s offers no pseudo-terminals\n", o->vm);
            rb_client_free(c);
            return EXIT_BRIDGE;
        }
        req.pty = pty = false;
    }
    rb_exec *e = rb_exec_start(c, &req, 0, 1, 2, err, sizeof err);
    if (!e) {
        fprintf(stderr, "revm: %s\n", err);
        rb_client_free(c);
        return 2;
    }
    bool raw = pty && in_tty && cli_term_raw(0);
    cli_nonblock(1);
    cli_nonblock(2);

    struct pollfd fds[8];
    int forwarded = 0, forced = 0;
    while (!rb_exec_done(e) && !forced) {
        int timeout;
        size_t n = rb_client_pollfds(c, fds, 7, &timeout);
        fds[n] = (struct pollfd){.fd = sigfd, .events = POLLIN};
        if (poll(fds, n + 1, timeout) < 0 && errno != EINTR) {
            fprintf(stderr, "revm: VM %s: waiting for the session failed: %s\n", o->vm,
                    strerror(errno));
            break;
        }
        if (fds[n].revents & POLLIN) {
            int sig;
            while ((sig = cli_signals_next(sigfd)) != 0) {
                if (sig == SIGWINCH) {
                    uint16_t r, cl;
                    if (pty && cli_term_size(&r, &cl))
                        rb_exec_winsize(e, r, cl);
                } else if (!forwarded) {
                    /* The program decides what the signal means (it may clean up and print
                     * more), so the first one is only passed on. */
                    rb_exec_signal(e, linux_signo(sig));
                    forwarded = sig;
                } else {
                    /* A second one means "stop now", even when the program or its reader
                     * does not cooperate: leaving closes the session and the guest hangs the
                     * program up. */
                    forced = sig;
                }
            }
        }
        if (rb_client_step(c, fds, n) < 0)
            break;
    }
    if (raw)
        cli_term_restore();
    if (forced) {
        rb_client_free(c);
        return 128 + forced;
    }
    const rb_exec_status *st = rb_exec_result(e);
    int code = st->state == RB_EXEC_DONE ? st->exit_code : EXIT_BRIDGE;
    if (st->error) {
        if (st->error == PROTO_EIO && strstr(st->text, "connection lost"))
            fprintf(stderr, "revm: VM %s: %s\n", o->vm, st->text);
        else
            fprintf(stderr, "revm: %s\n", st->text);
    } else if (st->state != RB_EXEC_DONE) {
        fprintf(stderr, "revm: VM %s: %s\n", o->vm, rb_client_error(c));
    }
    rb_client_free(c);
    return code;
}
