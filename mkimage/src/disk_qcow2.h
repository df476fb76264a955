/* qcow2 from a raw image, written in C in one sequential pass that also hashes the
 * output, instead of `qemu-img convert` followed by a second read to checksum it.
 *
 * Format (QEMU docs/interop/qcow2.txt), version 3, 64 KiB clusters, 16-bit
 * refcounts, no compression, no backing file. Layout, all decided before writing:
 *   header cluster | L1 table | refcount table | refcount blocks | L2 tables | data
 * Data clusters are the raw image's clusters that are not all zeros, in ascending
 * guest order; everything else reads as zeros through unallocated L2 entries. The
 * output is a pure function of the raw content, so it is reproducible. */
#ifndef MKIMAGE_DISK_QCOW2_H
#define MKIMAGE_DISK_QCOW2_H

#include <stdint.h>

#include "mkerr.h"

#define DISK_QCOW2_CLUSTER 65536u

typedef struct disk_qcow2_layout {
    uint64_t virtual_clusters; /* guest size / cluster */
    uint64_t data_clusters;    /* non-zero clusters stored */
    uint64_t l1_entries, l1_clusters;
    uint64_t l2_tables;
    uint64_t refblocks, reftable_clusters;
    uint64_t total_clusters; /* file size / cluster */
} disk_qcow2_layout;

/* Computes the layout for a guest of virtual_clusters whose non-zero clusters fall
 * into l2_tables distinct 512 MiB regions (pure; unit-tested). */
void disk_qcow2_plan(uint64_t virtual_clusters, uint64_t data_clusters, uint64_t l2_tables,
                     disk_qcow2_layout *out);

/* Writes the qcow2 image of the first size bytes of raw_fd (size a multiple of the
 * cluster size) to out_fd, which must be empty, and returns its SHA-256 (lowercase
 * hex) and length. tick(ctx, bytes_written) is called as it goes (may be NULL).
 * what names the output in errors. */
int disk_qcow2_write(int raw_fd, uint64_t size, int out_fd, const char *what,
                     char sha256_hex[65], uint64_t *out_bytes,
                     void (*tick)(void *ctx, uint64_t done), void *ctx, mk_err *err);

#endif
