#include "disk_qcow2.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cm_io.h"
#include "outfile.h"

#define CLUSTER DISK_QCOW2_CLUSTER
#define CLUSTER_BITS 16
#define L2_ENTRIES (CLUSTER / 8)      /* one L2 table maps 512 MiB */
#define REFS_PER_BLOCK (CLUSTER / 2)  /* 16-bit refcounts: one block counts 2 GiB */
#define REFTABLE_PER_CLUSTER (CLUSTER / 8)
#define OFLAG_COPIED (1ull << 63)     /* refcount is exactly 1: writable in place */
#define HEADER_LENGTH 104u
#define IO_CHUNK (16u * CLUSTER)      /* 1 MiB reads and writes */

static uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

void disk_qcow2_plan(uint64_t virtual_clusters, uint64_t data_clusters, uint64_t l2_tables,
                     disk_qcow2_layout *out)
{
    memset(out, 0, sizeof *out);
    out->virtual_clusters = virtual_clusters;
    out->data_clusters = data_clusters;
    out->l1_entries = div_up(virtual_clusters, L2_ENTRIES);
    out->l1_clusters = div_up(out->l1_entries * 8, CLUSTER);
    if (out->l1_clusters == 0)
        out->l1_clusters = 1;
    out->l2_tables = l2_tables;
    /* Refcount blocks count every cluster, themselves and the table included:
     * grow until the numbers agree (two rounds at most in practice). */
    uint64_t fixed = 1 + out->l1_clusters + l2_tables + data_clusters;
    uint64_t rb = 1, rt = 1;
    for (;;) {
        uint64_t total = fixed + rb + rt;
        uint64_t nrb = div_up(total, REFS_PER_BLOCK);
        uint64_t nrt = div_up(nrb, REFTABLE_PER_CLUSTER);
        if (nrb == rb && nrt == rt)
            break;
        rb = nrb > rb ? nrb : rb;
        rt = nrt > rt ? nrt : rt;
    }
    out->refblocks = rb;
    out->reftable_clusters = rt;
    out->total_clusters = fixed + rb + rt;
}

static void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static int read_full(int fd, uint8_t *buf, size_t len, uint64_t off, mk_err *err)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return mk_fail_errno(err, errno, "raw image: cannot read");
        if (n == 0) { /* past the end of a shorter file: zeros */
            memset(buf + got, 0, len - got);
            break;
        }
        got += (size_t)n;
    }
    return 0;
}

/* The raw image, read through a shared mapping when possible: no copy into a
 * buffer, the zero check and the output write touch the page cache directly (the
 * raw image usually sits on tmpfs). pread into buf is the fallback. */
typedef struct source {
    int fd;
    const uint8_t *map; /* NULL: use pread */
    uint64_t size;
    uint8_t *buf;       /* IO_CHUNK bytes */
} source;

static const uint8_t *clusters_at(source *src, uint64_t c, uint64_t n, mk_err *err)
{
    if (src->map)
        return src->map + c * CLUSTER;
    if (read_full(src->fd, src->buf, (size_t)(n * CLUSTER), c * CLUSTER, err) < 0)
        return NULL;
    return src->buf;
}

static bool all_zero(const uint8_t *p, size_t len)
{
    static const uint8_t zeros[4096];
    for (size_t i = 0; i < len; i += sizeof zeros) {
        size_t n = len - i < sizeof zeros ? len - i : sizeof zeros;
        if (memcmp(p + i, zeros, n) != 0)
            return false;
    }
    return true;
}

/* Pass 1: which guest clusters hold data. Only the raw image's data extents
 * (SEEK_DATA/SEEK_HOLE) are read; a 5 GiB sparse image with 100 MiB of content
 * costs 100 MiB of reading. */
static int map_clusters(source *src, uint8_t *bitmap, mk_err *err)
{
    int fd = src->fd;
    uint64_t size = src->size, pos = 0;
    while (pos < size) {
        off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break;
        if (data < 0) { /* no SEEK_DATA: treat the whole rest as data */
            data = (off_t)pos;
        }
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0 || (uint64_t)hole > size)
            hole = (off_t)size;
        uint64_t first = (uint64_t)data / CLUSTER, last = div_up((uint64_t)hole, CLUSTER);
        for (uint64_t c = first; c < last && c * CLUSTER < size;) {
            uint64_t n = last - c;
            if (n > IO_CHUNK / CLUSTER)
                n = IO_CHUNK / CLUSTER;
            const uint8_t *buf = clusters_at(src, c, n, err);
            if (!buf)
                return -1;
            for (uint64_t k = 0; k < n; k++)
                if (!all_zero(buf + k * CLUSTER, CLUSTER))
                    bitmap[(c + k) / 8] |= (uint8_t)(1u << ((c + k) % 8));
            c += n;
        }
        pos = last * CLUSTER;
    }
    return 0;
}

static bool has(const uint8_t *bitmap, uint64_t c) { return bitmap[c / 8] >> (c % 8) & 1; }

typedef struct writer {
    int fd;
    uint64_t off;
    EVP_MD_CTX *md;
    const char *what;
    void (*tick)(void *, uint64_t);
    void *ctx;
} writer;

static int emit(writer *w, const uint8_t *p, size_t len, mk_err *err)
{
    EVP_DigestUpdate(w->md, p, len);
    if (cm_write_all(w->fd, p, len) < 0)
        return mk_fail_errno(err, errno, "%s: cannot write", w->what);
    w->off += len;
    if (w->tick)
        w->tick(w->ctx, w->off);
    return 0;
}

