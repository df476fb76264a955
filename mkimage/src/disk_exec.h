/* Runs the external filesystem tools (mkfs.btrfs, mke2fs, qemu-img) for disk.c:
 * fork + exec without a shell, stdin and stdout on /dev/null, stderr captured so
 * a failure becomes one line, and a tick callback for progress while waiting. */
#ifndef MKIMAGE_DISK_EXEC_H
#define MKIMAGE_DISK_EXEC_H

#include <stddef.h>

#include "mkerr.h"

typedef struct disk_command {
    const char *const *argv; /* argv[0] is looked up in PATH */
    const char *const *env;  /* "NAME=value" entries replacing or adding to environ; NULL-terminated, may be NULL */
    int keep_fd;             /* an fd the child inherits under the same number, or -1 */
    void (*tick)(void *ctx); /* called about ten times a second while the child runs */
    void *tick_ctx;
} disk_command;

/* A started command (disk_spawn), to be ended by disk_wait or disk_kill. */
typedef struct disk_child {
    int pid;    /* -1 when none */
    int err_fd; /* read end of its stderr pipe, -1 when closed */
    char name[64];
    void (*tick)(void *ctx);
    void *tick_ctx;
} disk_child;

/* Starts the command and returns at once; its stderr collects in a pipe. */
int disk_spawn(const disk_command *cmd, disk_child *child, mk_err *err);

/* Waits for a spawned command (calling its tick while it runs) and reports its
 * failure as disk_run does. */
int disk_wait(disk_child *child, mk_err *err);

/* Kills (SIGKILL) and reaps a spawned command; safe on an ended one. */
void disk_kill(disk_child *child);

/* Runs the command to completion. On failure fills err with
 * "PROGRAM: REASON" where REASON summarizes the captured stderr (or the exit
 * status / signal when it printed nothing) and returns -1. */
int disk_run(const disk_command *cmd, mk_err *err);

/* Picks the line of a tool's stderr that best explains a failure into out (one
 * line, no "ERROR: " prefix, control characters replaced): the first "ERROR:" line
 * (btrfs-progs), else the last line that is not advice or a banner. Returns false
 * when there is no such line. Pure; exposed for unit tests. */
int disk_summarize_stderr(const char *text, size_t len, char *out, size_t out_size);

#endif
