/* In-memory reference scheme; see scheme_demo.h. Paths arrive normalized from the server, so
 * a node is found by comparing its full path. */
#include "scheme_demo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct node {
    bool used;      /* slot taken (linked or still open after unlink) */
    bool linked;    /* reachable by path */
    bool dir;
    char path[128];
    uint16_t mode;  /* permission bits */
    uint32_t uid, gid;
    uint8_t *data;
    size_t size;
    uint64_t mtime, atime;
    unsigned refs;
} node;

typedef struct dhandle {
    int node;
    uint32_t flags;
} dhandle;

typedef struct wait {
    bool used;
    uint32_t tag;
    int node;
    uint8_t *buf;   /* the caller's buffer: stays valid until answered or cancelled */
    size_t len;
    uint64_t off;
} wait;

struct scheme_demo {
    node nodes[SCHEME_DEMO_MAX_NODES];
    size_t live;
    bool wait_for_data;
    wait waits[SCHEME_DEMO_MAX_WAITS];
};

static int find(scheme_demo *d, const char *path)
{
    for (int i = 0; i < SCHEME_DEMO_MAX_NODES; i++)
        if (d->nodes[i].used && d->nodes[i].linked && strcmp(d->nodes[i].path, path) == 0)
            return i;
    return -1;
}

/* Index of the parent directory of path, or -1. */
static int parent_of(scheme_demo *d, const char *path)
{
    const char *slash = strrchr(path, '/');
    char parent[128] = "";
    if (slash) {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof parent)
            return -1;
        memcpy(parent, path, n);
        parent[n] = '\0';
    }
    int p = find(d, parent);
    return p >= 0 && d->nodes[p].dir ? p : -1;
}

static int add(scheme_demo *d, const char *path, bool dir, uint16_t mode, uint32_t uid,
               uint32_t gid, const char *text)
{
    if (strlen(path) >= sizeof d->nodes[0].path)
        return -ENAMETOOLONG;
    for (int i = 0; i < SCHEME_DEMO_MAX_NODES; i++) {
        node *n = &d->nodes[i];
        if (n->used)
            continue;
        *n = (node){.used = true, .linked = true, .dir = dir, .mode = mode & 07777,
                    .uid = uid, .gid = gid, .mtime = 1700000000};
        strcpy(n->path, path);
        if (text) {
            n->size = strlen(text);
            n->data = malloc(n->size);
            if (!n->data) {
                n->used = false;
                return -ENOMEM;
            }
            memcpy(n->data, text, n->size);
        }
        return i;
    }
    return -ENOSPC;
}

static void node_free_if_dead(node *n)
{
    if (n->used && !n->linked && n->refs == 0) {
        free(n->data);
        *n = (node){0};
    }
}

scheme_demo *scheme_demo_new(void)
{
    scheme_demo *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    if (add(d, "", true, 0755, 0, 0, NULL) < 0 ||
        add(d, "hello.txt", false, 0644, 0, 0, "hello, scheme\n") < 0 ||
        add(d, "dir", true, 0755, 0, 0, NULL) < 0 ||
        add(d, "dir/a.txt", false, 0644, 0, 0, "a\n") < 0 ||
        add(d, "private", false, 0600, 1000, 1000, "secret\n") < 0 ||
        add(d, "pub", true, 0777, 0, 0, NULL) < 0) {
        scheme_demo_free(d);
        return NULL;
    }
    return d;
}

void scheme_demo_free(scheme_demo *d)
{
    if (!d)
        return;
    for (int i = 0; i < SCHEME_DEMO_MAX_NODES; i++)
        free(d->nodes[i].data);
    free(d);
}

size_t scheme_demo_live_handles(const scheme_demo *d)
{
    return d->live;
}

static int perm(const node *n, const scheme_caller *c, unsigned want)
{
    return scheme_perm_check(n->mode, n->uid, n->gid, c, want);
}

