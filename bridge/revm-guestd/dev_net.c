/* A NIC served over the device service (PROTOCOL.md, Device service: NIC channel): frames
 * between a packet socket on the interface and NET_FRAME records. The interface is brought up,
 * made promiscuous (the host's MAC needs no setup), its GRO turned off (a frame is never larger
 * than the wire's) and IPv6 disabled on it, so the VM's own stack stays silent there. */
#include "dev.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

/* linux/sockios.h and linux/ethtool.h, which musl does not ship. */
#ifndef SIOCETHTOOL
#define SIOCETHTOOL 0x8946
#endif
#define GUEST_ETHTOOL_SGRO 0x0000002c
struct guest_ethtool_value {
    uint32_t cmd, data;
};

#define NET_IN_MAX (PROTO_REC_HDR + PROTO_DEV_MAX_FRAME + 64)
#define NET_BATCH 64
#define NET_FRAME_BUF (PROTO_DEV_MAX_FRAME + 64)

/* Sends the batched frames with one sendmmsg; returns how many were dropped. */
static unsigned long send_batch(int sock, struct iovec *iov, unsigned *nb)
{
    if (!*nb)
        return 0;
    struct mmsghdr m[NET_BATCH];
    memset(m, 0, sizeof(struct mmsghdr) * *nb);
    for (unsigned i = 0; i < *nb; i++) {
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
    }
    unsigned done = 0;
    unsigned long dropped = 0;
    while (done < *nb) {
        int r = sendmmsg(sock, m + done, *nb - done, MSG_DONTWAIT);
        if (r <= 0) { /* this frame is refused (full queue, bad frame): drop it, go on */
            dropped++;
            done++;
            continue;
        }
        done += (unsigned)r;
    }
    *nb = 0;
    return dropped;
}

static void set_quiet(int sock, const char *ifname)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    struct guest_ethtool_value ev = {GUEST_ETHTOOL_SGRO, 0};
    ifr.ifr_data = (char *)&ev;
    if (ioctl(sock, SIOCETHTOOL, &ifr) < 0)
        guest_dev_log("%s: cannot turn GRO off: %s", ifname, strerror(errno));
    char p[256];
    snprintf(p, sizeof p, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t w = write(fd, "1\n", 2);
        (void)w;
        close(fd);
    }
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
            guest_dev_log("%s: cannot bring the interface up: %s", ifname, strerror(errno));
    }
}

static bool net_info(int sock, const char *ifname, proto_net_info *ni)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    if (ioctl(sock, SIOCGIFHWADDR, &ifr) < 0)
        return false;
    memcpy(ni->mac, ifr.ifr_hwaddr.sa_data, 6);
    if (ioctl(sock, SIOCGIFMTU, &ifr) < 0)
        return false;
    ni->mtu = (uint32_t)ifr.ifr_mtu;
    if (ni->mtu < PROTO_DEV_MIN_MTU)
        ni->mtu = PROTO_DEV_MIN_MTU;
    if (ni->mtu > PROTO_DEV_MAX_MTU)
        ni->mtu = PROTO_DEV_MAX_MTU;
    char p[256], v[16];
    snprintf(p, sizeof p, "%s/class/net/%s/carrier", guest_dev_sysfs(), ifname);
    ni->link = guest_dev_read_line(p, v, sizeof v) && v[0] == '1';
    return true;
}

static int send_info(const proto_net_info *ni)
{
    uint8_t b[32];
    size_t n = proto_enc_net_info(b, sizeof b, ni);
    return guest_dev_send(PROTO_NET_INFO, 0, b, n, NULL, 0);
}

