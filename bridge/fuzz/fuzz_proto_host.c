/* Host-side decoder paths: arbitrary guest bytes into the host connection's frame handling
 * (framing, control channel, exec channel state and credit checks), in both places the host
 * meets a guest: the exec client (revm) and the multiplexer (revmd). Must never crash, hang
 * or allocate without bound. The first input byte picks the setup:
 *   bit 0: raw bytes from the very first byte (handshake paths), else a valid guest HELLO
 *          first and one exec session open as channel 1, so the input reaches channel code;
 *   bit 1: the multiplexer instead of the exec client (one client with channel 1 open);
 *   bit 2: (multiplexer) the bytes come from the client side instead of the VM side. */
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rb_client.h"
#include "rb_mux.h"

static int devnull = -1;

static void drain_peer(int fd)
{
    uint8_t sink[65536];
    while (read(fd, sink, sizeof sink) > 0) {
    }
}

static void pump(rb_client *c, int peer, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        struct pollfd fds[16];
        int timeout;
        size_t n = rb_client_pollfds(c, fds, 16, &timeout);
        if (poll(fds, n, 0) <= 0)
            return;
        if (rb_client_step(c, fds, n) < 0)
            return;
        drain_peer(peer);
    }
}

static void mux_pump(rb_mux *m, int a, int b, int rounds)
{
    for (int i = 0; i < rounds && rb_mux_state(m) != RB_MUX_DOWN; i++) {
        struct pollfd fds[8];
        int timeout;
        size_t n = rb_mux_pollfds(m, fds, 8, &timeout);
        if (poll(fds, n, 0) <= 0)
            return;
        rb_mux_step(m, fds, n);
        drain_peer(a);
        drain_peer(b);
    }
}

static size_t guest_hello(uint8_t *f, size_t cap)
{
    proto_hello h = {.version_min = 1, .version_max = 1, .features = 3, .max_frame = 8192,
                     .window = 8192, .agent = {"g", 1}};
    return proto_enc_hello(f, cap, &h);
}

static void fuzz_mux(const uint8_t *data, size_t size, bool raw, bool from_client)
{
    int vm[2], cl[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, vm) < 0)
        return;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cl) < 0) {
        close(vm[0]);
        close(vm[1]);
        return;
    }
    fcntl(vm[1], F_SETFL, O_NONBLOCK);
    fcntl(cl[1], F_SETFL, O_NONBLOCK);
    char err[256];
    rb_mux_opts o = {.max_frame = 8192, .window = 8192, .stop_fd = -1};
    rb_mux *m = rb_mux_new(vm[0], -1, &o, err, sizeof err);
    if (!m) {
        close(vm[1]);
        close(cl[0]);
        close(cl[1]);
        return;
    }
    int target = vm[1];
    uint8_t f[256];
    if (!raw || from_client) {
        (void)!write(vm[1], f, guest_hello(f, sizeof f));
        mux_pump(m, vm[1], cl[1], 4);
        if (rb_mux_add_client(m, cl[0]) == 0) {
            (void)!write(cl[1], f, guest_hello(f, sizeof f)); /* a client's HELLO looks alike */
            static const uint8_t open_req[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                               0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 'c', 'a', 't', 0,
                                               0, 0, 0};
            proto_hdr h = {.len = sizeof open_req, .chan = 1, .type = PROTO_OPEN};
            proto_hdr_encode(f, &h);
            (void)!write(cl[1], f, PROTO_HDR_SIZE);
            (void)!write(cl[1], open_req, sizeof open_req);
            mux_pump(m, vm[1], cl[1], 4);
            uint32_t pid = 1;
            size_t n = proto_enc_open_ok(f, sizeof f, 1, pid);
            (void)!write(vm[1], f, n);
            mux_pump(m, vm[1], cl[1], 4);
        } else {
            close(cl[1]);
            cl[1] = -1;
        }
        if (from_client && cl[1] >= 0)
            target = cl[1];
    } else {
        close(cl[0]);
    }
    size_t off = 0;
    for (int rounds = 0; rounds < 4096 && rb_mux_state(m) != RB_MUX_DOWN; rounds++) {
        if (off < size) {
            ssize_t w = write(target, data + off, size - off);
            if (w > 0)
                off += (size_t)w;
        }
        mux_pump(m, vm[1], cl[1], 8);
        if (off == size)
            break;
    }
    mux_pump(m, vm[1], cl[1], 8);
    rb_mux_free(m);
    close(vm[1]);
    if (cl[1] >= 0)
        close(cl[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && (data[0] & 2)) {
        fuzz_mux(data + 1, size - 1, data[0] & 1, data[0] & 4);
        return 0;
    }
    if (devnull < 0)
        devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    char err[256];
    rb_conn_cfg cfg = {.features = PROTO_F_EXEC | PROTO_F_PTY, .max_frame = 8192,
                       .window = 8192, .agent = "fuzz"};
    rb_client *c = rb_client_new(sv[0], &cfg, err, sizeof err);
    if (!c) {
        close(sv[1]);
        return 0;
    }
    rb_conn *conn = rb_client_conn(c);
    rb_conn_hello(conn);
    rb_conn_flush(conn);
    bool raw = size > 0 && (data[0] & 1);
    if (size > 0) {
        data++;
        size--;
    }
    if (!raw) {
        proto_hello h = {.version_min = 1, .version_max = 1, .features = 3, .max_frame = 8192,
                         .window = 8192, .agent = {"g", 1}};
        uint8_t f[128];
        size_t n = proto_enc_hello(f, sizeof f, &h);
        (void)!write(sv[1], f, n);
        pump(c, sv[1], 4);
        const char *argv[] = {"cat"};
        rb_exec_req rq = {.argv = argv, .argc = 1};
        (void)rb_exec_start(c, &rq, -1, devnull, devnull, err, sizeof err);
        pump(c, sv[1], 2);
    }
    size_t off = 0;
    for (int rounds = 0; rounds < 4096 && !conn->dead; rounds++) {
        if (off < size) {
            ssize_t w = write(sv[1], data + off, size - off);
            if (w > 0)
                off += (size_t)w;
        }
        size_t before = conn->rx_bytes;
        pump(c, sv[1], 8);
        if (off == size && conn->rx_bytes == before)
            break;
    }
    rb_client_free(c);
    close(sv[1]);
    return 0;
}