static int d_openat(void *svc, const scheme_open_req *req, const scheme_caller *c,
                    void **out, uint8_t *fd_flags)
{
    scheme_demo *d = svc;
    int i = find(d, req->path);
    int r;
    bool want_dir = req->flags & SCHEME_OPEN_DIRECTORY;
    if (i < 0) {
        if (!(req->flags & SCHEME_OPEN_CREATE))
            return -ENOENT;
        int p = parent_of(d, req->path);
        if (p < 0)
            return -ENOENT;
        if ((r = perm(&d->nodes[p], c, SCHEME_PERM_W | SCHEME_PERM_X)) < 0)
            return r;
        i = add(d, req->path, want_dir, req->mode, c->uid, c->gid, NULL);
        if (i < 0)
            return i;
    } else {
        node *n = &d->nodes[i];
        if ((req->flags & SCHEME_OPEN_CREATE) && (req->flags & SCHEME_OPEN_EXCL))
            return -EEXIST;
        if (want_dir && !n->dir)
            return -ENOTDIR;
        if (n->dir && (req->flags & SCHEME_OPEN_WRITE))
            return -EISDIR;
        unsigned want = 0;
        if (req->flags & SCHEME_OPEN_READ)
            want |= SCHEME_PERM_R;
        if (req->flags & SCHEME_OPEN_WRITE)
            want |= SCHEME_PERM_W;
        if (!(req->flags & SCHEME_OPEN_STAT) && (r = perm(n, c, want)) < 0)
            return r;
    }
    node *n = &d->nodes[i];
    if (!n->dir && (req->flags & SCHEME_OPEN_TRUNC) && (req->flags & SCHEME_OPEN_WRITE))
        n->size = 0;
    dhandle *h = malloc(sizeof *h);
    if (!h)
        return -ENOMEM;
    *h = (dhandle){i, req->flags};
    n->refs++;
    d->live++;
    *out = h;
    *fd_flags = n->dir ? 0 : SCHEME_FD_POSITIONED;
    return 0;
}

/* The root arrives as NULL: it is node 0. */
static node *nd(scheme_demo *d, void *h)
{
    return &d->nodes[h ? ((dhandle *)h)->node : 0];
}

static void d_close(void *svc, void *hv)
{
    scheme_demo *d = svc;
    dhandle *h = hv;
    if (!h)
        return;
    node *n = &d->nodes[h->node];
    n->refs--;
    node_free_if_dead(n);
    d->live--;
    free(h);
}

static int d_dup(void *svc, void *hv, const char *buf, size_t len, const scheme_caller *c,
                 void **out, uint8_t *fd_flags)
{
    (void)c;
    scheme_demo *d = svc;
    dhandle *h = hv;
    if (len != 0 || !h)
        return -EINVAL;
    dhandle *n = malloc(sizeof *n);
    if (!n)
        return -ENOMEM;
    (void)buf;
    *n = *h;
    d->nodes[h->node].refs++;
    d->live++;
    *out = n;
    *fd_flags = d->nodes[h->node].dir ? 0 : SCHEME_FD_POSITIONED;
    return 0;
}

static int64_t d_read(void *svc, void *hv, void *buf, size_t len, uint64_t off, uint32_t fl,
                      const scheme_caller *c)
{
    (void)fl;
    scheme_demo *d = svc;
    dhandle *h = hv;
    node *n = nd(d, hv);
    if (n->dir)
        return -EISDIR;
    if (!h || !(h->flags & SCHEME_OPEN_READ))
        return -EBADF;
    if (off >= n->size && d->wait_for_data && len > 0 && !(h->flags & SCHEME_OPEN_NONBLOCK)) {
        for (int i = 0; i < SCHEME_DEMO_MAX_WAITS; i++)
            if (!d->waits[i].used) {
                d->waits[i] = (wait){true, c->tag, h->node, buf, len, off};
                return SCHEME_PENDING;
            }
        return -EAGAIN;
    }
    if (off >= n->size)
        return 0;
    size_t k = n->size - (size_t)off < len ? n->size - (size_t)off : len;
    memcpy(buf, n->data + off, k);
    return (int64_t)k;
}

static int grow(node *n, uint64_t size)
{
    if (size > SCHEME_DEMO_MAX_FILE)
        return -EFBIG;
    if (size > n->size) {
        uint8_t *p = realloc(n->data, (size_t)size);
        if (!p)
            return -ENOMEM;
        memset(p + n->size, 0, (size_t)size - n->size);
        n->data = p;
    }
    n->size = (size_t)size;
    return 0;
}