int guest_dev_net(const char *ifname)
{
    unsigned idx = if_nametoindex(ifname);
    if (!idx) {
        guest_dev_log("no such network interface: %s", ifname);
        return 2;
    }
    int sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (sock < 0) {
        guest_dev_log("%s: cannot open a packet socket: %s", ifname, strerror(errno));
        return 2;
    }
    set_quiet(sock, ifname);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                              .sll_ifindex = (int)idx};
    if (bind(sock, (struct sockaddr *)&sll, sizeof sll) < 0) {
        guest_dev_log("%s: cannot bind the packet socket: %s", ifname, strerror(errno));
        return 2;
    }
    struct packet_mreq mr = {.mr_ifindex = (int)idx, .mr_type = PACKET_MR_PROMISC};
    if (setsockopt(sock, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0)
        guest_dev_log("%s: cannot go promiscuous: %s", ifname, strerror(errno));
    int one = 1;
    setsockopt(sock, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    int big = 4 << 20;
    setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);

    proto_net_info ni = {0};
    if (!net_info(sock, ifname, &ni)) {
        guest_dev_log("%s: cannot read MAC and MTU: %s", ifname, strerror(errno));
        return 2;
    }
    if (send_info(&ni) < 0)
        return 0;
    guest_dev_log("serving %s: mtu %u, link %s", ifname, ni.mtu, ni.link ? "up" : "down");

    static uint8_t inbuf[4 + NET_IN_MAX], rd[65536], outb[512 * 1024];
    static struct iovec iov[NET_BATCH];

    proto_rec_stream rs;
    proto_rec_stream_init(&rs, inbuf, PROTO_REC_MIN + PROTO_DEV_MAX_FRAME);
    unsigned long dropped_in = 0, dropped_out = 0;
    time_t last_check = time(NULL);
    for (;;) {
        struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = sock, .events = POLLIN}};
        int r = poll(fds, 2, 1000);
        if (r < 0 && errno != EINTR)
            return 1;
        if (fds[0].revents) {
            ssize_t k = read(0, rd, sizeof rd);
            if (k <= 0)
                break;
            /* Frames that lie whole in this read go out in one sendmmsg; a frame reassembled
             * across reads lives in the stream's buffer until the next feed, so it goes at once. */
            unsigned nb = 0;
            size_t off = 0;
            while (off < (size_t)k) {
                size_t used;
                proto_rec rec;
                int st = proto_rec_stream_feed(&rs, rd + off, (size_t)k - off, &used, &rec);
                off += used;
                if (st == PROTO_BAD_FRAME) {
                    guest_dev_log("%s: record out of bounds from the host: ending the channel", ifname);
                    return 1;
                }
                if (st == PROTO_NEED_MORE)
                    break;
                if (rec.type != PROTO_NET_FRAME || !proto_net_frame_ok(rec.body_len, ni.mtu)) {
                    dropped_in++;
                    continue;
                }
                bool in_rd = rec.body >= rd && rec.body < rd + sizeof rd;
                if (in_rd && nb < NET_BATCH) {
                    iov[nb] = (struct iovec){(void *)rec.body, rec.body_len};
                    nb++;
                    if (nb == NET_BATCH)
                        dropped_in += send_batch(sock, iov, &nb);
                    continue;
                }
                dropped_in += send_batch(sock, iov, &nb);
                if (send(sock, rec.body, rec.body_len, MSG_DONTWAIT) < 0)
                    dropped_in++;
            }
            dropped_in += send_batch(sock, iov, &nb);
        }
        if (fds[1].revents & POLLIN) {
            /* A burst at a time, so the host's frames are not starved; the burst's records
             * leave in one write. */
            size_t outn = 0;
            for (int burst = 0; burst < NET_BATCH; burst++) {
                if (sizeof outb - outn < PROTO_REC_HDR + NET_FRAME_BUF) {
                    if (guest_dev_write(outb, outn) < 0)
                        return 0;
                    outn = 0;
                }
                struct sockaddr_ll from;
                socklen_t fl = sizeof from;
                uint8_t *dst = outb + outn + PROTO_REC_HDR;
                ssize_t n = recvfrom(sock, dst, NET_FRAME_BUF, MSG_DONTWAIT | MSG_TRUNC,
                                     (struct sockaddr *)&from, &fl);
                if (n < 0)
                    break;
                if (from.sll_pkttype == PACKET_OUTGOING)
                    continue;
                if ((size_t)n > NET_FRAME_BUF || !proto_net_frame_ok((size_t)n, ni.mtu)) {
                    dropped_out++;
                    continue;
                }
                proto_rec_hdr(outb + outn, PROTO_NET_FRAME, 0, (size_t)n);
                outn += PROTO_REC_HDR + (size_t)n;
            }
            if (outn && guest_dev_write(outb, outn) < 0)
                return 0;
        }
        time_t now = time(NULL);
        if (now != last_check) {
            last_check = now;
            proto_net_info cur;
            if (net_info(sock, ifname, &cur) &&
                (cur.mtu != ni.mtu || cur.link != ni.link || memcmp(cur.mac, ni.mac, 6))) {
                ni = cur;
                guest_dev_log("%s: link %s, mtu %u", ifname, ni.link ? "up" : "down", ni.mtu);
                if (send_info(&ni) < 0)
                    return 0;
            }
        }
    }
    if (dropped_in || dropped_out)
        guest_dev_log("%s: dropped %lu frames from the host, %lu to it", ifname, dropped_in, dropped_out);
    return 0;
}
