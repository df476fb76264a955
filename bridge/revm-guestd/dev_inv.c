/* The device inventory (PROTOCOL.md, Device service): what this VM offers, found in sysfs,
 * sent as DEV_ADD records, DEV_SYNC, then changes every second (hot add and remove). */
#include "dev.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"

#define INV_MAX 64
#define INV_BODY 512

typedef struct inv_entry {
    uint8_t kind;
    char name[PROTO_DEV_NAME_MAX + 1];
    uint8_t body[INV_BODY];
    size_t len;
} inv_entry;

typedef struct inv_set {
    inv_entry e[INV_MAX];
    size_t n;
} inv_set;

/* The basename of the driver a sysfs device directory is bound to, "" when none. */
static void driver_of(const char *devdir, char *out, size_t cap)
{
    char link[PATH_MAX], target[PATH_MAX];
    out[0] = 0;
    static const char *const tries[] = {"device/driver", "device/device/driver"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(link, sizeof link, "%s/%s", devdir, tries[i]);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = 0;
            const char *b = strrchr(target, '/');
            b = b ? b + 1 : target;
            if (strlen(b) < cap)
                memcpy(out, b, strlen(b) + 1);
            return;
        }
    }
}

static void clean_text(char *s, size_t max)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    if (n > max)
        s[max] = 0;
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

static bool skip_block(const char *name)
{
    static const char *const prefixes[] = {"vd", "loop", "ram", "zram", "dm-", "sr", "nbd"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

bool guest_dev_offered(bool block, const char *name)
{
    if (block)
        return !skip_block(name);
    char base[PATH_MAX], drv[128];
    if (!strcmp(name, "lo") ||
        snprintf(base, sizeof base, "%s/class/net/%s", guest_dev_sysfs(), name) >= (int)sizeof base)
        return false;
    driver_of(base, drv, sizeof drv);
    return drv[0] && strcmp(drv, "virtio_net") != 0;
}

static void add_entry(inv_set *set, uint8_t kind, const char *name, const proto_dev_info *d)
{
    if (set->n >= INV_MAX)
        return;
    inv_entry *e = &set->e[set->n];
    e->len = proto_enc_dev_add(e->body, sizeof e->body, d);
    if (!e->len)
        return;
    e->kind = kind;
    snprintf(e->name, sizeof e->name, "%s", name);
    set->n++;
}

static void scan_block(inv_set *set)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/block", guest_dev_sysfs());
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *de;
    while ((de = readdir(dp))) {
        const char *n = de->d_name;
        if (n[0] == '.' || skip_block(n) || !proto_dev_name_ok(n, strlen(n)))
            continue;
        char base[PATH_MAX], p[PATH_MAX + 64], v[256], drv[128], model[256] = "";
        if (snprintf(base, sizeof base, "%s/%s", dir, n) >= (int)sizeof base)
            continue;
        snprintf(p, sizeof p, "%s/size", base);
        if (!guest_dev_read_line(p, v, sizeof v))
            continue;
        uint64_t sectors = strtoull(v, NULL, 10);
        if (sectors == 0)
            continue;
        proto_dev_info d = {.kind = PROTO_DEV_BLOCK, .size = sectors * 512, .sector = 512};
        snprintf(p, sizeof p, "%s/queue/logical_block_size", base);
        if (guest_dev_read_line(p, v, sizeof v) && atoi(v) >= 512)
            d.sector = (uint32_t)atoi(v);
        snprintf(p, sizeof p, "%s/ro", base);
        d.state = guest_dev_read_line(p, v, sizeof v) && v[0] == '1';
        driver_of(base, drv, sizeof drv);
        clean_text(drv, PROTO_DEV_DRIVER_MAX);
        snprintf(p, sizeof p, "%s/device/model", base);
        if (guest_dev_read_line(p, model, sizeof model))
            clean_text(model, PROTO_DEV_MODEL_MAX);
        d.name = (proto_str){n, (uint32_t)strlen(n)};
        d.driver = (proto_str){drv, (uint32_t)strlen(drv)};
        d.model = (proto_str){model, (uint32_t)strlen(model)};
        add_entry(set, PROTO_DEV_BLOCK, n, &d);
    }
    closedir(dp);
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
    unsigned b[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
        return false;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    return true;
}

static void scan_net(inv_set *set)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/class/net", guest_dev_sysfs());
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *de;
    while ((de = readdir(dp))) {
        const char *n = de->d_name;
        if (n[0] == '.' || !strcmp(n, "lo") || !proto_dev_name_ok(n, strlen(n)))
            continue;
        char base[PATH_MAX], p[PATH_MAX + 64], v[256], drv[128];
        if (snprintf(base, sizeof base, "%s/%s", dir, n) >= (int)sizeof base)
            continue;
        snprintf(p, sizeof p, "%s/type", base);
        if (!guest_dev_read_line(p, v, sizeof v) || atoi(v) != 1) /* ARPHRD_ETHER */
            continue;
        driver_of(base, drv, sizeof drv);
        /* Only hardware NICs; virtio-net is the VM's own plumbing, not a device to offer. */
        if (!drv[0] || !strcmp(drv, "virtio_net"))
            continue;
        clean_text(drv, PROTO_DEV_DRIVER_MAX);
        proto_dev_info d = {.kind = PROTO_DEV_NET, .mtu = 1500};
        snprintf(p, sizeof p, "%s/address", base);
        if (!guest_dev_read_line(p, v, sizeof v) || !parse_mac(v, d.mac))
            continue;
        snprintf(p, sizeof p, "%s/mtu", base);
        if (guest_dev_read_line(p, v, sizeof v))
            d.mtu = (uint32_t)strtoul(v, NULL, 10);
        snprintf(p, sizeof p, "%s/carrier", base);
        d.state = guest_dev_read_line(p, v, sizeof v) && v[0] == '1';
        d.name = (proto_str){n, (uint32_t)strlen(n)};
        d.driver = (proto_str){drv, (uint32_t)strlen(drv)};
        d.model = (proto_str){"", 0};
        add_entry(set, PROTO_DEV_NET, n, &d);
    }
    closedir(dp);
}

static const inv_entry *find(const inv_set *s, uint8_t kind, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->e[i].kind == kind && !strcmp(s->e[i].name, name))
            return &s->e[i];
    return NULL;
}

