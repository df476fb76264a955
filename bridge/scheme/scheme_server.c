/* Request dispatcher and open-file table; see scheme_server.h. Argument positions per opcode
 * follow redox-scheme's Op::from_sqe_unchecked (scheme/README.md has the table). */
#include "scheme_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A request a service deferred (SCHEME_PENDING), answered later by tag. */
typedef struct pending {
    bool used;
    uint32_t tag;
    uint64_t id;
    size_t len;     /* the most bytes the answer may claim */
} pending;

typedef struct slot {
    bool used;
    void *h;
    char *path;     /* normalized, "" for the root */
} slot;

struct scheme_server {
    char name[65];
    const scheme_ops *ops;
    void *svc;
    scheme_mem mem;
    size_t max_io;
    bool root_only;
    size_t nslots, nused;
    slot *slots;    /* id = index + 1; index 0 is the scheme root */
    size_t npend_max, npend;
    pending *pend;
};

struct scheme_dirent_sink {
    uint8_t *buf;
    size_t cap, written;
    uint16_t header_size;
    bool full;
};

static void *direct_map(void *ctx, uint64_t addr, size_t len, bool writable)
{
    (void)ctx, (void)len, (void)writable;
    return addr ? (void *)(uintptr_t)addr : NULL;
}

const scheme_mem scheme_mem_direct = {direct_map, NULL};

/* strdup without depending on feature macros (the layer also builds against relibc). */
static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

scheme_server *scheme_server_new(const scheme_server_config *cfg)
{
    size_t n = cfg->max_handles ? cfg->max_handles : SCHEME_DEFAULT_MAX_HANDLES;
    if (!cfg->ops || !cfg->name || strlen(cfg->name) > 64 || !cfg->mem.map || n < 1 ||
        n > SCHEME_MAX_HANDLES_LIMIT)
        return NULL;
    scheme_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    size_t np = cfg->max_pending ? cfg->max_pending : n;
    if (np > SCHEME_MAX_HANDLES_LIMIT) {
        free(s);
        return NULL;
    }
    s->slots = calloc(n, sizeof *s->slots);
    s->pend = calloc(np, sizeof *s->pend);
    char *root = dup_str("");
    if (!s->slots || !s->pend || !root) {
        free(root);
        free(s->pend);
        free(s->slots);
        free(s);
        return NULL;
    }
    snprintf(s->name, sizeof s->name, "%s", cfg->name);
    s->ops = cfg->ops;
    s->svc = cfg->svc;
    s->mem = cfg->mem;
    s->max_io = cfg->max_io ? cfg->max_io : SCHEME_DEFAULT_MAX_IO;
    s->root_only = cfg->root_only;
    s->nslots = n;
    s->npend_max = np;
    s->slots[0] = (slot){true, NULL, root};
    s->nused = 1;
    return s;
}

static pending *pend_find(const scheme_server *s, uint32_t tag)
{
    for (size_t i = 0; i < s->npend_max; i++)
        if (s->pend[i].used && s->pend[i].tag == tag)
            return &s->pend[i];
    return NULL;
}

static void pend_drop(scheme_server *s, pending *p, bool tell_service)
{
    uint32_t tag = p->tag;
    *p = (pending){0};
    s->npend--;
    if (tell_service && s->ops->cancel)
        s->ops->cancel(s->svc, tag);
}

static void slot_release(scheme_server *s, size_t i)
{
    slot *sl = &s->slots[i];
    /* Requests still waiting on this file will never be answered by the service. */
    for (size_t k = 0; k < s->npend_max; k++)
        if (s->pend[k].used && s->pend[k].id == i + 1)
            pend_drop(s, &s->pend[k], true);
    if (s->ops->close)
        s->ops->close(s->svc, sl->h);
    free(sl->path);
    *sl = (slot){0};
    s->nused--;
}

void scheme_server_free(scheme_server *s)
{
    if (!s)
        return;
    for (size_t i = 1; i < s->nslots; i++)
        if (s->slots[i].used)
            slot_release(s, i);
    for (size_t k = 0; k < s->npend_max; k++)
        if (s->pend[k].used)
            pend_drop(s, &s->pend[k], true);
    free(s->slots[0].path);
    free(s->slots);
    free(s->pend);
    free(s);
}

uint64_t scheme_server_root_id(const scheme_server *s)
{
    (void)s;
    return 1;
}

size_t scheme_server_open_count(const scheme_server *s)
{
    return s->nused;
}

