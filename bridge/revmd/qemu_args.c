#include "qemu_args.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add(sup_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int add(sup_argv *a, const char *fmt, ...)
{
    if (a->n >= SUP_ARGV_MAX)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
    return 0;
}

void sup_argv_free(sup_argv *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    a->n = 0;
    a->v[0] = NULL;
}

/* qcow2 images are named *.qcow2; anything else (extra data disks) is passed raw, because
 * letting QEMU probe the format of a guest-writable image is a known escape hatch. */
static const char *disk_format(const char *path)
{
    size_t n = strlen(path);
    return n > 6 && !strcmp(path + n - 6, ".qcow2") ? "qcow2" : "raw";
}

int sup_qemu_args(const sup_profile *p, const sup_launch *l, sup_argv *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (l->accel == SUP_ACCEL_AUTO) {
        snprintf(err, errlen, "%s: accelerator not resolved", p->name);
        return -1;
    }
    bool kvm = l->accel == SUP_ACCEL_KVM;
    int rc = 0;
    rc |= add(out, "%s", l->qemu);
    rc |= add(out, "-name");
    rc |= add(out, "%s", p->name);
    rc |= add(out, "-machine");
    rc |= add(out, "%s", p->machine);
    rc |= add(out, "-accel");
    /* Multi-threaded TCG lets a 2-vCPU guest use 2 host cores when there is no KVM. */
    rc |= add(out, "%s", kvm ? "kvm" : "tcg,thread=multi");
    rc |= add(out, "-cpu");
    rc |= add(out, "%s", kvm ? "host" : "max");
    rc |= add(out, "-smp");
    rc |= add(out, "%u", p->cpus);
    rc |= add(out, "-m");
    rc |= add(out, "%uM", p->memory_mib);
    /* No default devices, no user config, no display: everything the VM has is listed here. */
    rc |= add(out, "-nodefaults");
    rc |= add(out, "-no-user-config");
    rc |= add(out, "-display");
    rc |= add(out, "none");
    /* A guest reboot ends QEMU; the supervisor's restart policy decides what happens next. */
    rc |= add(out, "-no-reboot");
    rc |= add(out, "-kernel");
    rc |= add(out, "%s", p->kernel);
    rc |= add(out, "-initrd");
    rc |= add(out, "%s", p->initramfs);
    rc |= add(out, "-append");
    rc |= add(out, "%s", p->cmdline);
    /* file.locking=on (QEMU's OFD image locks): a second QEMU cannot open the image for
     * writing, whoever started it, on top of the supervisor's own per-VM lock. */
    rc |= add(out, "-drive");
    rc |= add(out, "file=%s,if=none,id=root,format=%s,cache=writeback,discard=unmap,file.locking=on",
              p->disk, disk_format(p->disk));
    rc |= add(out, "-device");
    rc |= add(out, "virtio-blk-pci,drive=root");
    for (unsigned i = 0; i < p->n_extra_disks; i++) {
        const sup_disk *d = &p->extra_disks[i];
        rc |= add(out, "-drive");
        rc |= add(out, "file=%s,if=none,id=disk%u,format=%s,file.locking=on%s", d->path, i + 1,
                  disk_format(d->path), d->readonly ? ",readonly=on" : "");
        rc |= add(out, "-device");
        rc |= add(out, "virtio-blk-pci,drive=disk%u,serial=revm-disk%u", i + 1, i + 1);
    }
    /* The bridge: a plain virtio-serial port (Redox has no vhost). QEMU is the socket server so
     * the supervisor can reconnect at any time without restarting the VM. */
    rc |= add(out, "-device");
    rc |= add(out, "virtio-serial-pci,id=vser");
    rc |= add(out, "-chardev");
    rc |= add(out, "socket,id=bridge,path=%s/bridge.sock,server=on,wait=off", l->state_dir);
    rc |= add(out, "-device");
    rc |= add(out, "virtserialport,bus=vser.0,chardev=bridge,name=%s", p->bridge_port);
    /* Serial console: a socket for `revm console`, and a log file kept in the state dir. */
    rc |= add(out, "-chardev");
    rc |= add(out, "socket,id=console,path=%s/console.sock,server=on,wait=off,logfile=%s/console.log,logappend=on",
              l->state_dir, l->state_dir);
    rc |= add(out, "-serial");
    rc |= add(out, "chardev:console");
    rc |= add(out, "-qmp");
    rc |= add(out, "unix:%s/qmp.sock,server=on,wait=off", l->state_dir);
    if (p->network == SUP_NET_USER) {
        bool restrict_ = p->net_restrict || l->force_net_restrict;
        rc |= add(out, "-netdev");
        rc |= add(out, "user,id=net0%s", restrict_ ? ",restrict=on" : "");
        rc |= add(out, "-device");
        rc |= add(out, "virtio-net-pci,netdev=net0");
    }
    /* An emulated GPU the guest drives with DRM/KMS (display service); its picture is what
     * QMP screendump shows, -display none stays. */
    if (p->display != SUP_DISPLAY_NONE) {
        rc |= add(out, "-device");
        rc |= add(out, "%s", p->display == SUP_DISPLAY_BOCHS ? "bochs-display" : "virtio-gpu-pci");
    }
    /* Emulated hardware for the driver VM (device service tests): NVMe and virtio-scsi disks,
     * NICs on a loopback UDP socket. */
    bool scsi_bus = false;
    for (unsigned i = 0; i < p->n_emulated; i++) {
        const struct sup_emulated *e = &p->emulated[i];
        if (e->kind == SUP_EMU_NIC) {
            rc |= add(out, "-netdev");
            rc |= add(out, "socket,id=emunet%u,udp=127.0.0.1:%u,localaddr=127.0.0.1:%u", i, e->rport, e->lport);
            rc |= add(out, "-device");
            rc |= add(out, "%s,netdev=emunet%u,mac=52:54:00:be:ef:%02x", e->model, i, i);
            continue;
        }
        rc |= add(out, "-drive");
        rc |= add(out, "file=%s,if=none,id=emu%u,format=%s,cache=writeback,file.locking=on", e->path, i,
                  disk_format(e->path));
        if (e->kind == SUP_EMU_NVME) {
            rc |= add(out, "-device");
            rc |= add(out, "nvme,drive=emu%u,serial=revm-emu%u", i, i);
        } else {
            if (!scsi_bus) {
                rc |= add(out, "-device");
                rc |= add(out, "virtio-scsi-pci,id=emuscsi");
                scsi_bus = true;
            }
            rc |= add(out, "-device");
            rc |= add(out, "scsi-hd,drive=emu%u,bus=emuscsi.0,serial=revm-emu%u", i, i);
        }
    }
    for (unsigned i = 0; i < p->n_vfio; i++) {
        rc |= add(out, "-device");
        rc |= add(out, "vfio-pci,host=%s", p->vfio[i]);
    }
    if (l->paused)
        rc |= add(out, "-S");
    if (rc) {
        sup_argv_free(out);
        snprintf(err, errlen, "%s: QEMU command line too long", p->name);
        return -1;
    }
    return 0;
}
