/* TAP interfaces (tap.h). */
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef TUNSETCARRIER
#define TUNSETCARRIER _IOW('T', 226, int)
#endif

static int ifreq_ioctl(unsigned long req, struct ifreq *ifr)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    int rc = ioctl(s, req, ifr);
    int e = errno;
    close(s);
    errno = e;
    return rc;
}

int tap_open(const char *name, char *err, size_t errlen)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    if (strlen(name) >= IFNAMSIZ) {
        snprintf(err, errlen, "TAP name too long: %s", name);
        return -1;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open /dev/net/tun: %s", strerror(errno));
        return -1;
    }
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    memcpy(ifr.ifr_name, name, strlen(name) + 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        snprintf(err, errlen, "cannot create TAP interface %s: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name, strlen(name) + 1);
    if (ifreq_ioctl(SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        ifreq_ioctl(SIOCSIFFLAGS, &ifr);
    }
    return fd;
}

int tap_configure(int fd, const char *name, const uint8_t mac[6], uint32_t mtu, bool link,
                  char *err, size_t errlen)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
    if (ifreq_ioctl(SIOCSIFHWADDR, &ifr) < 0) {
        snprintf(err, errlen, "%s: cannot set the MAC address: %s", name, strerror(errno));
        return -1;
    }
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    ifr.ifr_mtu = (int)mtu;
    if (ifreq_ioctl(SIOCSIFMTU, &ifr) < 0) {
        snprintf(err, errlen, "%s: cannot set the MTU to %u: %s", name, mtu, strerror(errno));
        return -1;
    }
    int on = link ? 1 : 0;
    if (ioctl(fd, TUNSETCARRIER, &on) < 0) {
        snprintf(err, errlen, "%s: cannot set the link state: %s", name, strerror(errno));
        return -1;
    }
    return 0;
}
