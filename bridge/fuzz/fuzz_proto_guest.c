/* The guest daemon's whole input path (frame reader, handshake, control and channel
 * dispatch, flow control) on arbitrary byte streams, with a fake exec backend: no process
 * is started; "children" are pipes whose other ends are already closed.
 *
 * Input is a list of operations, so the fuzzer also interleaves child exits, fd readiness
 * and the passing of time with the bytes from the host:
 *   0 N bytes[N]  feed N bytes as port input        3 S K  fd event: slot S, kind K
 *   1 P ST        child pid 1000+P ends (ST: see below)  4 T  time passes: T*50 ms, timers run
 *   2             the host reads everything we sent */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "revm-guestd/guestd.h"

static int next_pid;

static int fake_spawn(void *ctx, const proto_exec_open *req, guest_spawned *out, uint32_t *code,
                      char *text, size_t tcap)
{
    (void)ctx;
    if (req->argc > 0 && req->argv[0].n > 0 && req->argv[0].s[0] == 'x') {
        *code = PROTO_ENOENT;
        strncpy(text, "no such program in the VM: x", tcap - 1);
        return -1;
    }
    int in[2], o[2], e[2];
    if (pipe2(in, O_CLOEXEC | O_NONBLOCK) < 0)
        goto fail;
    if (pipe2(o, O_CLOEXEC | O_NONBLOCK) < 0) {
        close(in[0]);
        close(in[1]);
        goto fail;
    }
    if (pipe2(e, O_CLOEXEC | O_NONBLOCK) < 0) {
        close(in[0]);
        close(in[1]);
        close(o[0]);
        close(o[1]);
        goto fail;
    }
    /* a little output, then end of stream; stdin is read by nobody (EPIPE) */
    if (write(o[1], "out", 3) < 0 || write(e[1], "err", 3) < 0)
        abort();
    close(in[0]);
    close(o[1]);
    close(e[1]);
    out->pid = 1000 + (next_pid++ % 64);
    out->pty = req->flags & PROTO_EXEC_PTY;
    out->fd[0] = in[1];
    out->fd[1] = o[0];
    if (out->pty) {
        close(e[0]);
        out->fd[2] = -1;
    } else {
        out->fd[2] = e[0];
    }
    return 0;
fail:
    *code = PROTO_EIO;
    strncpy(text, "pipe", tcap - 1);
    return -1;
}

static void fake_signal(void *ctx, const guest_chan *c, int sig) { (void)ctx, (void)c, (void)sig; }
static void fake_kill(void *ctx, pid_t pid, int sig) { (void)ctx, (void)pid, (void)sig; }
static void fake_winsize(void *ctx, const guest_chan *c, uint16_t r, uint16_t cl)
{
    (void)ctx, (void)c, (void)r, (void)cl;
}

static const guest_backend fake = {fake_spawn, fake_signal, fake_kill, fake_winsize, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static guestd g;
    static bool once;
    if (!once) {
        signal(SIGPIPE, SIG_IGN);
        guest_log_quiet = true;
        once = true;
    }
    next_pid = 0;
    if (guest_init(&g, &fake, "fuzz", -1) < 0)
        return 0;
    g.now = 1;
    size_t i = 0;
    while (i < size) {
        uint8_t op = data[i++] % 5;
        uint8_t a = i < size ? data[i] : 0, b = i + 1 < size ? data[i + 1] : 0;
        switch (op) {
        case 0: {
            size_t n = i < size ? data[i++] : 0;
            if (n > size - i)
                n = size - i;
            if (guest_input(&g, data + i, n) < 0)
                guest_conn_reset(&g); /* what the loop does after closing the connection */
            i += n;
            break;
        }
        case 1:
            /* odd: killed by signal (b >> 1) & 0x7f, even: exited with status b >> 1 */
            guest_child_exited(&g, 1000 + a % 64,
                               (b & 1) && (b >> 1) ? (b >> 1) & 0x7f : (b >> 1) << 8);
            i += 2;
            break;
        case 2:
            guest_outq_clear(&g.out);
            guest_out_pressure(&g);
            break;
        case 3:
            guest_chan_event(&g, GUEST_TK_IN + b % 3, a % 16, 0);
            i += 2;
            break;
        case 4:
            g.now += (int64_t)a * 50;
            guest_tick(&g);
            i += 1;
            break;
        }
        /* invariants: memory stays bounded */
        if (guest_outq_len(&g.out) > GUEST_OUTQ_MAX || g.nopen > PROTO_MAX_CHANNELS)
            abort();
    }
    guest_fini(&g);
    return 0;
}
