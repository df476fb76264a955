/* Linux test harness for scheme services: speaks to a scheme_server the way the Redox kernel
 * does, with real 64-byte Sqe packets in and 16-byte Cqe packets out, and backs the buffer
 * addresses in the Sqes with the caller's own arrays (fake addresses, 4 GiB apart, checked to
 * the byte: a service or the server touching one byte outside a buffer gets EFAULT).
 *
 * Each scheme_h_* call builds one request, runs it through scheme_handle_packet, decodes the
 * answer and returns it: >= 0 the value (a file id, a byte count...), < 0 -errno in host
 * numbering (-ENOENT). Flags are raw Redox open flags; scheme_h_flags() builds them from
 * SCHEME_OPEN_* bits. Typical use (see scheme/README.md):
 *
 *     scheme_harness *h = scheme_harness_new("demo", &my_ops, my_svc, 0);
 *     int64_t fd = scheme_h_open(h, "dir/file", scheme_h_flags(SCHEME_OPEN_READ, 0));
 *     char buf[64];
 *     int64_t n = scheme_h_read(h, fd, buf, sizeof buf, 0);
 *     scheme_h_close(h, fd);
 *     scheme_harness_free(h);
 */
#ifndef BRIDGE_SCHEME_SCHEME_HARNESS_H
#define BRIDGE_SCHEME_SCHEME_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "scheme_abi.h"
#include "scheme_server.h"

typedef struct scheme_harness scheme_harness;

/* A server named `name` over ops/svc with harness memory. max_handles 0: the default.
 * NULL on a bad argument. */
scheme_harness *scheme_harness_new(const char *name, const scheme_ops *ops, void *svc,
                                   size_t max_handles);
/* Full control over the server config (cfg->mem is replaced by the harness memory). */
scheme_harness *scheme_harness_new_config(const scheme_server_config *cfg);
void scheme_harness_free(scheme_harness *h);
scheme_server *scheme_harness_server(scheme_harness *h);

/* Caller identity put into every following request (default uid 0, gid 0, pid 1). */
void scheme_h_set_caller(scheme_harness *h, uint32_t uid, uint32_t gid, uint64_t pid);
/* Extra (Cqe.extra[0]) of the last answer: SCHEME_FD_POSITIONED after an open. */
uint8_t scheme_h_last_fd_flags(const scheme_harness *h);
uint64_t scheme_h_root(const scheme_harness *h);
/* Tag of the last request a scheme_h_* helper sent (to complete or cancel a deferred one;
 * a deferred request's helper returns INT64_MIN). */
uint32_t scheme_h_last_tag(const scheme_harness *h);
/* Sends Cancel for `tag` (one-way, as the kernel does). Returns the decoded answer to the
 * cancelled request (-EINTR) or INT64_MIN when there was nothing to cancel. */
int64_t scheme_h_cancel(scheme_harness *h, uint32_t tag);
uint64_t scheme_h_flags(uint32_t scheme_open_flags, uint16_t mode);

/* Makes buf (len bytes) addressable for the NEXT request only; returns its fake address.
 * For scheme_h_raw users building their own Sqes. At most 8 buffers per request. */
uint64_t scheme_h_buf(scheme_harness *h, void *buf, size_t len);
/* Runs a prepared Sqe (caller fields are NOT overwritten). Returns the decoded result, or
 * INT64_MIN when the server sent no answer. *cqe (if not NULL) gets the raw answer. Clears
 * the buffers registered with scheme_h_buf. */
int64_t scheme_h_raw(scheme_harness *h, const scheme_sqe *sqe, scheme_cqe *cqe);

int64_t scheme_h_openat(scheme_harness *h, uint64_t dirfd, const char *path, uint64_t flags);
int64_t scheme_h_open(scheme_harness *h, const char *path, uint64_t flags);
int64_t scheme_h_dup(scheme_harness *h, uint64_t fd, const char *buf);
int64_t scheme_h_read(scheme_harness *h, uint64_t fd, void *buf, size_t len, uint64_t off);
int64_t scheme_h_write(scheme_harness *h, uint64_t fd, const void *buf, size_t len,
                       uint64_t off);
int64_t scheme_h_fsize(scheme_harness *h, uint64_t fd);
int64_t scheme_h_fstat(scheme_harness *h, uint64_t fd, scheme_stat *st);
int64_t scheme_h_fstatvfs(scheme_harness *h, uint64_t fd, scheme_statvfs *st);
int64_t scheme_h_fsync(scheme_harness *h, uint64_t fd);
int64_t scheme_h_ftruncate(scheme_harness *h, uint64_t fd, uint64_t len);
int64_t scheme_h_fchmod(scheme_harness *h, uint64_t fd, uint16_t mode);
int64_t scheme_h_fchown(scheme_harness *h, uint64_t fd, uint32_t uid, uint32_t gid);
int64_t scheme_h_futimens(scheme_harness *h, uint64_t fd, const scheme_timespec *t, size_t n);
int64_t scheme_h_fcntl(scheme_harness *h, uint64_t fd, uint64_t cmd, uint64_t arg);
int64_t scheme_h_fevent(scheme_harness *h, uint64_t fd, uint32_t events);
/* Writes the path NUL-terminated into buf (cap bytes, the NUL not counted in the result). */
int64_t scheme_h_fpath(scheme_harness *h, uint64_t fd, char *buf, size_t cap);
int64_t scheme_h_frename(scheme_harness *h, uint64_t fd, const char *path);
/* flags: raw unlinkat flags (SCHEME_RAW_AT_REMOVEDIR for a directory). */
int64_t scheme_h_unlinkat(scheme_harness *h, uint64_t dirfd, const char *path, uint64_t flags);
int64_t scheme_h_mmap_prep(scheme_harness *h, uint64_t fd, uint64_t off, uint64_t len,
                           uint64_t prot);
int64_t scheme_h_call(scheme_harness *h, uint64_t fd, void *payload, size_t len,
                      const uint64_t meta[3]);
/* CloseMsg (what the kernel sends when the last fd goes away): no answer; returns 0. */
int64_t scheme_h_close(scheme_harness *h, uint64_t fd);
/* One raw getdents request into buf (standard header size). Result: bytes written. */
int64_t scheme_h_getdents(scheme_harness *h, uint64_t fd, void *buf, size_t len,
                          uint64_t opaque);

/* Reads a whole directory as a caller would: getdents in chunks of bufsize bytes, continuing
 * from the last record's next_opaque_id until an empty answer. Names (NUL-terminated, up to
 * 255 bytes) and kinds go to ents (max entries). Returns the entry count or -errno (also
 * -EPROTO for a malformed record, -E2BIG for more than max entries). */
typedef struct scheme_h_dirent {
    char name[256];
    uint8_t kind;
    uint64_t inode;
} scheme_h_dirent;
int64_t scheme_h_readdir(scheme_harness *h, uint64_t fd, size_t bufsize, scheme_h_dirent *ents,
                         size_t max);

#endif
