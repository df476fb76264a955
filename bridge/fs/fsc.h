/* Filesystem service client (PROTOCOL.md, Filesystem service): the portable host library the
 * FUSE adapter, `revm cp` and the Redox scheme adapter share. It speaks records on a service
 * socket (rb_svc_fd, or a local helper from rb_svc_spawn_local) and treats every reply as
 * hostile: bodies are decoded by proto_fs_*, sizes are checked against what was asked, a reply
 * that breaks a rule fails its request with EIO, and a guest that stops answering fails
 * requests with ETIMEDOUT after the timeout instead of hanging the caller.
 *
 * Thread-safe: many threads may call at once (FUSE's multi-threaded loop); requests are
 * pipelined on the one socket and replies matched by tag. Every call returns 0 or a positive
 * errno. */
#ifndef BRIDGE_FS_FSC_H
#define BRIDGE_FS_FSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef struct fsc fsc;

typedef struct fsc_info {
    char volume[72], fstype[40];
    bool rdonly;
    uint32_t max_io;
} fsc_info;

/* fd: the service socket (not owned). Starts the reader thread and asks INFO, unless the
 * channel is the volume list (list = true). timeout_ms 0: wait forever. NULL with err. */
fsc *fsc_new(int fd, bool list, unsigned timeout_ms, char *err, size_t errlen);
void fsc_free(fsc *c);
const fsc_info *fsc_get_info(const fsc *c);
/* Faults seen (bad replies, unknown tags) and the last one's text, for logs. */
unsigned fsc_faults(fsc *c, char *last, size_t cap);
/* Set when the service ended (EOF on the socket). */
bool fsc_dead(fsc *c);

/* Generic request: body[blen] then data[dlen]; the reply body goes to reply[cap] (*rlen). */
int fsc_call(fsc *c, uint8_t type, const void *body, size_t blen, const void *data, size_t dlen,
             void *reply, size_t cap, size_t *rlen);

int fsc_lookup(fsc *c, uint64_t parent, const char *name, proto_fs_entry *e);
void fsc_forget(fsc *c, uint64_t node, uint64_t count);
int fsc_getattr(fsc *c, uint64_t node, proto_fs_attr *a);
/* want: the fields valid selects (mode, uid, gid, size, atime/mtime + _ns). */
int fsc_setattr(fsc *c, uint64_t node, uint64_t fh, uint32_t valid, const proto_fs_attr *want,
                proto_fs_attr *out);
int fsc_readlink(fsc *c, uint64_t node, char *buf, size_t cap); /* NUL-terminated */
int fsc_mkdir(fsc *c, uint64_t parent, const char *name, uint32_t mode, uint32_t uid,
              uint32_t gid, proto_fs_entry *e);
int fsc_mknod(fsc *c, uint64_t parent, const char *name, uint32_t mode, uint64_t rdev,
              uint32_t uid, uint32_t gid, proto_fs_entry *e);
int fsc_symlink(fsc *c, uint64_t parent, const char *name, const char *target, uint32_t uid,
                uint32_t gid, proto_fs_entry *e);
int fsc_link(fsc *c, uint64_t node, uint64_t newparent, const char *name, proto_fs_entry *e);
int fsc_unlink(fsc *c, uint64_t parent, const char *name);
int fsc_rmdir(fsc *c, uint64_t parent, const char *name);
int fsc_rename(fsc *c, uint64_t parent, const char *name, uint64_t newparent,
               const char *newname, uint32_t flags);
int fsc_open(fsc *c, uint64_t node, uint32_t flags, uint64_t *fh);
int fsc_create(fsc *c, uint64_t parent, const char *name, uint32_t flags, uint32_t mode,
               uint32_t uid, uint32_t gid, proto_fs_entry *e, uint64_t *fh);
int fsc_read(fsc *c, uint64_t fh, uint64_t off, void *buf, size_t size, size_t *got);
int fsc_write(fsc *c, uint64_t fh, uint64_t off, const void *buf, size_t n, size_t *written);
/* WRITE whose n (<= max_io) data bytes are written to the service socket by fill(ctx, fd, n)
 * right after the record header, under the client's write lock: a front end can move data
 * from its own descriptor (FUSE's splice pipe) without copying it through memory. fill
 * returns 0 when all n bytes went out, -1 otherwise (the service is then ended: the stream
 * would be out of step). */
typedef int (*fsc_fill_fn)(void *ctx, int fd, size_t n);
int fsc_write_from(fsc *c, uint64_t fh, uint64_t off, size_t n, fsc_fill_fn fill, void *ctx,
                   size_t *written);
int fsc_release(fsc *c, uint64_t fh);
int fsc_fsync(fsc *c, uint64_t fh, bool datasync);
int fsc_opendir(fsc *c, uint64_t node, uint64_t *fh);
/* One READDIR: the reply lands in buf[cap] (cap <= max_io), walked with it. */
int fsc_readdir(fsc *c, uint64_t fh, uint64_t off, bool plus, uint8_t *buf, size_t cap,
                proto_fs_dirit *it);
int fsc_releasedir(fsc *c, uint64_t fh);
int fsc_statfs(fsc *c, proto_fs_statfs *s);
/* size 0: *len is the value's size; else the value in buf[size]. */
int fsc_getxattr(fsc *c, uint64_t node, const char *name, void *buf, size_t size, size_t *len);
int fsc_listxattr(fsc *c, uint64_t node, void *buf, size_t size, size_t *len);
int fsc_setxattr(fsc *c, uint64_t node, const char *name, const void *val, size_t n,
                 uint32_t flags);
int fsc_removexattr(fsc *c, uint64_t node, const char *name);
int fsc_volumes(fsc *c, uint8_t *buf, size_t cap, proto_fs_dirit *it);

/* Resolves a path from the volume root ("/a/b", "a/b"; "" or "/" = root) by LOOKUPs, following
 * symlinks in the middle of the path (and at the end when follow), at most 40, never above the
 * volume root. Each LOOKUP's count is returned with FORGET except the final node's. */
int fsc_walk(fsc *c, const char *path, bool follow, proto_fs_entry *e);

#endif