static slot *slot_get(const scheme_server *s, uint64_t id)
{
    if (id == 0 || id > s->nslots || !s->slots[id - 1].used)
        return NULL;
    return &s->slots[id - 1];
}

uint64_t scheme_server_id_of(const scheme_server *s, const void *h)
{
    for (size_t i = 1; i < s->nslots; i++)
        if (s->slots[i].used && s->slots[i].h == h)
            return i + 1;
    return 0;
}

const char *scheme_server_path_of(const scheme_server *s, uint64_t id)
{
    slot *sl = slot_get(s, id);
    return sl ? sl->path : NULL;
}

int scheme_path_resolve(const char *base, const char *rel, size_t rel_len, char *out,
                        size_t cap)
{
    if (cap == 0)
        return -ENAMETOOLONG;
    if (rel_len > SCHEME_PATH_MAX - 1)
        return -ENAMETOOLONG;
    if (memchr(rel, '\0', rel_len))
        return -EINVAL;
    size_t n = 0;
    out[0] = '\0';
    if (rel_len == 0 || rel[0] != '/') {
        size_t bl = strlen(base);
        if (bl >= cap)
            return -ENAMETOOLONG;
        memcpy(out, base, bl + 1);
        n = bl;
    }
    size_t i = 0;
    while (i < rel_len) {
        while (i < rel_len && rel[i] == '/')
            i++;
        size_t start = i;
        while (i < rel_len && rel[i] != '/')
            i++;
        size_t cl = i - start;
        const char *comp = rel + start;
        if (cl == 0 || (cl == 1 && comp[0] == '.'))
            continue;
        if (cl == 2 && comp[0] == '.' && comp[1] == '.') {
            /* Up one level; at the root it stays at the root. */
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
            out[n] = '\0';
            continue;
        }
        size_t need = n + (n ? 1 : 0) + cl;
        if (need >= cap || need > SCHEME_PATH_MAX - 1)
            return -ENAMETOOLONG;
        if (n)
            out[n++] = '/';
        memcpy(out + n, comp, cl);
        n += cl;
        out[n] = '\0';
    }
    return 0;
}

int scheme_perm_root_only(const scheme_caller *c)
{
    return c->uid == 0 ? 0 : -EACCES;
}

int scheme_perm_check(uint16_t mode, uint32_t owner_uid, uint32_t owner_gid,
                      const scheme_caller *c, unsigned want)
{
    want &= 7u;
    if (c->uid == 0) {
        if ((want & SCHEME_PERM_X) && !(mode & 0111))
            return -EACCES;
        return 0;
    }
    unsigned bits;
    if (c->uid == owner_uid)
        bits = (mode >> 6) & 7u;
    else if (c->gid == owner_gid)
        bits = (mode >> 3) & 7u;
    else
        bits = mode & 7u;
    return (bits & want) == want ? 0 : -EACCES;
}

int scheme_dirent_add(scheme_dirent_sink *k, uint64_t inode, uint64_t next_opaque_id,
                      uint8_t kind, const char *name, size_t name_len)
{
    if (k->full)
        return 1;
    long r = scheme_dirent_encode(k->buf + k->written, k->cap - k->written, k->header_size,
                                  inode, next_opaque_id, kind, name, name_len);
    if (r < 0)
        return -EINVAL;
    if (r == 0) {
        k->full = true;
        return 1;
    }
    k->written += (size_t)r;
    return 0;
}

/* Caller buffer [addr, addr+len): 0 and *p, or -EFAULT. A zero length needs no mapping. */
static int mem_get(scheme_server *s, uint64_t addr, size_t len, bool writable, void **p)
{
    static uint8_t empty[1];
    if (len == 0) {
        *p = empty;
        return 0;
    }
    if (addr + len < addr)
        return -EFAULT;
    *p = s->mem.map(s->mem.ctx, addr, len, writable);
    return *p ? 0 : -EFAULT;
}

/* Resolves a path argument against the directory id into out (SCHEME_PATH_MAX bytes). */
static int path_arg(scheme_server *s, uint64_t dir_id, uint64_t addr, uint64_t len, char *out)
{
    slot *dir = slot_get(s, dir_id);
    if (!dir)
        return -EBADF;
    if (len > SCHEME_PATH_MAX - 1)
        return -ENAMETOOLONG;
    void *p;
    int r = mem_get(s, addr, (size_t)len, false, &p);
    if (r < 0)
        return r;
    return scheme_path_resolve(dir->path, p, (size_t)len, out, SCHEME_PATH_MAX);
}

