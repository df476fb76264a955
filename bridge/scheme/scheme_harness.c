/* Linux harness: requests as packets, caller buffers as fake addresses; see scheme_harness.h. */
#include "scheme_harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define H_MAX_BUFS 8
/* Fake addresses: far from 0, 4 GiB apart, so no length reaches the next buffer. */
#define H_ADDR_BASE 0x100000000000ull
#define H_ADDR_STRIDE 0x100000000ull

typedef struct hbuf {
    uint64_t addr;
    uint8_t *p;
    size_t len;
} hbuf;

struct scheme_harness {
    scheme_server *srv;
    hbuf bufs[H_MAX_BUFS];
    size_t nbufs;
    uint32_t uid, gid;
    uint64_t pid;
    uint32_t next_tag, last_tag;
    uint8_t last_fd_flags;
};

static void *h_map(void *ctx, uint64_t addr, size_t len, bool writable)
{
    (void)writable;
    scheme_harness *h = ctx;
    for (size_t i = 0; i < h->nbufs; i++) {
        hbuf *b = &h->bufs[i];
        if (addr >= b->addr && addr - b->addr <= b->len && len <= b->len - (addr - b->addr))
            return b->p + (addr - b->addr);
    }
    return NULL;
}

scheme_harness *scheme_harness_new_config(const scheme_server_config *cfg)
{
    scheme_harness *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    scheme_server_config c = *cfg;
    c.mem = (scheme_mem){h_map, h};
    h->srv = scheme_server_new(&c);
    if (!h->srv) {
        free(h);
        return NULL;
    }
    h->pid = 1;
    h->next_tag = 1;
    return h;
}

scheme_harness *scheme_harness_new(const char *name, const scheme_ops *ops, void *svc,
                                   size_t max_handles)
{
    scheme_server_config c = {.name = name, .ops = ops, .svc = svc, .max_handles = max_handles};
    return scheme_harness_new_config(&c);
}

void scheme_harness_free(scheme_harness *h)
{
    if (!h)
        return;
    scheme_server_free(h->srv);
    free(h);
}

scheme_server *scheme_harness_server(scheme_harness *h)
{
    return h->srv;
}

void scheme_h_set_caller(scheme_harness *h, uint32_t uid, uint32_t gid, uint64_t pid)
{
    h->uid = uid;
    h->gid = gid;
    h->pid = pid;
}

uint8_t scheme_h_last_fd_flags(const scheme_harness *h)
{
    return h->last_fd_flags;
}

uint64_t scheme_h_root(const scheme_harness *h)
{
    return scheme_server_root_id(h->srv);
}

uint32_t scheme_h_last_tag(const scheme_harness *h)
{
    return h->last_tag;
}

int64_t scheme_h_cancel(scheme_harness *h, uint32_t tag)
{
    scheme_sqe q = {.opcode = SCHEME_OP_CANCEL, .flags = SCHEME_SQE_ONEWAY, .tag = tag};
    return scheme_h_raw(h, &q, NULL);
}

uint64_t scheme_h_flags(uint32_t f, uint16_t mode)
{
    return scheme_open_flags_encode(f, mode);
}

uint64_t scheme_h_buf(scheme_harness *h, void *buf, size_t len)
{
    if (h->nbufs >= H_MAX_BUFS)
        abort();    /* a test bug, not an input */
    uint64_t addr = H_ADDR_BASE + H_ADDR_STRIDE * h->nbufs;
    h->bufs[h->nbufs++] = (hbuf){addr, buf, len};
    return addr;
}

int64_t scheme_h_raw(scheme_harness *h, const scheme_sqe *sqe, scheme_cqe *out)
{
    uint8_t in[SCHEME_SQE_SIZE], res[SCHEME_CQE_SIZE];
    scheme_sqe_encode(sqe, in);
    bool answered = scheme_handle_packet(h->srv, in, res);
    h->nbufs = 0;
    scheme_cqe c;
    scheme_cqe_decode(res, &c);
    if (out)
        *out = c;
    if (!answered)
        return INT64_MIN;
    h->last_fd_flags = c.extra[0];
    return scheme_result_decode(c.result);
}

