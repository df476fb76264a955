#include "profile.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* inih calls on_key() per key; the first failure is kept here and stops the parse. */
typedef struct parse_state {
    sup_profile *p;
    const char *images_dir;
    char why[300];
    bool seen_name, seen_kernel, seen_initramfs, seen_disk;
} parse_state;

static int bad(parse_state *st, const char *key, const char *fmt, const char *value)
{
    char reason[160];
    snprintf(reason, sizeof reason, fmt, value);
    snprintf(st->why, sizeof st->why, "%.80s: %.160s", key, reason);
    return 0;
}

static bool copy_str(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n >= cap)
        return false;
    memcpy(dst, v, n + 1);
    return true;
}

static bool parse_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
    if (!isdigit((unsigned char)*v))
        return false;
    errno = 0;
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (errno || *end || x < lo || x > hi)
        return false;
    *out = (unsigned)x;
    return true;
}

static bool parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
        return *out = true, true;
    if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
        return *out = false, true;
    return false;
}

/* Memory as "1024", "1024M" or "2G", in MiB. */
static bool parse_memory(const char *v, unsigned *mib)
{
    char num[16];
    size_t n = strspn(v, "0123456789");
    if (n == 0 || n >= sizeof num)
        return false;
    memcpy(num, v, n);
    num[n] = 0;
    unsigned long x = strtoul(num, NULL, 10);
    if (!strcmp(v + n, "G"))
        x *= 1024;
    else if (v[n] && strcmp(v + n, "M"))
        return false;
    if (x < 64 || x > 65536)
        return false;
    *mib = (unsigned)x;
    return true;
}

static bool valid_name(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= SUP_NAME_MAX || v[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)v[i]) && !isdigit((unsigned char)v[i]) && v[i] != '-')
            return false;
    return true;
}

/* QEMU splits -drive and -chardev options on ',' and a path containing one would inject
 * options, so paths with ',' (and control characters) are refused rather than escaped. */
static bool safe_for_qemu_option(const char *v)
{
    for (const char *c = v; *c; c++)
        if (*c == ',' || iscntrl((unsigned char)*c))
            return false;
    return *v != 0;
}

static bool resolve_path(parse_state *st, char *dst, const char *v)
{
    if (!safe_for_qemu_option(v))
        return false;
    if (v[0] == '/' || !st->images_dir)
        return copy_str(dst, PATH_MAX, v);
    int n = snprintf(dst, PATH_MAX, "%s/%s", st->images_dir, v);
    return n > 0 && n < PATH_MAX;
}

static bool valid_pci_address(const char *v)
{
    /* DDDD:BB:DD.F, hex digits */
    static const char shape[] = "hhhh:hh:hh.h";
    if (strlen(v) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'h' ? !isxdigit((unsigned char)v[i]) : v[i] != shape[i])
            return false;
    }
    return true;
}

static int on_vm_key(parse_state *st, const char *k, const char *v)
{
    sup_profile *p = st->p;
    if (!strcmp(k, "name")) {
        if (!valid_name(v))
            return bad(st, k, "'%s' is not a VM name (a-z, 0-9, '-', at most 31)", v);
        st->seen_name = true;
        return copy_str(p->name, sizeof p->name, v);
    }
    if (!strcmp(k, "description"))
        return copy_str(p->description, sizeof p->description, v) ? 1 : bad(st, k, "too long%s", "");
    if (!strcmp(k, "machine")) {
        for (const char *c = v; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != '_')
                return bad(st, k, "'%s' is not a machine type", v);
        return copy_str(p->machine, sizeof p->machine, v) && *v ? 1 : bad(st, k, "'%s' is not a machine type", v);
    }
    if (!strcmp(k, "cpus"))
        return parse_uint(v, 1, 64, &p->cpus) ? 1 : bad(st, k, "'%s' is not 1..64", v);
    if (!strcmp(k, "memory"))
        return parse_memory(v, &p->memory_mib) ? 1 : bad(st, k, "'%s' is not 64M..64G", v);
    if (!strcmp(k, "accel")) {
        if (!strcmp(v, "auto")) p->accel = SUP_ACCEL_AUTO;
        else if (!strcmp(v, "kvm")) p->accel = SUP_ACCEL_KVM;
        else if (!strcmp(v, "tcg")) p->accel = SUP_ACCEL_TCG;
        else return bad(st, k, "'%s' is not auto, kvm or tcg", v);
        return 1;
    }
    if (!strcmp(k, "boot"))
        return parse_bool(v, &p->boot) ? 1 : bad(st, k, "'%s' is not yes or no", v);
    if (!strcmp(k, "restart")) {
        if (!strcmp(v, "never")) p->restart = SUP_RESTART_NEVER;
        else if (!strcmp(v, "on-failure")) p->restart = SUP_RESTART_ON_FAILURE;
        else if (!strcmp(v, "always")) p->restart = SUP_RESTART_ALWAYS;
        else return bad(st, k, "'%s' is not never, on-failure or always", v);
        return 1;
    }
    if (!strcmp(k, "restart_max_backoff"))
        return parse_uint(v, 1, 3600, &p->restart_max_backoff_s) ? 1 : bad(st, k, "'%s' is not 1..3600 seconds", v);
    if (!strcmp(k, "ready_timeout"))
        return parse_uint(v, 1, 3600, &p->ready_timeout_s) ? 1 : bad(st, k, "'%s' is not 1..3600 seconds", v);
    if (!strcmp(k, "stop_timeout"))
        return parse_uint(v, 1, 3600, &p->stop_timeout_s) ? 1 : bad(st, k, "'%s' is not 1..3600 seconds", v);
    return bad(st, k, "unknown key in [vm]%s", "");
}