static int64_t d_write(void *svc, void *hv, const void *buf, size_t len, uint64_t off,
                       uint32_t fl, const scheme_caller *c)
{
    (void)fl, (void)c;
    scheme_demo *d = svc;
    dhandle *h = hv;
    node *n = nd(d, hv);
    if (n->dir)
        return -EISDIR;
    if (!h || !(h->flags & SCHEME_OPEN_WRITE))
        return -EBADF;
    if (h->flags & SCHEME_OPEN_APPEND)
        off = n->size;
    if (off > SCHEME_DEMO_MAX_FILE || len > SCHEME_DEMO_MAX_FILE - off)
        return -EFBIG;
    if (off + len > n->size) {
        int r = grow(n, off + len);
        if (r < 0)
            return r;
    }
    memcpy(n->data + off, buf, len);
    n->mtime++;
    return (int64_t)len;
}

static int64_t d_fsize(void *svc, void *hv, const scheme_caller *c)
{
    (void)c;
    return (int64_t)nd(svc, hv)->size;
}

static int d_fstat(void *svc, void *hv, scheme_stat *st, const scheme_caller *c)
{
    (void)c;
    scheme_demo *d = svc;
    node *n = nd(d, hv);
    st->dev = 0x5ce;
    st->ino = (uint64_t)(n - d->nodes) + 1;
    st->mode = (uint16_t)((n->dir ? SCHEME_MODE_DIR : SCHEME_MODE_FILE) | n->mode);
    st->nlink = n->linked ? 1 : 0;
    st->uid = n->uid;
    st->gid = n->gid;
    st->size = n->size;
    st->blksize = 512;
    st->blocks = (n->size + 511) / 512;
    st->mtime = n->mtime;
    st->atime = n->atime;
    st->ctime = n->mtime;
    return 0;
}

static int d_fstatvfs(void *svc, void *hv, scheme_statvfs *st, const scheme_caller *c)
{
    (void)hv, (void)c;
    scheme_demo *d = svc;
    size_t used = 0;
    for (int i = 0; i < SCHEME_DEMO_MAX_NODES; i++)
        used += d->nodes[i].used;
    st->bsize = 512;
    st->blocks = SCHEME_DEMO_MAX_NODES * (SCHEME_DEMO_MAX_FILE / 512);
    st->bfree = st->bavail = (SCHEME_DEMO_MAX_NODES - used) * (SCHEME_DEMO_MAX_FILE / 512);
    return 0;
}

static int d_ftruncate(void *svc, void *hv, uint64_t len, const scheme_caller *c)
{
    (void)c;
    dhandle *h = hv;
    node *n = nd(svc, hv);
    if (n->dir)
        return -EISDIR;
    if (!h || !(h->flags & SCHEME_OPEN_WRITE))
        return -EBADF;
    return grow(n, len);
}

static int d_fchmod(void *svc, void *hv, uint16_t mode, const scheme_caller *c)
{
    node *n = nd(svc, hv);
    if (c->uid != 0 && c->uid != n->uid)
        return -EPERM;
    n->mode = mode & 07777;
    return 0;
}

static int d_fchown(void *svc, void *hv, uint32_t uid, uint32_t gid, const scheme_caller *c)
{
    node *n = nd(svc, hv);
    if (c->uid != 0)
        return -EPERM;
    n->uid = uid;
    n->gid = gid;
    return 0;
}

static int d_futimens(void *svc, void *hv, const scheme_timespec *t, size_t k,
                      const scheme_caller *c)
{
    node *n = nd(svc, hv);
    if (c->uid != 0 && c->uid != n->uid)
        return -EPERM;
    if (k > 0)
        n->atime = (uint64_t)t[0].sec;
    if (k > 1)
        n->mtime = (uint64_t)t[1].sec;
    return 0;
}

/* Entries of a directory in node order; opaque = index of the next node to look at. */
static int d_getdents(void *svc, void *hv, uint64_t opaque, scheme_dirent_sink *sink,
                      const scheme_caller *c)
{
    scheme_demo *d = svc;
    node *dir = nd(d, hv);
    if (!dir->dir)
        return -ENOTDIR;
    int r = perm(dir, c, SCHEME_PERM_R);
    if (r < 0)
        return r;
    size_t dl = strlen(dir->path);
    for (uint64_t i = opaque; i < SCHEME_DEMO_MAX_NODES; i++) {
        node *n = &d->nodes[i];
        if (!n->used || !n->linked || n == dir)
            continue;
        const char *rest;
        if (dl == 0)
            rest = n->path;
        else if (strncmp(n->path, dir->path, dl) == 0 && n->path[dl] == '/')
            rest = n->path + dl + 1;
        else
            continue;
        if (rest[0] == '\0' || strchr(rest, '/'))
            continue;
        r = scheme_dirent_add(sink, i + 1, i + 1, n->dir ? SCHEME_DT_DIR : SCHEME_DT_REG, rest,
                              strlen(rest));
        if (r != 0)
            return r < 0 ? r : 0;
    }
    return 0;
}

