/* A Redox scheme as a C ops table: the dispatcher turns one request packet (Sqe) into one call
 * of the service's ops and the answer into one response packet (Cqe).
 *
 * The service sees no Redox types: paths are normalized NUL-terminated strings relative to the
 * scheme root, buffers are plain pointers with lengths, errors are negative host errno values
 * (-ENOENT). The server owns the table of open files: the kernel names files by small ids, the
 * service by its own void * handles. Each open file also remembers its path, so openat relative
 * to a directory, fpath and the no-escape rule are the server's job, not each service's.
 *
 * Caller buffers are reached through a scheme_mem: on Redox the Sqe addresses are already
 * mapped into the daemon (scheme_mem_direct); the Linux harness (scheme_harness.h) backs them
 * with its own arrays.
 *
 * Not thread-safe: one server is driven by one loop. */
#ifndef BRIDGE_SCHEME_SCHEME_SERVER_H
#define BRIDGE_SCHEME_SCHEME_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheme_abi.h"

/* Longest path the server accepts (bytes, before normalization) and keeps per handle. */
#define SCHEME_PATH_MAX 4096
/* Default bounds (scheme_server_config zeros mean these). */
#define SCHEME_DEFAULT_MAX_HANDLES 256
#define SCHEME_DEFAULT_MAX_IO (1u << 20)
/* Hard limit on max_handles: ids stay small and the table allocation bounded. */
#define SCHEME_MAX_HANDLES_LIMIT 65536

typedef struct scheme_caller {
    uint32_t uid, gid;
    uint64_t pid;
    uint32_t tag;    /* the request's tag: what a deferred answer names (see SCHEME_PENDING) */
} scheme_caller;

/* read, write and call may return SCHEME_PENDING instead of a result: the request stays open
 * (on Redox the caller blocks and its buffer stays mapped) until the service answers it with
 * scheme_server_complete(c->tag, ...), e.g. when a network frame arrives. The service keeps
 * the buffer pointer until then. If the kernel cancels the request first, ops->cancel is
 * called and the server answers EINTR itself; the service must then forget the tag. */
#define SCHEME_PENDING INT64_MIN

typedef struct scheme_open_req {
    const char *path;     /* normalized, relative to the scheme root: "" (root), "a", "a/b" */
    size_t path_len;
    uint32_t flags;       /* SCHEME_OPEN_* */
    uint16_t mode;        /* permission bits for a created file */
    uint64_t raw_flags;   /* as the kernel sent them (for flags this layer does not decode) */
    uint32_t fcntl_flags;
} scheme_open_req;

/* Collects directory entries into the caller's getdents buffer. */
typedef struct scheme_dirent_sink scheme_dirent_sink;
/* Adds one entry. next_opaque_id: the value the caller passes back to continue AFTER this
 * entry (e.g. its index + 1). 0: added; 1: the buffer is full (stop, the caller asks again
 * from the last next_opaque_id); -EINVAL: the name is not encodable. */
int scheme_dirent_add(scheme_dirent_sink *sink, uint64_t inode, uint64_t next_opaque_id,
                      uint8_t kind, const char *name, size_t name_len);

/* Every op is optional. A missing op answers as redox-scheme's SchemeSync defaults do
 * (listed per op), except getdents (EOPNOTSUPP, so relibc falls back to read()).
 * Return values: >= 0 success, -errno failure. `svc` is the config's svc pointer, `h` the
 * handle the service returned from openat/dup (NULL for the scheme root). */
