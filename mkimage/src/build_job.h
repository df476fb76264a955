/* One variant's image, built in stages: derive its tree from the extracted tarball,
 * customize it, install kernel modules, write the initramfs, start the disk build
 * in the background (build_job_start); then wait for the disk, stage the kernel and
 * write the report (build_job_finish). Every output goes to the staging directory
 * (scratch.h); build_jobs_commit renames them all to their final names at the end. */
#ifndef MKIMAGE_BUILD_JOB_H
#define MKIMAGE_BUILD_JOB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "cli.h"
#include "customize_fsops.h"
#include "disk.h"
#include "fetch.h"
#include "kernel.h"
#include "kmod_resolve.h"
#include "mkerr.h"
#include "report.h"
#include "variant.h"
#include "void_repo.h"

typedef struct build_job {
    variant v;
    kmod_list initramfs_mods, rootfs_mods;
    variant_report rep;
    changelog changes;
    char seed[65];
    /* The disk stage runs in the background (disk_build_start) while the next variant is
     * prepared; these stay valid until disk_build_finish or disk_build_abort. */
    disk_job *disk;
    disk_spec ds;
    char tree[PATH_MAX * 2], qcow2[PATH_MAX * 2], disk_work[PATH_MAX * 2];
    double disk_t0;
} build_job;

/* What the jobs of one run share. */
typedef struct build_run {
    const cli_opts *o;
    const char *variants_dir, *init_bin;
    const fetch_result *fr;
    const kernel_tree *k;
    const char *base; /* the extracted tarball */
    time_t epoch;     /* seed.h */
    char first_kernel[PATH_MAX * 2]; /* the first staged kernel: the others link to it */
} build_run;

/* Resolves every job's module lists against the kernel, opening its module index
 * once: the initramfs gets the variant's modules plus the root filesystem's (fs),
 * the rootfs the variant's names and directories (items with a '/'). */
int build_jobs_resolve_modules(build_job *jobs, size_t n, const kernel_tree *k, const char *fs,
                               mk_err *err);

/* Build order into ord (n entries): variants that keep the whole tree last, so that
 * the very last one can take the base tree itself (see customize_derive.h). */
void build_jobs_order(const build_job *jobs, size_t n, size_t *ord);

/* Fills the report fields known before building (vk: the repository kernel, or
 * NULL for --kernel; the fetch and extract times are shared by the run). */
void build_job_describe(build_job *j, const build_run *r, const void_repo_kernel *vk,
                        double fetch_s, double extract_s);

/* Everything up to starting the disk build; consume: the base tree may be taken. */
int build_job_start(build_run *r, build_job *j, bool consume, mk_err *err);

/* Waits for the disk, frees the tree, stages the kernel and the report. */
int build_job_finish(build_run *r, build_job *j, mk_err *err);

/* Total seconds of the job's own stages. */
double build_job_seconds(const build_job *j);

/* Moves the staged outputs of every job to their final names in out. */
int build_jobs_commit(const char *out, const build_job *jobs, size_t n, mk_err *err);

/* Aborts a running disk build and frees the job (its variant when loaded). */
void build_job_free(build_job *j, bool variant_loaded);

#endif
