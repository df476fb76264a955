/* `revm devices` lines (dev_inv.h). */
#include "dev_inv.h"

#include <stdio.h>

const char *dev_inv_header(void)
{
    return "KIND  NAME             DRIVER       DETAIL                         STATE";
}

static void human_size(unsigned long long b, char *out, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 5)
        v /= 1024, u++;
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void dev_inv_format(const proto_dev_info *d, char *out, size_t cap)
{
    char detail[256], size[32];
    const char *state;
    if (d->kind == PROTO_DEV_BLOCK) {
        human_size((unsigned long long)d->size, size, sizeof size);
        snprintf(detail, sizeof detail, "%s, %u-byte sectors%s%.*s", size, d->sector,
                 d->model.n ? ", " : "", (int)d->model.n, d->model.s);
        state = d->state ? "read-only" : "read-write";
    } else {
        snprintf(detail, sizeof detail, "%02x:%02x:%02x:%02x:%02x:%02x mtu %u", d->mac[0],
                 d->mac[1], d->mac[2], d->mac[3], d->mac[4], d->mac[5], d->mtu);
        state = d->state ? "link up" : "link down";
    }
    snprintf(out, cap, "%-5s %-16.*s %-12.*s %-30s %s", d->kind == PROTO_DEV_BLOCK ? "block" : "net",
             (int)d->name.n, d->name.s, d->driver.n ? (int)d->driver.n : 1,
             d->driver.n ? d->driver.s : "-", detail,
             state);
}