typedef struct scheme_ops {
    /* Open req->path (the server has already resolved it against the directory handle and
     * rejected escapes). *out_handle: the service's handle (may be NULL only for the root
     * itself); *out_fd_flags: SCHEME_FD_POSITIONED for seekable files. Missing: ENOENT. */
    int (*openat)(void *svc, const scheme_open_req *req, const scheme_caller *c,
                  void **out_handle, uint8_t *out_fd_flags);
    /* Called once when the kernel drops the last reference (or the server is freed). */
    void (*close)(void *svc, void *h);
    /* Missing: EOPNOTSUPP. buf holds the dup argument (e.g. "clipboard"), len may be 0. */
    int (*dup)(void *svc, void *h, const char *buf, size_t len, const scheme_caller *c,
               void **out_handle, uint8_t *out_fd_flags);
    /* Bytes done. off is the kernel-kept offset for SCHEME_FD_POSITIONED files. len is already
     * bounded by the config's max_io. Missing: EBADF. */
    int64_t (*read)(void *svc, void *h, void *buf, size_t len, uint64_t off, uint32_t flags,
                    const scheme_caller *c);
    int64_t (*write)(void *svc, void *h, const void *buf, size_t len, uint64_t off,
                     uint32_t flags, const scheme_caller *c);
    /* Missing: ESPIPE. */
    int64_t (*fsize)(void *svc, void *h, const scheme_caller *c);
    /* Missing: EOPNOTSUPP. */
    int (*fstat)(void *svc, void *h, scheme_stat *st, const scheme_caller *c);
    int (*fstatvfs)(void *svc, void *h, scheme_statvfs *st, const scheme_caller *c);
    /* Missing: success (nothing to flush). */
    int (*fsync)(void *svc, void *h, const scheme_caller *c);
    /* Missing: EBADF. */
    int (*ftruncate)(void *svc, void *h, uint64_t len, const scheme_caller *c);
    /* Missing: EOPNOTSUPP. mode: permission bits only. */
    int (*fchmod)(void *svc, void *h, uint16_t mode, const scheme_caller *c);
    int (*fchown)(void *svc, void *h, uint32_t uid, uint32_t gid, const scheme_caller *c);
    /* n: 0..2 times (atime, mtime). Missing: EBADF. */
    int (*futimens)(void *svc, void *h, const scheme_timespec *times, size_t n,
                    const scheme_caller *c);
    /* Add entries starting after `opaque` (0: from the start) until done or the sink is full.
     * Missing: EOPNOTSUPP (relibc then reads the directory as a newline-separated list). */
    int (*getdents)(void *svc, void *h, uint64_t opaque, scheme_dirent_sink *sink,
                    const scheme_caller *c);
    /* Write the path into buf (cap bytes, no NUL needed), return its length (may exceed cap:
     * the server truncates). Missing: the server answers "/scheme/NAME/PATH" itself. */
    int64_t (*fpath)(void *svc, void *h, char *buf, size_t cap, const scheme_caller *c);
    /* Rename the file to `path` (normalized, relative to the scheme root). On success the
     * server updates the handle's remembered path. Missing: EOPNOTSUPP. */
    int (*frename)(void *svc, void *h, const char *path, const scheme_caller *c);
    /* Remove `path` (normalized, relative to the root); is_dir for rmdir. Missing: ENOENT. */
    int (*unlinkat)(void *svc, const char *path, bool is_dir, const scheme_caller *c);
    /* Readiness: return the subset of `events` (SCHEME_EVENT_*) ready now. Missing: 0. */
    int64_t (*fevent)(void *svc, void *h, uint32_t events, const scheme_caller *c);
    /* Missing: EOPNOTSUPP. */
    int64_t (*fcntl)(void *svc, void *h, uint64_t cmd, uint64_t arg, const scheme_caller *c);
    /* Return the daemon address of the page-aligned memory backing [off, off+len) (a
     * framebuffer). prot: raw Redox MapFlags. Missing: EOPNOTSUPP. */
    int64_t (*mmap_prep)(void *svc, void *h, uint64_t off, uint64_t len, uint64_t prot,
                         const scheme_caller *c);
    int (*munmap)(void *svc, void *h, uint64_t off, uint64_t len, uint64_t flags,
                  const scheme_caller *c);
    /* Generic call: payload in/out (len bytes), metadata[3]. Missing: EOPNOTSUPP. */
    int64_t (*call)(void *svc, void *h, void *payload, size_t len, const uint64_t meta[3],
                    const scheme_caller *c);
    /* A request the service deferred (SCHEME_PENDING) was cancelled, or its file closed:
     * drop it, never complete it. Needed by every service that defers. */
    void (*cancel)(void *svc, uint32_t tag);
} scheme_ops;

/* Access to the caller's buffers named by Sqe arguments. map returns a pointer to len bytes at
 * addr (writable: the server will write them), or NULL when the range is not accessible
 * (EFAULT). Never called with len 0. */
typedef struct scheme_mem {
    void *(*map)(void *ctx, uint64_t addr, size_t len, bool writable);
    void *ctx;
} scheme_mem;

/* The Redox mapping: the kernel has mapped the buffers, addresses are usable pointers. */
extern const scheme_mem scheme_mem_direct;

