/* Launch profiles: one data file per VM (bridge/profiles/<vm>.ini, installed to
 * lib/revm/profiles/). A profile says what machine to start; the supervisor turns it into a
 * QEMU command line with sup_qemu_args(). Profiles are configuration a user may edit, so the
 * parser validates every value and reports "FILE:LINE: KEY: reason". */
#ifndef BRIDGE_REVMD_PROFILE_H
#define BRIDGE_REVMD_PROFILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUP_NAME_MAX 32
#define SUP_MAX_DISKS 8
#define SUP_MAX_VFIO 8
#define SUP_MAX_EMULATED 8
#define SUP_CMDLINE_MAX 1024
#define SUP_PROFILE_MAX_BYTES (64 * 1024)

enum sup_accel { SUP_ACCEL_AUTO, SUP_ACCEL_KVM, SUP_ACCEL_TCG };
enum sup_restart { SUP_RESTART_NEVER, SUP_RESTART_ON_FAILURE, SUP_RESTART_ALWAYS };
enum sup_net { SUP_NET_NONE, SUP_NET_USER };
/* [devices] display: an emulated GPU for the display service; none by default. */
enum sup_display { SUP_DISPLAY_NONE, SUP_DISPLAY_BOCHS, SUP_DISPLAY_VIRTIO_GPU };

typedef struct sup_disk {
    char path[PATH_MAX];
    bool readonly;
} sup_disk;

typedef struct sup_profile {
    char name[SUP_NAME_MAX];   /* [vm] name: [a-z0-9-], also the state directory name */
    char description[128];
    char machine[32];          /* QEMU machine type, e.g. q35 */
    unsigned cpus;             /* 1..64 */
    unsigned memory_mib;       /* 64..65536 */
    enum sup_accel accel;
    bool boot;                 /* started when the system boots (driver, filesystem) */
    enum sup_restart restart;
    unsigned restart_max_backoff_s;
    unsigned ready_timeout_s;  /* bridge HELLO expected within this time */
    unsigned stop_timeout_s;   /* ACPI power-down grace before a forced stop */
    char kernel[PATH_MAX];     /* absolute after loading: relative paths are resolved */
    char initramfs[PATH_MAX];  /* against the profile's images directory */
    char cmdline[SUP_CMDLINE_MAX];
    char disk[PATH_MAX];
    char bridge_port[64];      /* virtio-serial port name, e.g. org.redox.bridge.0 */
    enum sup_net network;
    bool net_restrict;         /* user networking with restrict=on: no traffic leaves */
    unsigned n_extra_disks;
    sup_disk extra_disks[SUP_MAX_DISKS];
    unsigned n_vfio;
    char vfio[SUP_MAX_VFIO][16]; /* PCI addresses DDDD:BB:DD.F */
    /* [devices] emulated_disk / emulated_nic: emulated hardware for the driver VM to drive
     * (tests of the device service). */
    unsigned n_emulated;
    struct sup_emulated {
        enum { SUP_EMU_NVME, SUP_EMU_SCSI, SUP_EMU_NIC } kind;
        char model[16];         /* NIC: e1000, e1000e or rtl8139 */
        char path[PATH_MAX];    /* disk: backing file (raw or qcow2) */
        unsigned lport, rport;  /* NIC: UDP on 127.0.0.1, local and peer port */
    } emulated[SUP_MAX_EMULATED];
    enum sup_display display;  /* [devices] display = none | bochs | virtio-gpu */
} sup_profile;

/* Parses profile text. images_dir resolves relative kernel/initramfs/disk paths (NULL: keep
 * them as written). source names the text in errors. Returns 0, or -1 with err filled. */
int sup_profile_parse(const char *text, size_t len, const char *source, const char *images_dir,
                      sup_profile *p, char *err, size_t errlen);

/* Reads and parses a profile file (at most SUP_PROFILE_MAX_BYTES). */
int sup_profile_load(const char *path, const char *images_dir, sup_profile *p, char *err,
                     size_t errlen);

const char *sup_accel_name(enum sup_accel a);

#endif
