/* Node and handle tables of the fs helper (fs.h). A node id is (generation << 32 | slot + 1),
 * so an id for a slot that was freed and reused is stale, not a different file. The same
 * (device, inode) always maps to one slot: the node holds an O_PATH descriptor, which keeps the
 * inode from being reused while the host may still name it. */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct node {
    int fd;          /* O_PATH|O_NOFOLLOW, -1 when free */
    uint32_t gen;
    uint32_t type;   /* S_IFMT bits */
    uint64_t nlookup;
    dev_t dev;
    ino_t ino;
    int32_t next;    /* hash chain */
} node;

#define HBUCKETS 65536u

static node *nodes;
static int32_t *buckets;
static uint32_t *freelist, nfree;

static uint32_t hash(dev_t dev, ino_t ino)
{
    uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4full;
    return (uint32_t)(h >> 40) % HBUCKETS;
}

void guest_fs_nodes_init(int rootfd)
{
    nodes = calloc(GUEST_FS_MAX_NODES, sizeof *nodes);
    buckets = malloc(HBUCKETS * sizeof *buckets);
    freelist = malloc(GUEST_FS_MAX_NODES * sizeof *freelist);
    if (!nodes || !buckets || !freelist)
        abort();
    for (uint32_t i = 0; i < HBUCKETS; i++)
        buckets[i] = -1;
    for (uint32_t i = 0; i < GUEST_FS_MAX_NODES; i++)
        nodes[i].fd = -1;
    nfree = 0;
    for (uint32_t i = GUEST_FS_MAX_NODES; i-- > 1;)
        freelist[nfree++] = i;
    struct stat st;
    fstat(rootfd, &st);
    nodes[0] = (node){rootfd, 0, st.st_mode & S_IFMT, 1, st.st_dev, st.st_ino, -1};
    uint32_t b = hash(st.st_dev, st.st_ino);
    nodes[0].next = buckets[b];
    buckets[b] = 0;
}

static node *get(uint64_t id)
{
    uint32_t slot = (uint32_t)id, gen = (uint32_t)(id >> 32);
    if (slot == 0 || slot > GUEST_FS_MAX_NODES)
        return NULL;
    node *n = &nodes[slot - 1];
    if (n->fd < 0 || n->gen != gen)
        return NULL;
    return n;
}

static uint64_t id_of(uint32_t idx)
{
    return (uint64_t)nodes[idx].gen << 32 | (idx + 1);
}

int guest_fs_node_fd(uint64_t id, mode_t *type)
{
    node *n = get(id);
    if (!n) {
        errno = ESTALE;
        return -1;
    }
    if (type)
        *type = n->type;
    return n->fd;
}

uint64_t guest_fs_node_lookup(int parentfd, const char *name, struct stat *st)
{
    int fd = openat(parentfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return 0;
    }
    uint32_t b = hash(st->st_dev, st->st_ino);
    for (int32_t i = buckets[b]; i >= 0; i = nodes[i].next)
        if (nodes[i].dev == st->st_dev && nodes[i].ino == st->st_ino) {
            close(fd);
            nodes[i].nlookup++;
            return id_of((uint32_t)i);
        }
    if (nfree == 0) {
        close(fd);
        errno = ENFILE;
        return 0;
    }
    uint32_t idx = freelist[--nfree];
    node *n = &nodes[idx];
    n->fd = fd;
    n->type = st->st_mode & S_IFMT;
    n->nlookup = 1;
    n->dev = st->st_dev;
    n->ino = st->st_ino;
    n->next = buckets[b];
    buckets[b] = (int32_t)idx;
    return id_of(idx);
}

void guest_fs_node_forget(uint64_t id, uint64_t count)
{
    node *n = get(id);
    if (!n || n == &nodes[0])
        return; /* the root lives as long as the helper */
    n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
    if (n->nlookup)
        return;
    uint32_t idx = (uint32_t)(n - nodes), b = hash(n->dev, n->ino);
    for (int32_t *p = &buckets[b]; *p >= 0; p = &nodes[*p].next)
        if (*p == (int32_t)idx) {
            *p = n->next;
            break;
        }
    close(n->fd);
    n->fd = -1;
    n->gen++;
    freelist[nfree++] = idx;
}

/* ---- handles ---- */
typedef struct handle {
    int fd;
    DIR *dir;
    uint32_t gen;
    bool used;
} handle;

static handle handles[GUEST_FS_MAX_HANDLES];

uint64_t guest_fs_handle_add(int fd, DIR *dir)
{
    for (uint32_t i = 0; i < GUEST_FS_MAX_HANDLES; i++)
        if (!handles[i].used) {
            handles[i].used = true;
            handles[i].fd = fd;
            handles[i].dir = dir;
            handles[i].gen++;
            return (uint64_t)handles[i].gen << 32 | (i + 1);
        }
    if (dir)
        closedir(dir);
    else
        close(fd);
    errno = ENFILE;
    return 0;
}

static handle *hget(uint64_t fh)
{
    uint32_t slot = (uint32_t)fh, gen = (uint32_t)(fh >> 32);
    if (slot == 0 || slot > GUEST_FS_MAX_HANDLES || !handles[slot - 1].used ||
        handles[slot - 1].gen != gen) {
        errno = EBADF;
        return NULL;
    }
    return &handles[slot - 1];
}

int guest_fs_handle_fd(uint64_t fh)
{
    handle *h = hget(fh);
    return h ? h->fd : -1;
}

DIR *guest_fs_handle_dir(uint64_t fh)
{
    handle *h = hget(fh);
    if (h && !h->dir)
        errno = EBADF;
    return h ? h->dir : NULL;
}

int guest_fs_handle_close(uint64_t fh)
{
    handle *h = hget(fh);
    if (!h)
        return -1;
    if (h->dir)
        closedir(h->dir);
    else
        close(h->fd);
    h->used = false;
    h->dir = NULL;
    h->fd = -1;
    return 0;
}