static int on_boot_key(parse_state *st, const char *k, const char *v)
{
    sup_profile *p = st->p;
    if (!strcmp(k, "kernel")) {
        st->seen_kernel = true;
        return resolve_path(st, p->kernel, v) ? 1 : bad(st, k, "'%s' is not a usable path", v);
    }
    if (!strcmp(k, "initramfs")) {
        st->seen_initramfs = true;
        return resolve_path(st, p->initramfs, v) ? 1 : bad(st, k, "'%s' is not a usable path", v);
    }
    if (!strcmp(k, "cmdline")) {
        for (const char *c = v; *c; c++)
            if (iscntrl((unsigned char)*c))
                return bad(st, k, "control character in command line%s", "");
        return copy_str(p->cmdline, sizeof p->cmdline, v) ? 1 : bad(st, k, "too long%s", "");
    }
    return bad(st, k, "unknown key in [boot]%s", "");
}

static int on_disk_key(parse_state *st, const char *k, const char *v)
{
    sup_profile *p = st->p;
    if (!strcmp(k, "image")) {
        st->seen_disk = true;
        return resolve_path(st, p->disk, v) ? 1 : bad(st, k, "'%s' is not a usable path", v);
    }
    if (!strcmp(k, "extra") || !strcmp(k, "extra_readonly")) {
        if (p->n_extra_disks >= SUP_MAX_DISKS)
            return bad(st, k, "more than %s extra disks", "8");
        sup_disk *d = &p->extra_disks[p->n_extra_disks];
        if (!resolve_path(st, d->path, v))
            return bad(st, k, "'%s' is not a usable path", v);
        d->readonly = !strcmp(k, "extra_readonly");
        p->n_extra_disks++;
        return 1;
    }
    return bad(st, k, "unknown key in [disk]%s", "");
}

/* emulated_disk = nvme:PATH | scsi:PATH; emulated_nic = MODEL:LOCAL_PORT:PEER_PORT (a UDP
 * socket netdev on 127.0.0.1 only, so test traffic never leaves the machine). */
static int on_emulated_key(parse_state *st, const char *k, const char *v)
{
    sup_profile *p = st->p;
    if (p->n_emulated >= SUP_MAX_EMULATED)
        return bad(st, k, "more than %s emulated devices", "8");
    struct sup_emulated *e = &p->emulated[p->n_emulated];
    memset(e, 0, sizeof *e);
    if (!strcmp(k, "emulated_disk")) {
        if (!strncmp(v, "nvme:", 5))
            e->kind = SUP_EMU_NVME;
        else if (!strncmp(v, "scsi:", 5))
            e->kind = SUP_EMU_SCSI;
        else
            return bad(st, k, "'%s' is not nvme:PATH or scsi:PATH", v);
        if (!v[5] || !resolve_path(st, e->path, v + 5))
            return bad(st, k, "'%s' is not a usable path", v + 5);
    } else {
        char model[16];
        unsigned lp, rp;
        int used = 0;
        if (sscanf(v, "%15[a-z0-9]:%u:%u%n", model, &lp, &rp, &used) != 3 || v[used] ||
            (strcmp(model, "e1000") && strcmp(model, "e1000e") && strcmp(model, "rtl8139")) ||
            lp < 1 || lp > 65535 || rp < 1 || rp > 65535 || lp == rp)
            return bad(st, k, "'%s' is not MODEL:LOCAL_PORT:PEER_PORT (e1000, e1000e or rtl8139)", v);
        e->kind = SUP_EMU_NIC;
        memcpy(e->model, model, sizeof model);
        e->lport = lp;
        e->rport = rp;
    }
    p->n_emulated++;
    return 1;
}