typedef struct scheme_server_config {
    const char *name;          /* scheme name, for fpath: "/scheme/NAME/..." (<= 64 bytes) */
    const scheme_ops *ops;
    void *svc;
    scheme_mem mem;
    size_t max_handles;        /* open files incl. the root; 0: SCHEME_DEFAULT_MAX_HANDLES */
    size_t max_io;             /* read/write/call length cap; 0: SCHEME_DEFAULT_MAX_IO */
    /* Deferred requests the server tracks at once; 0: max_handles. A service deferring
     * beyond it gets EAGAIN answered for that request. */
    size_t max_pending;
    /* When set, every open/unlink by a caller with uid != 0 is refused with EACCES before the
     * service sees it (disk.* and network.* are root-only on Redox). */
    bool root_only;
} scheme_server_config;

typedef struct scheme_server scheme_server;

/* NULL on a bad config (no ops, name too long, max_handles out of range) or no memory. */
scheme_server *scheme_server_new(const scheme_server_config *cfg);
/* Closes every open handle (ops->close), then frees. NULL is fine. */
void scheme_server_free(scheme_server *s);

/* The id of the scheme root (what the kernel passes as dirfd for a plain open; also the id
 * the Redox registration hands to the kernel). */
uint64_t scheme_server_root_id(const scheme_server *s);
/* Number of open files, the root included. */
size_t scheme_server_open_count(const scheme_server *s);
/* Kernel id of a service handle, or 0 when it is not open (for fevent notifications). */
uint64_t scheme_server_id_of(const scheme_server *s, const void *h);
/* Remembered path of an id ("" for the root), or NULL. */
const char *scheme_server_path_of(const scheme_server *s, uint64_t id);

/* Handles one request. Returns true when *cqe must be sent back, false for requests that
 * take no answer (CloseMsg, one-way Sqes, a deferred read/write/call, a Cancel of a request
 * already answered). A Cancel of a deferred request answers THAT request's tag with EINTR.
 * Never fails otherwise: every problem is an error result in the Cqe. */
bool scheme_handle_request(scheme_server *s, const scheme_sqe *sqe, scheme_cqe *cqe);
/* The same on raw packets. */
bool scheme_handle_packet(scheme_server *s, const uint8_t sqe[SCHEME_SQE_SIZE],
                          uint8_t cqe[SCHEME_CQE_SIZE]);
/* Answers a request its op deferred with SCHEME_PENDING: result is bytes done or -errno
 * (bounded like an immediate answer). true and *cqe to send; false when the tag is not
 * pending (already cancelled or answered): send nothing. */
bool scheme_server_complete(scheme_server *s, uint32_t tag, int64_t result, scheme_cqe *cqe);
/* Requests deferred and not yet answered. */
size_t scheme_server_pending_count(const scheme_server *s);

/* An unsolicited readiness event for a handle (SendFevent Cqe). false if h is not open. */
bool scheme_server_fevent(const scheme_server *s, const void *h, uint32_t events,
                          scheme_cqe *cqe);

/* Resolves `rel` (rel_len bytes, from a request) against the directory path `base`
 * (normalized): "." and empty components vanish, ".." goes up but never above the scheme root
 * (Redox's own resolution clamps the same way). out gets the normalized path without leading
 * or trailing '/', NUL-terminated. 0, or -EINVAL (NUL byte in rel), -ENAMETOOLONG (rel or the
 * result longer than SCHEME_PATH_MAX - 1 / cap - 1). */
int scheme_path_resolve(const char *base, const char *rel, size_t rel_len, char *out,
                        size_t cap);

/* Permission helpers (document the policy in one place; services call them).
 * scheme_perm_root_only: 0 for uid 0, else -EACCES.
 * scheme_perm_check: POSIX owner/group/other bits of `mode` for the caller; uid 0 passes
 * read/write always and execute when any x bit is set (POSIX convention). want: bits of
 * SCHEME_PERM_R/W/X. 0 or -EACCES. */
#define SCHEME_PERM_R 4u
#define SCHEME_PERM_W 2u
#define SCHEME_PERM_X 1u
int scheme_perm_root_only(const scheme_caller *c);
int scheme_perm_check(uint16_t mode, uint32_t owner_uid, uint32_t owner_gid,
                      const scheme_caller *c, unsigned want);

#endif
