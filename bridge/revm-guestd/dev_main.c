/* The device helper's entry point and the I/O helpers its parts share (revm-guestd/dev.h). */
#include "dev.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cm_io.h"
#include "proto.h"

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

const char *guest_dev_sysfs(void)
{
    const char *s = getenv("REVM_DEV_SYSFS");
    return s && *s ? s : "/sys";
}

const char *guest_dev_devdir(void)
{
    const char *s = getenv("REVM_DEV_DIR");
    return s && *s ? s : "/dev";
}

void guest_dev_log(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "device: %s\n", line);
}

static int write_iov(struct iovec *iov, int n)
{
    int i = 0, rc = 0;
    pthread_mutex_lock(&out_lock);
    while (i < n) {
        ssize_t w = writev(1, iov + i, n - i);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = -1;
            break;
        }
        while (i < n && (size_t)w >= iov[i].iov_len)
            w -= (ssize_t)iov[i++].iov_len;
        if (i < n) {
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + w;
            iov[i].iov_len -= (size_t)w;
        }
    }
    pthread_mutex_unlock(&out_lock);
    return rc;
}

int guest_dev_send(uint8_t type, uint32_t tag, const void *head, size_t head_len, const void *data,
                   size_t data_len)
{
    uint8_t h[PROTO_REC_HDR];
    proto_rec_hdr(h, type, tag, head_len + data_len);
    struct iovec iov[3] = {{h, sizeof h}, {(void *)head, head_len}, {(void *)data, data_len}};
    return write_iov(iov, 3);
}

static int guest_dev_send_raw(const void *p, size_t n)
{
    struct iovec iov[1] = {{(void *)p, n}};
    return write_iov(iov, 1);
}

int guest_dev_write(const void *p, size_t n)
{
    return guest_dev_send_raw(p, n);
}

int guest_dev_read_full(int fd, void *buf, size_t n)
{
    ssize_t got = cm_read_full(fd, buf, n);
    if (got < 0)
        return -1;
    if ((size_t)got == n)
        return 1;
    return got == 0 ? 0 : -1;
}

bool guest_dev_read_line(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (!ok)
        return false;
    out[strcspn(out, "\n")] = 0;
    return true;
}

int guest_dev_main(const char *arg, uint32_t flags)
{
    if (!*arg)
        return guest_dev_inventory();
    const char *name = NULL;
    bool block = false;
    if (!strncmp(arg, "block:", 6))
        name = arg + 6, block = true;
    else if (!strncmp(arg, "net:", 4))
        name = arg + 4;
    if (!name) {
        guest_dev_log("bad argument '%s': expected \"\", block:NAME or net:NAME", arg);
        return 2;
    }
    /* Tests run the helper by hand on a file or a veth; the daemon never passes this on. */
    const char *allow = getenv("REVM_DEV_ALLOW_PATH");
    bool test = allow && !strcmp(allow, "1");
    bool path = name[0] == '/' && block && test;
    if (!path && !proto_dev_name_ok(name, strlen(name))) {
        guest_dev_log("bad device name '%s'", name);
        return 2;
    }
    if (!test && !guest_dev_offered(block, name)) {
        guest_dev_log("%s %s is not offered by this VM", block ? "disk" : "interface", name);
        return 2;
    }
    if (!block)
        return guest_dev_net(name);
    char dev[4096];
    if (path)
        snprintf(dev, sizeof dev, "%s", name);
    else
        snprintf(dev, sizeof dev, "%s/%s", guest_dev_devdir(), name);
    return guest_dev_block(dev, name, flags);
}
