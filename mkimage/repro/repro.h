/* mkimage-repro.so: preloaded into mkfs.btrfs / mke2fs so that the same staged tree
 * and seed give a bit-identical filesystem image.
 *
 * Why a preload: btrfs-progs 6.2 `mkfs.btrfs --rootdir` (Debian 12) has no option for
 * any of this. It takes each btrfs inode number from the host's st_ino, walks every
 * directory in scandir() order without a comparator (i.e. on-disk readdir order),
 * copies st_atime/st_ctime from the host (ctime = when the tree was extracted), stamps
 * the root directory and tree roots with time(), and fills the chunk-tree, device and
 * subvolume UUIDs from uuid_generate(). Each of those calls is answered here from
 * the seed instead. Configuration comes from the environment (set by disk.c):
 *   REVM_REPRO_SEED    any string (the pipeline's input digest); unset = pass-through
 *   SOURCE_DATE_EPOCH  seconds; the wall clock and every atime/ctime read this value
 *   REVM_REPRO_TREE    the staged tree; only files on its device are renumbered
 *   REVM_REPRO_FAST_IO set to 1 for mkfs.btrfs: batch its 4 KiB reads and writes
 *                      (repro_io.c)
 *   REVM_REPRO_CLAMP_AFTER  seconds; a tree entry modified at or after this time was
 *                      written by the current mkimage run, so its mtime (which
 *                      would change every run) reads as SOURCE_DATE_EPOCH
 * Each interposed function calls the next definition (dlsym RTLD_NEXT), so this
 * library composes with fakeroot's when it comes first in LD_PRELOAD. */
#ifndef MKIMAGE_REPRO_H
#define MKIMAGE_REPRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

typedef struct repro_config {
    bool active;       /* REVM_REPRO_SEED was set */
    time_t epoch;      /* SOURCE_DATE_EPOCH */
    bool tree_dev_set; /* REVM_REPRO_TREE could be stat'ed */
    dev_t tree_dev;
    time_t clamp_after; /* 0: no clamping */
    bool fast_io;
} repro_config;

/* Reads the environment once (thread-safe) and returns the configuration. */
const repro_config *repro_get(void);

/* The next definition of a symbol after this library (fakeroot's or libc's).
 * Aborts with a message when there is none: an interposer cannot fall back. */
void *repro_next(const char *name);

/* Deterministic pseudo-random bytes: one stream per process, seeded from
 * REVM_REPRO_SEED, consumed in call order (the tools' call order is deterministic). */
void repro_random_bytes(void *buf, size_t len);

/* Maps a host (st_dev, st_ino) to a small number given in first-seen order; the
 * same pair always gets the same number, so hard links stay shared. */
ino_t repro_map_inode(dev_t dev, ino_t ino);

/* Records a device node's host st_rdev under its mapped inode number, for the
 * btrfs rdev fix-up in repro_rdev.c. */
void repro_note_device(ino_t mapped, dev_t rdev);

/* For a block mkfs is about to write: a patched copy (caller frees) when it is an
 * fs-tree leaf whose device inodes need their rdev, else NULL. */
unsigned char *repro_patch_block(const void *buf, size_t n);

/* CRC-32C as btrfs checksums tree blocks. */
uint32_t repro_crc32c(const void *data, size_t len);

#endif
