/* Whole-buffer I/O on blocking file descriptors, safe against EINTR and short transfers: the
 * loops every program here needs and had written again and again. Builds with glibc and with
 * static musl (the guest daemon). Callers that write to sockets or pipes ignore SIGPIPE. */
#ifndef COMMON_CM_IO_H
#define COMMON_CM_IO_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all n bytes. 0, or -1 with errno. */
int cm_write_all(int fd, const void *p, size_t n);
/* Writes all n bytes to a socket without raising SIGPIPE (for libraries, whose callers may
 * not ignore it): a closed peer is -1 with EPIPE. On a non-socket it is a plain write. */
int cm_send_all(int fd, const void *p, size_t n);
/* The same at file offset off, for writers that place blocks themselves (sparse files). */
int cm_pwrite_all(int fd, const void *p, size_t n, off_t off);
/* Reads until n bytes or end of file. The count read (short only at end of file), or -1 with
 * errno. */
ssize_t cm_read_full(int fd, void *p, size_t n);
/* Reads exactly n bytes; end of file first is an error (errno ECONNRESET for a closed stream).
 * 0, or -1 with errno. */
int cm_read_exact(int fd, void *p, size_t n);
/* Positioned read of exactly n bytes at off; end of file first gives errno EIO. */
int cm_pread_exact(int fd, void *p, size_t n, off_t off);

#endif