static int64_t new_slot(scheme_server *s, void *h, const char *path)
{
    for (size_t i = 1; i < s->nslots; i++)
        if (!s->slots[i].used) {
            char *copy = dup_str(path);
            if (!copy)
                return -ENOMEM;
            s->slots[i] = (slot){true, h, copy};
            s->nused++;
            return (int64_t)i + 1;
        }
    return -EMFILE;
}

static int64_t do_open(scheme_server *s, uint64_t dir_id, uint64_t addr, uint64_t len,
                       uint64_t raw_flags, uint32_t fcntl_flags, const scheme_caller *c,
                       uint8_t *fd_flags)
{
    char path[SCHEME_PATH_MAX];
    int r = path_arg(s, dir_id, addr, len, path);
    if (r < 0)
        return r;
    if (s->root_only && (r = scheme_perm_root_only(c)) < 0)
        return r;
    /* Refuse before the service creates anything it would then have to undo. */
    if (s->nused >= s->nslots)
        return -EMFILE;
    if (!s->ops->openat)
        return -ENOENT;
    scheme_open_req req = {.path = path, .path_len = strlen(path), .raw_flags = raw_flags,
                           .fcntl_flags = fcntl_flags};
    req.flags = scheme_open_flags_decode(raw_flags, &req.mode);
    req.mode &= SCHEME_MODE_PERM;
    void *h = NULL;
    *fd_flags = 0;
    r = s->ops->openat(s->svc, &req, c, &h, fd_flags);
    if (r < 0)
        return r;
    int64_t id = new_slot(s, h, path);
    if (id < 0 && s->ops->close)
        s->ops->close(s->svc, h);
    return id;
}

static int64_t do_unlink(scheme_server *s, uint64_t dir_id, uint64_t addr, uint64_t len,
                         bool is_dir, const scheme_caller *c)
{
    char path[SCHEME_PATH_MAX];
    int r = path_arg(s, dir_id, addr, len, path);
    if (r < 0)
        return r;
    if (s->root_only && (r = scheme_perm_root_only(c)) < 0)
        return r;
    if (path[0] == '\0')
        return -EBUSY;
    if (!s->ops->unlinkat)
        return -ENOENT;
    return s->ops->unlinkat(s->svc, path, is_dir, c);
}

static int64_t do_close(scheme_server *s, uint64_t id)
{
    if (!slot_get(s, id))
        return -EBADF;
    if (id != 1)    /* the root lives as long as the server */
        slot_release(s, (size_t)id - 1);
    return 0;
}

static int64_t do_fpath(scheme_server *s, slot *sl, uint64_t addr, uint64_t len,
                        const scheme_caller *c)
{
    size_t cap = len > SCHEME_PATH_MAX + 80 ? SCHEME_PATH_MAX + 80 : (size_t)len;
    void *p;
    int r = mem_get(s, addr, cap, true, &p);
    if (r < 0)
        return r;
    if (s->ops->fpath) {
        int64_t n = s->ops->fpath(s->svc, sl->h, p, cap, c);
        if (n < 0)
            return n;
        return (uint64_t)n > cap ? (int64_t)cap : n;
    }
    char full[SCHEME_PATH_MAX + 80];
    int n = snprintf(full, sizeof full, "/scheme/%s/%s", s->name, sl->path);
    size_t copy = (size_t)n < cap ? (size_t)n : cap;
    memcpy(p, full, copy);
    return (int64_t)copy;
}

static int64_t do_frename(scheme_server *s, slot *sl, uint64_t addr, uint64_t len,
                          const scheme_caller *c)
{
    char path[SCHEME_PATH_MAX];
    int r = path_arg(s, 1, addr, len, path);
    if (r < 0)
        return r;
    if (!s->ops->frename)
        return -EOPNOTSUPP;
    if (sl == &s->slots[0] || path[0] == '\0')
        return -EBUSY;
    char *copy = dup_str(path);
    if (!copy)
        return -ENOMEM;
    r = s->ops->frename(s->svc, sl->h, path, c);
    if (r < 0) {
        free(copy);
        return r;
    }
    free(sl->path);
    sl->path = copy;
    return 0;
}