static int d_frename(void *svc, void *hv, const char *path, const scheme_caller *c)
{
    scheme_demo *d = svc;
    node *n = nd(d, hv);
    if (!n->linked)
        return -ENOENT;
    if (n->dir)
        return -EOPNOTSUPP;   /* children would need renaming too; not worth it here */
    if (strlen(path) >= sizeof n->path)
        return -ENAMETOOLONG;
    if (find(d, path) >= 0)
        return -EEXIST;
    int p = parent_of(d, path), op = parent_of(d, n->path);
    if (p < 0)
        return -ENOENT;
    int r = perm(&d->nodes[p], c, SCHEME_PERM_W);
    if (r < 0 || (op >= 0 && (r = perm(&d->nodes[op], c, SCHEME_PERM_W)) < 0))
        return r;
    strcpy(n->path, path);
    return 0;
}

static int d_unlinkat(void *svc, const char *path, bool is_dir, const scheme_caller *c)
{
    scheme_demo *d = svc;
    int i = find(d, path);
    if (i < 0)
        return -ENOENT;
    node *n = &d->nodes[i];
    if (is_dir && !n->dir)
        return -ENOTDIR;
    if (!is_dir && n->dir)
        return -EISDIR;
    int p = parent_of(d, path);
    int r = p >= 0 ? perm(&d->nodes[p], c, SCHEME_PERM_W) : -ENOENT;
    if (r < 0)
        return r;
    if (n->dir) {
        size_t l = strlen(path);
        for (int k = 0; k < SCHEME_DEMO_MAX_NODES; k++)
            if (d->nodes[k].used && d->nodes[k].linked &&
                strncmp(d->nodes[k].path, path, l) == 0 && d->nodes[k].path[l] == '/')
                return -ENOTEMPTY;
    }
    n->linked = false;
    node_free_if_dead(n);
    return 0;
}

static void d_cancel(void *svc, uint32_t tag)
{
    scheme_demo *d = svc;
    for (int i = 0; i < SCHEME_DEMO_MAX_WAITS; i++)
        if (d->waits[i].used && d->waits[i].tag == tag)
            d->waits[i] = (wait){0};
}

void scheme_demo_set_wait_for_data(scheme_demo *d, bool on)
{
    d->wait_for_data = on;
}

size_t scheme_demo_waiting(const scheme_demo *d)
{
    size_t n = 0;
    for (int i = 0; i < SCHEME_DEMO_MAX_WAITS; i++)
        n += d->waits[i].used;
    return n;
}

bool scheme_demo_poll(scheme_demo *d, scheme_server *s, scheme_cqe *cqe)
{
    for (int i = 0; i < SCHEME_DEMO_MAX_WAITS; i++) {
        wait *w = &d->waits[i];
        node *n = &d->nodes[w->node];
        if (!w->used || w->off >= n->size)
            continue;
        size_t k = n->size - (size_t)w->off < w->len ? n->size - (size_t)w->off : w->len;
        memcpy(w->buf, n->data + w->off, k);
        uint32_t tag = w->tag;
        *w = (wait){0};
        if (scheme_server_complete(s, tag, (int64_t)k, cqe))
            return true;
    }
    return false;
}

static int64_t d_fevent(void *svc, void *hv, uint32_t events, const scheme_caller *c)
{
    (void)svc, (void)hv, (void)c;
    return events & (SCHEME_EVENT_READ | SCHEME_EVENT_WRITE);
}

static const scheme_ops demo_ops = {
    .openat = d_openat, .close = d_close, .dup = d_dup, .read = d_read, .write = d_write,
    .fsize = d_fsize, .fstat = d_fstat, .fstatvfs = d_fstatvfs, .ftruncate = d_ftruncate,
    .fchmod = d_fchmod, .fchown = d_fchown, .futimens = d_futimens, .getdents = d_getdents,
    .frename = d_frename, .unlinkat = d_unlinkat, .fevent = d_fevent, .cancel = d_cancel,
};

const scheme_ops *scheme_demo_ops(void)
{
    return &demo_ops;
}
