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

/* disk_build in two halves, so that several images can be formatted at once (mkfs
 * runs as a child process) while the caller prepares the next tree:
 * disk_build_start checks the spec, scans the tree and starts mkfs, then returns;
 * disk_build_finish waits for it, writes the qcow2 and renames it into place.
 * spec (and the strings it points to) and the tree must stay unchanged until
 * finish or abort. Every started job must be finished or aborted exactly once;
 * both free it. disk_build_abort kills mkfs and leaves nothing behind. */
typedef struct disk_job disk_job;
int disk_build_start(const disk_spec *spec, disk_job **job, mk_err *err);
int disk_build_finish(disk_job *job, disk_stats *st, mk_err *err);
void disk_build_abort(disk_job *job);

#endif