static int64_t do_getdents(scheme_server *s, slot *sl, const scheme_sqe *q,
                           const scheme_caller *c)
{
    uint64_t len = q->args[2];
    uint64_t header_size = q->args[3];
    if (header_size < SCHEME_DIRENT_HDR_SIZE || header_size > 256)
        return -EINVAL;
    if (!s->ops->getdents)
        return -EOPNOTSUPP;
    if (len > s->max_io)
        len = s->max_io;
    void *p;
    int r = mem_get(s, q->args[1], (size_t)len, true, &p);
    if (r < 0)
        return r;
    scheme_dirent_sink k = {p, (size_t)len, 0, (uint16_t)header_size, false};
    r = s->ops->getdents(s->svc, sl->h, q->args[4], &k, c);
    if (r < 0)
        return r;
    /* Not even one record fits: DirentBuf's answer. */
    if (k.written == 0 && k.full)
        return -EINVAL;
    return (int64_t)k.written;
}

static int64_t do_futimens(scheme_server *s, slot *sl, uint64_t addr, uint64_t len,
                           const scheme_caller *c)
{
    if (len > 2 * SCHEME_TIMESPEC_SIZE)
        return -EINVAL;
    if (!s->ops->futimens)
        return -EBADF;
    void *p;
    int r = mem_get(s, addr, (size_t)len, false, &p);
    if (r < 0)
        return r;
    scheme_timespec t[2];
    size_t n = (size_t)len / SCHEME_TIMESPEC_SIZE;
    for (size_t i = 0; i < n; i++)
        scheme_timespec_decode((const uint8_t *)p + i * SCHEME_TIMESPEC_SIZE, &t[i]);
    return s->ops->futimens(s->svc, sl->h, t, n, c);
}

/* A service answering more bytes than it was given is a bug; do not pass it on. */
static int64_t io_result(int64_t r, size_t len)
{
    return r > (int64_t)len ? -EIO : r;
}

/* Records a deferred request; without room the service is told to drop it and the caller
 * gets EAGAIN now. */
static int64_t defer(scheme_server *s, const scheme_sqe *q, size_t len, bool *deferred)
{
    for (size_t i = 0; i < s->npend_max; i++)
        if (!s->pend[i].used) {
            s->pend[i] = (pending){true, q->tag, q->args[0], len};
            s->npend++;
            *deferred = true;
            return SCHEME_PENDING;
        }
    if (s->ops->cancel)
        s->ops->cancel(s->svc, q->tag);
    return -EAGAIN;
}