/* Builds every metadata cluster in one buffer: header, L1, refcount table and
 * blocks, L2 tables (in that file order). */
static uint8_t *build_metadata(const disk_qcow2_layout *L, uint64_t size, const uint8_t *bitmap,
                               size_t *len)
{
    uint64_t meta_clusters = L->total_clusters - L->data_clusters;
    uint8_t *m = calloc(meta_clusters, CLUSTER);
    if (!m)
        return NULL;
    uint64_t l1_at = 1, rt_at = l1_at + L->l1_clusters, rb_at = rt_at + L->reftable_clusters,
             l2_at = rb_at + L->refblocks, data_at = l2_at + L->l2_tables;

    memcpy(m, "QFI\xfb", 4);
    put_be32(m + 4, 3);                            /* version */
    put_be32(m + 20, CLUSTER_BITS);
    put_be64(m + 24, size);
    put_be32(m + 36, (uint32_t)L->l1_entries);
    put_be64(m + 40, l1_at * CLUSTER);
    put_be64(m + 48, rt_at * CLUSTER);
    put_be32(m + 56, (uint32_t)L->reftable_clusters);
    put_be32(m + 96, 4);                           /* refcount_order: 16 bits */
    put_be32(m + 100, HEADER_LENGTH);
    /* Header extension area: only the end marker (type 0, length 0), at 104. */

    uint8_t *l1 = m + l1_at * CLUSTER, *l2 = m + l2_at * CLUSTER;
    uint64_t next_l2 = 0, next_data = data_at;
    for (uint64_t t = 0; t < L->l1_entries; t++) {
        uint64_t base = t * L2_ENTRIES;
        bool used = false;
        for (uint64_t k = 0; k < L2_ENTRIES && base + k < L->virtual_clusters; k++) {
            if (!has(bitmap, base + k))
                continue;
            if (!used) {
                used = true;
                put_be64(l1 + t * 8, ((l2_at + next_l2) * CLUSTER) | OFLAG_COPIED);
            }
            put_be64(l2 + next_l2 * CLUSTER + k * 8, (next_data++ * CLUSTER) | OFLAG_COPIED);
        }
        if (used)
            next_l2++;
    }

    uint8_t *rt = m + rt_at * CLUSTER, *rb = m + rb_at * CLUSTER;
    for (uint64_t b = 0; b < L->refblocks; b++)
        put_be64(rt + b * 8, (rb_at + b) * CLUSTER);
    for (uint64_t c = 0; c < L->total_clusters; c++)
        put_be16(rb + c * 2, 1);
    *len = (size_t)(meta_clusters * CLUSTER);
    return m;
}

int disk_qcow2_write(int raw_fd, uint64_t size, int out_fd, const char *what,
                     char sha256_hex[65], uint64_t *out_bytes,
                     void (*tick)(void *ctx, uint64_t done), void *ctx, mk_err *err)
{
    if (size == 0 || size % CLUSTER)
        return mk_fail(err, "%s: disk size must be a non-zero multiple of 64 KiB", what);
    uint64_t vclusters = size / CLUSTER;
    uint8_t *bitmap = calloc(div_up(vclusters, 8), 1);
    uint8_t *buf = malloc(IO_CHUNK);
    uint8_t *meta = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    source src = {.fd = raw_fd, .size = size}; /* before any goto out */
    int r = -1;
    if (!bitmap || !buf || !md) {
        mk_fail(err, "%s: out of memory", what);
        goto out;
    }
    src.buf = buf;
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, raw_fd, 0);
    if (map != MAP_FAILED)
        src.map = map;
    if (map_clusters(&src, bitmap, err) < 0)
        goto out;
    uint64_t data = 0, tables = 0;
    for (uint64_t t = 0; t * L2_ENTRIES < vclusters; t++) {
        bool used = false;
        for (uint64_t c = t * L2_ENTRIES; c < (t + 1) * L2_ENTRIES && c < vclusters; c++)
            if (has(bitmap, c)) {
                data++;
                used = true;
            }
        tables += used;
    }
    disk_qcow2_layout L;
    disk_qcow2_plan(vclusters, data, tables, &L);
    size_t meta_len;
    meta = build_metadata(&L, size, bitmap, &meta_len);
    if (!meta) {
        mk_fail(err, "%s: out of memory", what);
        goto out;
    }
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    writer w = {.fd = out_fd, .md = md, .what = what, .tick = tick, .ctx = ctx};
    if (emit(&w, meta, meta_len, err) < 0)
        goto out;
    /* Pass 2: data clusters in guest order, runs of adjacent clusters batched. */
    for (uint64_t c = 0; c < vclusters;) {
        if (!has(bitmap, c)) {
            c++;
            continue;
        }
        uint64_t n = 1;
        while (c + n < vclusters && n < IO_CHUNK / CLUSTER && has(bitmap, c + n))
            n++;
        const uint8_t *data_at = clusters_at(&src, c, n, err);
        if (!data_at || emit(&w, data_at, (size_t)(n * CLUSTER), err) < 0)
            goto out;
        c += n;
    }
    unsigned char digest[32];
    unsigned int dlen = 0;
    EVP_DigestFinal_ex(md, digest, &dlen);
    for (unsigned i = 0; i < 32; i++)
        snprintf(sha256_hex + 2 * i, 3, "%02x", digest[i]);
    *out_bytes = w.off;
    r = 0;
out:
    if (src.map)
        munmap((void *)src.map, (size_t)size);
    EVP_MD_CTX_free(md);
    free(meta);
    free(buf);
    free(bitmap);
    return r;
}
