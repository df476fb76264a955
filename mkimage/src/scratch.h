/* A run's scratch space, removed on every exit path.
 * Outputs are first written into a hidden staging directory inside OUT
 * (OUT/.mkimage-PID, same filesystem, so the final renames are atomic); the staged
 * trees live in a work directory (OUT/.mkimage-PID/work, or DIR/mkimage-PID with
 * --work DIR). Both go away however the run ends: removed by mkimage itself on
 * success and on error, and by a janitor process (see scratch.c) moments after a
 * signal or even SIGKILL ended it. Should the janitor be stopped too, the names are
 * hidden or PID-named, never a final output name, and the next run removes the
 * ones whose process is gone. */
#ifndef MKIMAGE_SCRATCH_H
#define MKIMAGE_SCRATCH_H

#include "mkerr.h"

/* Creates OUT (mkdir -p), clears stale scratch of dead runs, creates the staging
 * and work directories. work_parent may be NULL. */
int scratch_create(const char *out, const char *work_parent, mk_err *err);

const char *scratch_staging_dir(void);
const char *scratch_work_dir(void);

/* Installs outfile's handlers (temporary output names are unlinked on SIGINT,
 * SIGTERM, SIGHUP). */
void scratch_install_signal_handlers(void);

/* Removes both directories (idempotent). */
void scratch_remove(void);

/* rm -rf, also through read-only directories (a rootfs has some). */
void scratch_rm_tree(const char *path);

int scratch_mkdir_p(const char *path, mk_err *err);

#endif