static int64_t dispatch(scheme_server *s, const scheme_sqe *q, const scheme_caller *c,
                        uint8_t *fd_flags, bool *deferred)
{
    const scheme_ops *o = s->ops;
    const uint64_t *a = q->args;
    switch (q->opcode) {
    case SCHEME_OP_OPENAT:
        return do_open(s, a[0], a[1], a[2], a[3], (uint32_t)a[4], c, fd_flags);
    case SCHEME_OP_OPEN:
        return do_open(s, 1, a[0], a[1], a[2], 0, c, fd_flags);
    case SCHEME_OP_UNLINKAT:
        return do_unlink(s, a[0], a[1], a[2], scheme_unlink_is_dir(a[3]), c);
    case SCHEME_OP_RMDIR:
    case SCHEME_OP_UNLINK:
        return do_unlink(s, 1, a[0], a[1], q->opcode == SCHEME_OP_RMDIR, c);
    case SCHEME_OP_CLOSE:
    case SCHEME_OP_CLOSE_MSG:
        return do_close(s, a[0]);
    case SCHEME_OP_CANCEL: {
        /* The kernel gave up waiting for request `tag` (a signal): answer it now. */
        pending *p = pend_find(s, q->tag);
        if (!p)
            return SCHEME_PENDING;    /* already answered: nothing to send */
        pend_drop(s, p, true);
        return -EINTR;
    }
    case SCHEME_OP_FLINK:
    case SCHEME_OP_SENDFD:
    case SCHEME_OP_RECVFD:
        return -EOPNOTSUPP;
    case SCHEME_OP_DUP: case SCHEME_OP_READ: case SCHEME_OP_WRITE: case SCHEME_OP_FSIZE:
    case SCHEME_OP_FCHMOD: case SCHEME_OP_FCHOWN: case SCHEME_OP_FCNTL: case SCHEME_OP_FEVENT:
    case SCHEME_OP_FPATH: case SCHEME_OP_FRENAME: case SCHEME_OP_FSTAT:
    case SCHEME_OP_FSTATVFS: case SCHEME_OP_FSYNC: case SCHEME_OP_FTRUNCATE:
    case SCHEME_OP_FUTIMENS: case SCHEME_OP_GETDENTS: case SCHEME_OP_MMAP_PREP:
    case SCHEME_OP_MUNMAP: case SCHEME_OP_CALL:
        break;
    default:
        /* redox-scheme answers ENOSYS for what it cannot decode. */
        return -ENOSYS;
    }

    slot *sl = slot_get(s, a[0]);
    if (!sl)
        return -EBADF;
    void *h = sl->h, *p;
    int r;
    switch (q->opcode) {
    case SCHEME_OP_DUP: {
        if (!o->dup)
            return -EOPNOTSUPP;
        if (a[2] > SCHEME_PATH_MAX - 1)
            return -ENAMETOOLONG;
        if ((r = mem_get(s, a[1], (size_t)a[2], false, &p)) < 0)
            return r;
        if (s->nused >= s->nslots)
            return -EMFILE;
        void *nh = NULL;
        *fd_flags = 0;
        if ((r = o->dup(s->svc, h, p, (size_t)a[2], c, &nh, fd_flags)) < 0)
            return r;
        int64_t id = new_slot(s, nh, sl->path);
        if (id < 0 && o->close)
            o->close(s->svc, nh);
        return id;
    }
    case SCHEME_OP_READ:
    case SCHEME_OP_WRITE: {
        size_t len = a[2] > s->max_io ? s->max_io : (size_t)a[2];
        bool rd = q->opcode == SCHEME_OP_READ;
        if (rd ? !o->read : !o->write)
            return -EBADF;
        if ((r = mem_get(s, a[1], len, rd, &p)) < 0)
            return r;
        if (pend_find(s, q->tag))
            return -EBUSY;
        int64_t n = rd ? o->read(s->svc, h, p, len, a[3], (uint32_t)a[4], c)
                       : o->write(s->svc, h, p, len, a[3], (uint32_t)a[4], c);
        return n == SCHEME_PENDING ? defer(s, q, len, deferred) : io_result(n, len);
    }
    case SCHEME_OP_FSIZE:
        return o->fsize ? o->fsize(s->svc, h, c) : -ESPIPE;
    case SCHEME_OP_FCHMOD:
        return o->fchmod ? o->fchmod(s->svc, h, (uint16_t)(a[1] & SCHEME_MODE_PERM), c)
                         : -EOPNOTSUPP;
    case SCHEME_OP_FCHOWN:
        return o->fchown ? o->fchown(s->svc, h, (uint32_t)a[1], (uint32_t)a[2], c)
                         : -EOPNOTSUPP;
    case SCHEME_OP_FCNTL:
        return o->fcntl ? o->fcntl(s->svc, h, a[1], a[2], c) : -EOPNOTSUPP;
    case SCHEME_OP_FEVENT: {
        if (!o->fevent)
            return 0;
        int64_t ev = o->fevent(s->svc, h, (uint32_t)a[1], c);
        return ev < 0 ? ev : (int64_t)((uint64_t)ev & a[1]);
    }
    case SCHEME_OP_FPATH:
        return do_fpath(s, sl, a[1], a[2], c);
    case SCHEME_OP_FRENAME:
        return do_frename(s, sl, a[1], a[2], c);
    case SCHEME_OP_FSTAT: {
        if (a[2] < SCHEME_STAT_SIZE)
            return -EINVAL;
        if (!o->fstat)
            return -EOPNOTSUPP;
        if ((r = mem_get(s, a[1], SCHEME_STAT_SIZE, true, &p)) < 0)
            return r;
        scheme_stat st = {0};
        if ((r = o->fstat(s->svc, h, &st, c)) < 0)
            return r;
        scheme_stat_encode(&st, p);
        return 0;
    }
    case SCHEME_OP_FSTATVFS: {
        if (a[2] < SCHEME_STATVFS_SIZE)
            return -EINVAL;
        if (!o->fstatvfs)
            return -EOPNOTSUPP;
        if ((r = mem_get(s, a[1], SCHEME_STATVFS_SIZE, true, &p)) < 0)
            return r;
        scheme_statvfs st = {0};
        if ((r = o->fstatvfs(s->svc, h, &st, c)) < 0)
            return r;
        scheme_statvfs_encode(&st, p);
        return 0;
    }
    case SCHEME_OP_FSYNC:
        return o->fsync ? o->fsync(s->svc, h, c) : 0;
    case SCHEME_OP_FTRUNCATE:
        return o->ftruncate ? o->ftruncate(s->svc, h, a[1], c) : -EBADF;
    case SCHEME_OP_FUTIMENS:
        return do_futimens(s, sl, a[1], a[2], c);
    case SCHEME_OP_GETDENTS:
        return do_getdents(s, sl, q, c);
    case SCHEME_OP_MMAP_PREP:
        return o->mmap_prep ? o->mmap_prep(s->svc, h, a[3], a[1], a[2], c) : -EOPNOTSUPP;
    case SCHEME_OP_MUNMAP:
        return o->munmap ? o->munmap(s->svc, h, a[3], a[1], a[2], c) : -EOPNOTSUPP;
    case SCHEME_OP_CALL: {
        if (!o->call)
            return -EOPNOTSUPP;
        size_t len = a[2] > s->max_io ? s->max_io : (size_t)a[2];
        if ((r = mem_get(s, a[1], len, true, &p)) < 0)
            return r;
        if (pend_find(s, q->tag))
            return -EBUSY;
        const uint64_t meta[3] = {a[3], a[4], a[5]};
        int64_t n = o->call(s->svc, h, p, len, meta, c);
        return n == SCHEME_PENDING ? defer(s, q, len, deferred) : io_result(n, len);
    }
    }
    return -ENOSYS;
}