int guest_dev_inventory(void)
{
    static inv_set sets[2];
    inv_set *cur = &sets[0], *next = &sets[1];
    cur->n = 0;
    scan_block(cur);
    scan_net(cur);
    for (size_t i = 0; i < cur->n; i++)
        if (guest_dev_send(PROTO_DEV_ADD, 0, cur->e[i].body, cur->e[i].len, NULL, 0) < 0)
            return 0;
    if (guest_dev_send(PROTO_DEV_SYNC, 0, NULL, 0, NULL, 0) < 0)
        return 0;
    for (;;) {
        /* The host sends nothing here: any input is drained, end of input ends the helper. */
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        int r = poll(&pfd, 1, 1000);
        if (r < 0 && errno != EINTR)
            return 1;
        if (r > 0) {
            char junk[4096];
            ssize_t k = read(0, junk, sizeof junk);
            if (k <= 0)
                return 0;
        }
        next->n = 0;
        scan_block(next);
        scan_net(next);
        for (size_t i = 0; i < cur->n; i++) {
            if (!find(next, cur->e[i].kind, cur->e[i].name)) {
                uint8_t b[128];
                size_t n = proto_enc_dev_remove(b, sizeof b, cur->e[i].kind, cur->e[i].name,
                                                strlen(cur->e[i].name));
                if (n && guest_dev_send(PROTO_DEV_REMOVE, 0, b, n, NULL, 0) < 0)
                    return 0;
            }
        }
        for (size_t i = 0; i < next->n; i++) {
            const inv_entry *old = find(cur, next->e[i].kind, next->e[i].name);
            if (!old || old->len != next->e[i].len || memcmp(old->body, next->e[i].body, old->len))
                if (guest_dev_send(PROTO_DEV_ADD, 0, next->e[i].body, next->e[i].len, NULL, 0) < 0)
                    return 0;
        }
        inv_set *t = cur;
        cur = next;
        next = t;
    }
}