static int on_devices_key(parse_state *st, const char *k, const char *v)
{
    sup_profile *p = st->p;
    if (!strcmp(k, "bridge_port")) {
        for (const char *c = v; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-' && *c != '_')
                return bad(st, k, "'%s' is not a port name", v);
        return copy_str(p->bridge_port, sizeof p->bridge_port, v) && *v ? 1 : bad(st, k, "'%s' is not a port name", v);
    }
    if (!strcmp(k, "network")) {
        if (!strcmp(v, "none")) p->network = SUP_NET_NONE;
        else if (!strcmp(v, "user")) p->network = SUP_NET_USER;
        else return bad(st, k, "'%s' is not none or user", v);
        return 1;
    }
    if (!strcmp(k, "display")) {
        if (!strcmp(v, "none")) p->display = SUP_DISPLAY_NONE;
        else if (!strcmp(v, "bochs")) p->display = SUP_DISPLAY_BOCHS;
        else if (!strcmp(v, "virtio-gpu")) p->display = SUP_DISPLAY_VIRTIO_GPU;
        else return bad(st, k, "'%s' is not none, bochs or virtio-gpu", v);
        return 1;
    }
    if (!strcmp(k, "network_restrict"))
        return parse_bool(v, &p->net_restrict) ? 1 : bad(st, k, "'%s' is not yes or no", v);
    if (!strcmp(k, "vfio")) {
        if (p->n_vfio >= SUP_MAX_VFIO)
            return bad(st, k, "more than %s passthrough devices", "8");
        if (!valid_pci_address(v))
            return bad(st, k, "'%s' is not a PCI address DDDD:BB:DD.F", v);
        memcpy(p->vfio[p->n_vfio++], v, strlen(v) + 1);
        return 1;
    }
    if (!strcmp(k, "emulated_disk") || !strcmp(k, "emulated_nic"))
        return on_emulated_key(st, k, v);
    return bad(st, k, "unknown key in [devices]%s", "");
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    parse_state *st = user;
    if (!strcmp(section, "vm"))
        return on_vm_key(st, name, value);
    if (!strcmp(section, "boot"))
        return on_boot_key(st, name, value);
    if (!strcmp(section, "disk"))
        return on_disk_key(st, name, value);
    if (!strcmp(section, "devices"))
        return on_devices_key(st, name, value);
    char what[96];
    snprintf(what, sizeof what, "[%.40s] %.40s", section, name);
    return bad(st, what, "unknown section%s", "");
}

static void set_defaults(sup_profile *p)
{
    memset(p, 0, sizeof *p);
    strcpy(p->machine, "q35");
    p->cpus = 1;
    p->memory_mib = 512;
    p->accel = SUP_ACCEL_AUTO;
    p->restart = SUP_RESTART_NEVER;
    p->restart_max_backoff_s = 60;
    p->ready_timeout_s = 120;
    p->stop_timeout_s = 30;
    strcpy(p->cmdline, "console=ttyS0 root=/dev/vda rootfstype=btrfs rw");
    strcpy(p->bridge_port, "org.redox.bridge.0");
    p->network = SUP_NET_NONE;
    p->net_restrict = false;
}

int sup_profile_parse(const char *text, size_t len, const char *source, const char *images_dir,
                      sup_profile *p, char *err, size_t errlen)
{
    set_defaults(p);
    if (len > SUP_PROFILE_MAX_BYTES || memchr(text, 0, len)) {
        snprintf(err, errlen, "%s: not a profile (binary or larger than 64 KiB)", source);
        return -1;
    }
    /* ini_parse_string needs a terminated string; len is bounded above. */
    char *copy = malloc(len + 1);
    if (!copy) {
        snprintf(err, errlen, "%s: out of memory", source);
        return -1;
    }
    memcpy(copy, text, len);
    copy[len] = 0;
    parse_state st = {.p = p, .images_dir = images_dir};
    int line = ini_parse_string(copy, on_key, &st);
    free(copy);
    if (line != 0) {
        if (st.why[0])
            snprintf(err, errlen, "%s:%d: %s", source, line, st.why);
        else
            snprintf(err, errlen, "%s:%d: syntax error", source, line);
        return -1;
    }
    const char *missing = !st.seen_name ? "[vm] name" : !st.seen_kernel ? "[boot] kernel"
                        : !st.seen_initramfs ? "[boot] initramfs" : !st.seen_disk ? "[disk] image" : NULL;
    if (missing) {
        snprintf(err, errlen, "%s: missing %s", source, missing);
        return -1;
    }
    if (p->n_vfio && strcmp(p->machine, "q35")) {
        snprintf(err, errlen, "%s: vfio passthrough needs machine q35", source);
        return -1;
    }
    return 0;
}

int sup_profile_load(const char *path, const char *images_dir, sup_profile *p, char *err,
                     size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    /* Read one byte more than allowed so an oversized file is detected, not truncated. */
    char *buf = malloc(SUP_PROFILE_MAX_BYTES + 1);
    size_t len = 0;
    ssize_t n = 0;
    while (buf && len <= SUP_PROFILE_MAX_BYTES &&
           (n = read(fd, buf + len, SUP_PROFILE_MAX_BYTES + 1 - len)) > 0)
        len += (size_t)n;
    int e = errno;
    close(fd);
    if (!buf || n < 0) {
        snprintf(err, errlen, "%s: %s", path, buf ? strerror(e) : "out of memory");
        free(buf);
        return -1;
    }
    int rc = sup_profile_parse(buf, len, path, images_dir, p, err, errlen);
    free(buf);
    return rc;
}

const char *sup_accel_name(enum sup_accel a)
{
    return a == SUP_ACCEL_KVM ? "kvm" : a == SUP_ACCEL_TCG ? "tcg" : "auto";
}
