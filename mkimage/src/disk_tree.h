/* One quick pass over the staged tree before mkfs: how much space the image will
 * need (to place the raw image on tmpfs when it fits and to refuse early when the
 * output directory is too small) and the newest mtime (the default image time). */
#ifndef MKIMAGE_DISK_TREE_H
#define MKIMAGE_DISK_TREE_H

#include <stdint.h>
#include <time.h>

#include "mkerr.h"

typedef struct disk_tree_info {
    uint64_t inodes;     /* every entry, the root included */
    uint64_t data_bytes; /* regular file sizes rounded up to 4 KiB */
    uint64_t estimate;   /* bytes the filesystem will occupy: data + metadata */
    time_t newest_mtime; /* newest mtime older than created_after (0: none) */
    uint64_t created;    /* entries with mtime >= created_after */
} disk_tree_info;

/* created_after: entries modified at or after this time were made by the current
 * run (customization), not taken from the inputs; 0 counts everything as input. */
int disk_tree_scan(const char *tree, time_t created_after, disk_tree_info *out, mk_err *err);

/* The estimate from counts alone (pure; unit-tested). */
uint64_t disk_tree_estimate(uint64_t inodes, uint64_t data_bytes);

#endif
