/* The supervisor's HELLO exchange with a VM (PROTOCOL.md, Control channel). The guest's
 * answer is what "bridge ready" means. HELLO is repeated every second because virtio-serial
 * drops what the host writes while the guest daemon has not opened its port yet. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "link_serve.h"
#include "proto.h"

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_hello(int fd)
{
    static const char agent[] = "revmd " REVM_VERSION;
    proto_hello h = {.version_min = PROTO_VERSION, .version_max = PROTO_VERSION,
                     .features = PROTO_F_EXEC | PROTO_F_PTY, .max_frame = PROTO_DEFAULT_MAX_FRAME,
                     .window = PROTO_DEFAULT_WINDOW,
                     .agent = {.s = agent, .n = sizeof agent - 1}};
    uint8_t frame[256];
    size_t n = proto_enc_hello(frame, sizeof frame, &h);
    return n && send(fd, frame, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

int sup_link_handshake(int vm_fd, int stop_fd, char *agent, size_t agent_cap, char *why,
                       size_t why_cap)
{
    /* Before the handshake frames are limited to PROTO_PREHELLO_MAX_FRAME (spec). */
    uint8_t buf[PROTO_HDR_SIZE + PROTO_PREHELLO_MAX_FRAME];
    proto_reader rd;
    proto_reader_init(&rd, buf, PROTO_PREHELLO_MAX_FRAME);
    long long next_hello = 0;
    for (;;) {
        long long now = mono_ms();
        if (now >= next_hello) {
            if (send_hello(vm_fd) < 0) {
                snprintf(why, why_cap, "bridge connection closed by QEMU");
                return -1;
            }
            next_hello = now + 1000;
        }
        struct pollfd p[2] = {{.fd = vm_fd, .events = POLLIN}, {.fd = stop_fd, .events = POLLIN}};
        int r = poll(p, 2, (int)(next_hello - now));
        if (r < 0 && errno != EINTR) {
            snprintf(why, why_cap, "poll: %s", strerror(errno));
            return -1;
        }
        if (p[1].revents) {
            snprintf(why, why_cap, "stopped");
            return -1;
        }
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        uint8_t in[4096];
        ssize_t got = read(vm_fd, in, sizeof in);
        if (got <= 0) {
            snprintf(why, why_cap, "bridge connection closed before HELLO");
            return -1;
        }
        size_t off = 0;
        while (off < (size_t)got) {
            size_t used = 0;
            proto_hdr h;
            const uint8_t *payload;
            int st = proto_reader_feed(&rd, in + off, (size_t)got - off, &used, &h, &payload);
            off += used;
            if (st == PROTO_BAD_FRAME) {
                snprintf(why, why_cap, "protocol error: oversized frame before HELLO");
                return -1;
            }
            if (st != PROTO_FRAME)
                continue;
            if (h.chan != 0 || h.type != PROTO_HELLO)
                continue; /* nothing else is meaningful before the handshake */
            proto_hello peer;
            if (!proto_dec_hello(payload, h.len, &peer)) {
                snprintf(why, why_cap, "protocol error: malformed HELLO from the guest");
                return -1;
            }
            if (peer.version_min > PROTO_VERSION || peer.version_max < PROTO_VERSION) {
                snprintf(why, why_cap, "guest speaks protocol versions %u..%u, we speak %u",
                         peer.version_min, peer.version_max, PROTO_VERSION);
                return -1;
            }
            /* The agent text comes from the guest: keep printable ASCII only. */
            size_t k = 0;
            for (uint32_t i = 0; i < peer.agent.n && k + 1 < agent_cap; i++) {
                char ch = peer.agent.s[i];
                agent[k++] = (ch >= 0x20 && ch < 0x7f && ch != '"') ? ch : '?';
            }
            agent[k] = 0;
            return 0;
        }
    }
}