static int64_t run(scheme_harness *h, uint8_t op, uint64_t a0, uint64_t a1, uint64_t a2,
                   uint64_t a3, uint64_t a4)
{
    h->last_tag = h->next_tag++;
    scheme_sqe q = {.opcode = op, .tag = h->last_tag, .args = {a0, a1, a2, a3, a4, 0}};
    scheme_sqe_set_caller(&q, h->uid, h->gid, h->pid);
    return scheme_h_raw(h, &q, NULL);
}

int64_t scheme_h_openat(scheme_harness *h, uint64_t dirfd, const char *path, uint64_t flags)
{
    size_t n = strlen(path);
    uint64_t a = scheme_h_buf(h, (void *)path, n);
    return run(h, SCHEME_OP_OPENAT, dirfd, a, n, flags, 0);
}

int64_t scheme_h_open(scheme_harness *h, const char *path, uint64_t flags)
{
    return scheme_h_openat(h, scheme_h_root(h), path, flags);
}

int64_t scheme_h_dup(scheme_harness *h, uint64_t fd, const char *buf)
{
    size_t n = strlen(buf);
    uint64_t a = scheme_h_buf(h, (void *)buf, n);
    return run(h, SCHEME_OP_DUP, fd, a, n, 0, 0);
}

int64_t scheme_h_read(scheme_harness *h, uint64_t fd, void *buf, size_t len, uint64_t off)
{
    uint64_t a = scheme_h_buf(h, buf, len);
    return run(h, SCHEME_OP_READ, fd, a, len, off, 0);
}

int64_t scheme_h_write(scheme_harness *h, uint64_t fd, const void *buf, size_t len,
                       uint64_t off)
{
    uint64_t a = scheme_h_buf(h, (void *)buf, len);
    return run(h, SCHEME_OP_WRITE, fd, a, len, off, 0);
}

int64_t scheme_h_fsize(scheme_harness *h, uint64_t fd)
{
    return run(h, SCHEME_OP_FSIZE, fd, 0, 0, 0, 0);
}

int64_t scheme_h_fstat(scheme_harness *h, uint64_t fd, scheme_stat *st)
{
    uint8_t raw[SCHEME_STAT_SIZE];
    memset(raw, 0xA5, sizeof raw);
    uint64_t a = scheme_h_buf(h, raw, sizeof raw);
    int64_t r = run(h, SCHEME_OP_FSTAT, fd, a, sizeof raw, 0, 0);
    if (r >= 0)
        scheme_stat_decode(raw, st);
    return r;
}

int64_t scheme_h_fstatvfs(scheme_harness *h, uint64_t fd, scheme_statvfs *st)
{
    uint8_t raw[SCHEME_STATVFS_SIZE];
    uint64_t a = scheme_h_buf(h, raw, sizeof raw);
    int64_t r = run(h, SCHEME_OP_FSTATVFS, fd, a, sizeof raw, 0, 0);
    if (r >= 0)
        scheme_statvfs_decode(raw, st);
    return r;
}

int64_t scheme_h_fsync(scheme_harness *h, uint64_t fd)
{
    return run(h, SCHEME_OP_FSYNC, fd, 0, 0, 0, 0);
}

int64_t scheme_h_ftruncate(scheme_harness *h, uint64_t fd, uint64_t len)
{
    return run(h, SCHEME_OP_FTRUNCATE, fd, len, 0, 0, 0);
}

int64_t scheme_h_fchmod(scheme_harness *h, uint64_t fd, uint16_t mode)
{
    return run(h, SCHEME_OP_FCHMOD, fd, mode, 0, 0, 0);
}

int64_t scheme_h_fchown(scheme_harness *h, uint64_t fd, uint32_t uid, uint32_t gid)
{
    return run(h, SCHEME_OP_FCHOWN, fd, uid, gid, 0, 0);
}

int64_t scheme_h_futimens(scheme_harness *h, uint64_t fd, const scheme_timespec *t, size_t n)
{
    uint8_t raw[2 * SCHEME_TIMESPEC_SIZE];
    if (n > 2)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        scheme_timespec_encode(&t[i], raw + i * SCHEME_TIMESPEC_SIZE);
    uint64_t a = scheme_h_buf(h, raw, n * SCHEME_TIMESPEC_SIZE);
    return run(h, SCHEME_OP_FUTIMENS, fd, a, n * SCHEME_TIMESPEC_SIZE, 0, 0);
}