bool scheme_handle_request(scheme_server *s, const scheme_sqe *q, scheme_cqe *cqe)
{
    scheme_caller c = {scheme_sqe_uid(q), scheme_sqe_gid(q), q->caller, q->tag};
    /* For Call, args[5] is metadata, not the caller's ids: treat the caller as nobody. */
    if (q->opcode == SCHEME_OP_CALL)
        c.uid = c.gid = UINT32_MAX;
    uint8_t fd_flags = 0;
    bool deferred = false;
    int64_t r = dispatch(s, q, &c, &fd_flags, &deferred);
    if (r == SCHEME_PENDING && (deferred || q->opcode == SCHEME_OP_CANCEL)) {
        memset(cqe, 0, sizeof *cqe);
        return false;
    }
    if (r == SCHEME_PENDING)    /* an op that may not defer claimed to */
        r = -EIO;
    memset(cqe, 0, sizeof *cqe);
    cqe->flags = SCHEME_CQE_RESPOND;
    cqe->tag = q->tag;
    cqe->result = scheme_result_encode(r);
    bool opens = q->opcode == SCHEME_OP_OPENAT || q->opcode == SCHEME_OP_OPEN ||
                 q->opcode == SCHEME_OP_DUP;
    if (opens && r >= 0)
        cqe->extra[0] = fd_flags & SCHEME_FD_POSITIONED;
    if (q->opcode == SCHEME_OP_CANCEL)
        return true;    /* the answer to the cancelled request, whatever the Sqe flags */
    if (q->opcode == SCHEME_OP_CLOSE_MSG || (q->flags & SCHEME_SQE_ONEWAY))
        return false;
    return true;
}

bool scheme_handle_packet(scheme_server *s, const uint8_t raw[SCHEME_SQE_SIZE],
                          uint8_t out[SCHEME_CQE_SIZE])
{
    scheme_sqe q;
    scheme_cqe c;
    scheme_sqe_decode(raw, &q);
    bool answer = scheme_handle_request(s, &q, &c);
    scheme_cqe_encode(&c, out);
    return answer;
}

bool scheme_server_complete(scheme_server *s, uint32_t tag, int64_t result, scheme_cqe *cqe)
{
    pending *p = pend_find(s, tag);
    if (!p)
        return false;
    size_t len = p->len;
    pend_drop(s, p, false);
    if (result == SCHEME_PENDING)
        result = -EIO;
    memset(cqe, 0, sizeof *cqe);
    cqe->flags = SCHEME_CQE_RESPOND;
    cqe->tag = tag;
    cqe->result = scheme_result_encode(io_result(result, len));
    return true;
}

size_t scheme_server_pending_count(const scheme_server *s)
{
    return s->npend;
}

bool scheme_server_fevent(const scheme_server *s, const void *h, uint32_t events,
                          scheme_cqe *cqe)
{
    uint64_t id = scheme_server_id_of(s, h);
    if (!id)
        return false;
    memset(cqe, 0, sizeof *cqe);
    cqe->flags = SCHEME_CQE_SEND_FEVENT;
    cqe->tag = events;
    cqe->result = id;
    return true;
}
