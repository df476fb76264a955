/* The TCP sender of tests/bench/dev-net.sh: the same static (musl) program runs on the host
 * and inside the driver VM, so both paths of the benchmark pay exactly the same sender cost,
 * and the guest needs nothing from its image beyond a shell to receive the binary.
 *
 *   net-send ADDR PORT MIB    connect, write MIB MiB from one static buffer (no pipe, no data
 *                             generation: the cheapest sender a stack can have), half-close,
 *                             then wait for the receiver's close, so that exit 0 means every
 *                             byte arrived and the receiver has printed its measurement.
 * Exit 1 with a one-line message on any error. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned char buf[256 * 1024];

static int die(const char *what)
{
    fprintf(stderr, "net-send: %s: %s\n", what, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: net-send ADDR PORT MIB\n");
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "net-send: bad IPv4 address %s\n", argv[1]);
        return 2;
    }
    unsigned long long left = strtoull(argv[3], NULL, 10) << 20;
    for (size_t i = 0; i < sizeof buf; i++) /* not all zeros: nothing on the path may compress */
        buf[i] = (unsigned char)(i * 131 + (i >> 8));
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return die("socket");
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
        return die("connect");
    while (left) {
        size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
        ssize_t w = write(s, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return die("write");
        left -= (unsigned long long)w;
    }
    if (shutdown(s, SHUT_WR) < 0)
        return die("shutdown");
    for (;;) { /* the receiver closes once it has counted everything */
        ssize_t r = read(s, buf, sizeof buf);
        if (r == 0)
            break;
        if (r < 0 && errno != EINTR)
            return die("read");
    }
    close(s);
    return 0;
}
