/* What mkimage tells about each image it built: a JSON report per variant
 * (OUT/V.report.json, written complete-or-absent) and a summary table on stdout. */
#ifndef MKIMAGE_REPORT_H
#define MKIMAGE_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "customize_fsops.h"
#include "mkerr.h"

enum report_stage {
    STAGE_FETCH,     /* shared by all variants of a run */
    STAGE_EXTRACT,   /* shared */
    STAGE_DERIVE,
    STAGE_CUSTOMIZE,
    STAGE_MODULES,
    STAGE_INITRAMFS,
    STAGE_DISK,
    STAGE_KERNEL,
    STAGE_COUNT
};

const char *report_stage_name(enum report_stage s);

typedef struct variant_report {
    const char *variant, *hostname;
    const char *rootfs_url, *rootfs_sha256, *rootfs_blake3;
    const char *kernel_version, *fs, *seed;
    /* The repository kernel package (void_repo.h); all NULL for --kernel. */
    const char *kernel_pkg_name, *kernel_pkg_version, *kernel_pkg_url, *kernel_pkg_sha256,
        *kernel_pkg_blake3, *kernel_pkg_key;
    uint64_t files, entries, staged_bytes; /* the customized tree */
    uint64_t qcow2_bytes;
    char qcow2_sha256[65];
    uint64_t kernel_modules, initramfs_modules;
    double seconds[STAGE_COUNT];
    const changelog *changes; /* paths customization created, replaced or removed */
} variant_report;

/* Renders the JSON document (malloc'd, NUL-terminated) or NULL when out of memory. */
char *report_json(const variant_report *r);

/* Writes report_json(r) to path through outfile.h. */
int report_write(const char *path, const variant_report *r, mk_err *err);

/* One line per variant: name, files, staged size, qcow2 size, checksum, time. */
void report_print_table(FILE *f, const variant_report *rs, size_t n);

#endif
