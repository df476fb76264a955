/* Files as wholes: a bounded read of a whole file, mkdir -p, and complete-or-absent writes
 * (temporary name, fsync, rename), which every output of this project must be. */
#ifndef COMMON_CM_FILE_H
#define COMMON_CM_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Reads the whole regular file into a malloc'd buffer with a NUL after the data. NULL with
 * errno: EFBIG when the file is larger than max bytes (nothing larger is ever allocated),
 * EINVAL when it is not a regular file (a FIFO would block, a device never end). */
char *cm_read_file(const char *path, size_t max, size_t *len);
/* The same into the caller's buffer (no allocation: the guest daemon's way). The length, or
 * -1 with errno (EFBIG: larger than max; EINVAL: not a regular file). */
ssize_t cm_read_file_buf(const char *path, void *buf, size_t max);
/* Creates path and its missing parents with mode. 0, or -1 with errno. */
int cm_mkdir_p(const char *path, mode_t mode);
/* Writes data to path completely or not at all: a hidden temporary file beside it
 * (.NAME.tmp-PID), fsync, rename.
 * 0, or -1 with errno (the temporary file is removed). */
int cm_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

#endif