int64_t scheme_h_fcntl(scheme_harness *h, uint64_t fd, uint64_t cmd, uint64_t arg)
{
    return run(h, SCHEME_OP_FCNTL, fd, cmd, arg, 0, 0);
}

int64_t scheme_h_fevent(scheme_harness *h, uint64_t fd, uint32_t events)
{
    return run(h, SCHEME_OP_FEVENT, fd, events, 0, 0, 0);
}

int64_t scheme_h_fpath(scheme_harness *h, uint64_t fd, char *buf, size_t cap)
{
    if (cap == 0)
        return -EINVAL;
    uint64_t a = scheme_h_buf(h, buf, cap - 1);
    int64_t r = run(h, SCHEME_OP_FPATH, fd, a, cap - 1, 0, 0);
    buf[r >= 0 ? (size_t)r : 0] = '\0';
    return r;
}

int64_t scheme_h_frename(scheme_harness *h, uint64_t fd, const char *path)
{
    size_t n = strlen(path);
    uint64_t a = scheme_h_buf(h, (void *)path, n);
    return run(h, SCHEME_OP_FRENAME, fd, a, n, 0, 0);
}

int64_t scheme_h_unlinkat(scheme_harness *h, uint64_t dirfd, const char *path, uint64_t flags)
{
    size_t n = strlen(path);
    uint64_t a = scheme_h_buf(h, (void *)path, n);
    return run(h, SCHEME_OP_UNLINKAT, dirfd, a, n, flags, 0);
}

int64_t scheme_h_mmap_prep(scheme_harness *h, uint64_t fd, uint64_t off, uint64_t len,
                           uint64_t prot)
{
    return run(h, SCHEME_OP_MMAP_PREP, fd, len, prot, off, 0);
}

int64_t scheme_h_call(scheme_harness *h, uint64_t fd, void *payload, size_t len,
                      const uint64_t meta[3])
{
    uint64_t a = scheme_h_buf(h, payload, len);
    h->last_tag = h->next_tag++;
    scheme_sqe q = {.opcode = SCHEME_OP_CALL, .tag = h->last_tag,
                    .args = {fd, a, len, meta[0], meta[1], meta[2]}, .caller = h->pid};
    return scheme_h_raw(h, &q, NULL);
}

int64_t scheme_h_close(scheme_harness *h, uint64_t fd)
{
    int64_t r = run(h, SCHEME_OP_CLOSE_MSG, fd, 0, 0, 0, 0);
    return r == INT64_MIN ? 0 : r;
}

int64_t scheme_h_getdents(scheme_harness *h, uint64_t fd, void *buf, size_t len,
                          uint64_t opaque)
{
    uint64_t a = scheme_h_buf(h, buf, len);
    return run(h, SCHEME_OP_GETDENTS, fd, a, len, SCHEME_DIRENT_HDR_SIZE, opaque);
}

int64_t scheme_h_readdir(scheme_harness *h, uint64_t fd, size_t bufsize, scheme_h_dirent *ents,
                         size_t max)
{
    uint8_t *buf = malloc(bufsize ? bufsize : 1);
    if (!buf)
        return -ENOMEM;
    size_t count = 0;
    uint64_t opaque = 0;
    int64_t ret = 0;
    for (int rounds = 0; rounds < 100000; rounds++) {
        int64_t n = scheme_h_getdents(h, fd, buf, bufsize, opaque);
        if (n <= 0) {
            ret = n < 0 ? n : (int64_t)count;
            break;
        }
        size_t off = 0;
        scheme_dirent e;
        int d;
        while ((d = scheme_dirent_decode(buf, (size_t)n, SCHEME_DIRENT_HDR_SIZE, &off, &e)) ==
               1) {
            if (count >= max || e.name_len > 255) {
                free(buf);
                return count >= max ? -E2BIG : -EPROTO;
            }
            memcpy(ents[count].name, e.name, e.name_len);
            ents[count].name[e.name_len] = '\0';
            ents[count].kind = e.kind;
            ents[count].inode = e.inode;
            count++;
            opaque = e.next_opaque_id;
        }
        if (d < 0) {
            ret = -EPROTO;
            break;
        }
        ret = (int64_t)count;
    }
    free(buf);
    return ret;
}
