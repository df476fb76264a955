/* Filesystem image and qcow2 disk from a staged tree.
 *
 * disk_build formats a sparse raw image of size_bytes with the staged tree as its
 * content (btrfs: mkfs.btrfs --rootdir; ext4: mke2fs -d, for comparison), writes it
 * as qcow2 (disk_qcow2.h, hashing as it writes), checks the result and renames it to
 * out_qcow2 only when complete. Identical tree contents and seed give a bit-identical qcow2: UUIDs are
 * derived from (seed, label) and times from SOURCE_DATE_EPOCH or, when unset, the
 * newest mtime in the tree; mkimage-repro.so (preloaded into mkfs) removes what
 * the tools would otherwise take from the host (inode numbers, readdir order, clock,
 * random numbers). The raw image is an unnamed file (O_TMPFILE) on /dev/shm when it
 * fits, else in work_dir, so no failure, signal or SIGKILL can leave it behind.
 *
 * Environment knobs: MKIMAGE_REPRO_SO (path of the preload library, default
 * <exe dir>/../lib/revm/mkimage-repro.so), MKIMAGE_RAW_DIR (force where the raw
 * image lives), MKIMAGE_FSCK=1 (btrfs check / e2fsck on the raw image and
 * qemu-img check on the qcow2: slow, for debugging). */
#ifndef MKIMAGE_DISK_H
#define MKIMAGE_DISK_H

#include <stdint.h>

#include "mkerr.h"

typedef struct disk_spec {
    const char *tree;      /* staged root directory */
    const char *out_qcow2; /* final path; written as a temporary name first */
    const char *fs;        /* "btrfs" (default when NULL) or "ext4" */
    uint64_t size_bytes;   /* virtual disk size, e.g. 5 GiB */
    const char *label;     /* filesystem label (also varies the derived UUIDs) */
    const char *seed;      /* input digest: UUIDs and timestamps derive from it */
    const char *work_dir;  /* scratch space for the raw image when /dev/shm is too small */
} disk_spec;

typedef struct disk_stats {
    uint64_t qcow2_bytes;
    char sha256[65];
} disk_stats;

int disk_build(const disk_spec *spec, disk_stats *st, mk_err *err);

#endif
