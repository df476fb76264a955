/* Host-side decoder path: arbitrary guest bytes into the host connection's frame handling
 * (framing, control channel, exec channel state and credit checks). Must never crash, hang
 * or allocate without bound. The first input byte picks the start: odd = raw bytes from the
 * very first byte (handshake paths); even = a valid guest HELLO is sent first and one exec
 * session is open as channel 1, so the input reaches the channel code. */
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rb_client.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
