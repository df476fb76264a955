/* Complete-or-absent outputs.
 * Every output (qcow2, kernel, initramfs, cache entry, report) is written under a
 * temporary name ".NAME.part-PID" in its final directory and renamed into place only
 * when complete. Live temporary names are registered so that SIGINT/SIGTERM/SIGHUP
 * unlink them before exiting; after SIGKILL only a ".part" name can remain, never the
 * final name, and outfile_remove_stale() clears those on the next run. */
#ifndef MKIMAGE_OUTFILE_H
#define MKIMAGE_OUTFILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mkerr.h"

typedef struct mk_outfile {
    char final_path[PATH_MAX];
    char tmp_path[PATH_MAX];
    int fd;          /* -1 when reserved only (an external tool writes tmp_path) */
    bool registered; /* listed for removal by the signal handler */
} mk_outfile;

/* Installs the signal handlers that unlink registered temporary files. Call once. */
void outfile_install_signal_handlers(void);

/* Installs handler for SIGINT, SIGTERM and SIGHUP: the interruptions after which
 * mkimage cleans up and exits. One list, so that the fakeroot parent
 * (privilege.c) passes on exactly the signals the child cleans up after. */
void outfile_on_exit_signals(void (*handler)(int));

/* Splits path at its last '/': what comes before goes to dir ("" when there is no
 * '/'), *base points at the rest, inside path. False when path does not fit dir. */
bool outfile_split_parent(const char *path, char dir[PATH_MAX], const char **base);

/* Chooses tmp_path, creates it (O_EXCL, mode 0644) and opens fd for writing. */
int outfile_open(mk_outfile *o, const char *final_path, mk_err *err);

/* Chooses and registers tmp_path without creating it, for an external tool
 * (mkfs.btrfs, qemu-img) to write; fd stays -1. */
int outfile_reserve(mk_outfile *o, const char *final_path, mk_err *err);

/* fsyncs and closes fd (if open), renames tmp_path to final_path, unregisters. */
int outfile_commit(mk_outfile *o, mk_err *err);

/* Closes fd (if open), unlinks tmp_path, unregisters. Safe to call twice. */
void outfile_abort(mk_outfile *o);

/* Copies the file src to dst through outfile_open/commit (complete or absent). */
int outfile_copy(const char *src, const char *dst, mk_err *err);

/* Removes ".*.part-PID" files in dir whose PID is no longer running. */
void outfile_remove_stale(const char *dir);

#endif
