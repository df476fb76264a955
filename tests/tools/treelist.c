/* treelist: a canonical, sorted metadata listing of a tarball or a directory tree,
 * so that "what the tarball says" and "what ended up in the image" can be compared
 * with diff, entry for entry.
 *
 *   treelist --tar FILE [--exclude PATH]... [--mtime]   (needs libarchive)
 *   treelist --dir DIR  [--exclude PATH]... [--mtime] [--xdev]
 *
 * One line per entry, fields separated by one space, "-" when not applicable:
 *   PATH TYPE MODE UID GID SIZE TARGET DEV XATTRS [MTIME]
 *   PATH    absolute inside the tree ("/" is the root), bytes outside 0x21..0x7e and
 *           '\' written as \xHH, so a line never holds a stray space or newline
 *   TYPE    f d l c b p s
 *   MODE    4 octal digits incl. setuid/setgid/sticky ("-" for symlinks: Linux
 *           ignores their mode)
 *   SIZE    regular files only;  TARGET  symlinks only (escaped like PATH)
 *   DEV     MAJOR:MINOR for c and b
 *   XATTRS  name=0xHEX, or name=sha256:HEX for values over 128 bytes, sorted by
 *           name, comma-separated (names escaped like PATH, ',' too)
 *   MTIME   seconds, with --mtime only (guest boots change directory times)
 * A tar hard link entry is listed like the file it links to, since on disk both
 * names are the same inode. --exclude P drops P and everything under it (prefix
 * match on whole components). --xdev (dir mode) skips other filesystems entirely.
 * Entry paths in tar mode are normalized with mkimage's tarpath rules, the same
 * names extraction uses. The static musl build (for guests) has --dir only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef TREELIST_NO_TAR
#include <archive.h>
#include <archive_entry.h>

#include "tarpath.h"
#endif

#define XATTR_HEX_MAX 128

typedef struct rec {
    char *path;   /* escaped, absolute */
    char type;
    unsigned mode;
    unsigned long uid, gid;
    long long size;  /* -1 when not a regular file */
    char *target;    /* escaped symlink target */
    unsigned dmaj, dmin;
    char *xattrs;    /* formatted, or NULL */
    long long mtime;
    char *hardlink;  /* tar mode: escaped path of the file this links to */
    size_t seq;      /* input order, so that a later duplicate wins */
} rec;

static rec *g_recs;
static size_t g_n, g_cap;
static const char **g_excl;
static size_t g_nexcl;
static bool g_mtime, g_xdev;

static void die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "treelist: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("%s%s", "out of memory", "");
    return p;
}

/* ---- SHA-256 (FIPS 180-4), only to fingerprint long xattr values: the static
 * guest build has no crypto library. ---- */
static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

static void sha256_hex(const unsigned char *data, size_t len, char out[65])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t i = 0;
    for (; len - i >= 64; i += 64)
        sha256_block(h, data + i);
    unsigned char tail[128] = {0};
    size_t rest = len - i;
    memcpy(tail, data + i, rest);
    tail[rest] = 0x80;
    size_t tl = rest + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int b = 0; b < 8; b++)
        tail[tl - 1 - b] = (unsigned char)(bits >> (8 * b));
    for (size_t o = 0; o < tl; o += 64)
        sha256_block(h, tail + o);
    for (int b = 0; b < 8; b++)
        sprintf(out + 8 * b, "%08x", h[b]);
}

/* ---- formatting ---- */

static char *escape(const char *s, size_t n, bool comma)
{
    char *out = xmalloc(n * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\' || (comma && (c == ',' || c == '=')))
            o += sprintf(o, "\\x%02x", c);
        else
            *o++ = (char)c;
    }
    *o = '\0';
    return out;
}

typedef struct xa {
    char *name; /* escaped */
    char *value; /* formatted */
} xa;

static int xa_cmp(const void *a, const void *b)
{
    return strcmp(((const xa *)a)->name, ((const xa *)b)->name);
}

static char *format_value(const unsigned char *v, size_t n)
{
    if (n > XATTR_HEX_MAX) {
        char *out = xmalloc(7 + 65);
        memcpy(out, "sha256:", 7);
        sha256_hex(v, n, out + 7);
        return out;
    }
    char *out = xmalloc(2 + 2 * n + 1);
    strcpy(out, "0x");
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 + 2 * i, "%02x", v[i]);
    return out;
}

/* Joins and frees the list; NULL when empty. */
static char *join_xattrs(xa *list, size_t n)
{
    if (!n)
        return NULL;
    qsort(list, n, sizeof *list, xa_cmp);
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(list[i].name) + strlen(list[i].value) + 2;
    char *out = xmalloc(len), *o = out;
    for (size_t i = 0; i < n; i++) {
        o += sprintf(o, "%s%s=%s", i ? "," : "", list[i].name, list[i].value);
        free(list[i].name);
        free(list[i].value);
    }
    return out;
}

static bool excluded(const char *path)
{
    for (size_t i = 0; i < g_nexcl; i++) {
        const char *p = g_excl[i];
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/')
            n--;
        if (strncmp(path, p, n) == 0 && (path[n] == '\0' || path[n] == '/' || (n == 1 && p[0] == '/')))
            return true;
    }
    return false;
}

static rec *new_rec(void)
{
    if (g_n == g_cap) {
        g_cap = g_cap ? g_cap * 2 : 1024;
        g_recs = realloc(g_recs, g_cap * sizeof *g_recs);
        if (!g_recs)
            die("%s%s", "out of memory", "");
    }
    rec *r = &g_recs[g_n];
    memset(r, 0, sizeof *r);
    r->size = -1;
    r->seq = g_n++;
    return r;
}

static char type_of(mode_t m)
{
    switch (m & S_IFMT) {
    case S_IFREG: return 'f';
    case S_IFDIR: return 'd';
    case S_IFLNK: return 'l';
    case S_IFCHR: return 'c';
    case S_IFBLK: return 'b';
    case S_IFIFO: return 'p';
    case S_IFSOCK: return 's';
    }
    return '?';
}

static void fill_stat(rec *r, mode_t mode, unsigned long uid, unsigned long gid, long long size,
                      dev_t rdev, long long mtime)
{
    r->type = type_of(mode);
    r->mode = mode & 07777;
    r->uid = uid;
    r->gid = gid;
    r->size = r->type == 'f' ? size : -1;
    if (r->type == 'c' || r->type == 'b') {
        r->dmaj = major(rdev);
        r->dmin = minor(rdev);
    }
    r->mtime = mtime;
}

/* ---- directory mode ---- */

static char *dir_xattrs(const char *path)
{
    ssize_t n = llistxattr(path, NULL, 0);
    if (n <= 0)
        return NULL;
    char *names = xmalloc((size_t)n + 1);
    n = llistxattr(path, names, (size_t)n);
    if (n <= 0) {
        free(names);
        return NULL;
    }
    size_t count = 0;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1)
        count++;
    xa *list = xmalloc(count * sizeof *list);
    size_t k = 0;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1) {
        const char *name = names + i;
        ssize_t vn = lgetxattr(path, name, NULL, 0);
        if (vn < 0)
            die("%s: xattr %s: cannot read", path, name);
        unsigned char *v = xmalloc((size_t)vn);
        vn = lgetxattr(path, name, v, (size_t)vn);
        if (vn < 0)
            die("%s: xattr %s: cannot read", path, name);
        list[k].name = escape(name, strlen(name), true);
        list[k].value = format_value(v, (size_t)vn);
        k++;
        free(v);
    }
    free(names);
    char *out = join_xattrs(list, k);
    free(list);
    return out;
}

/* fs: host path; shown: the escaped in-tree path ("" for the root). */
static void walk(const char *fs, const char *shown, dev_t root_dev)
{
    struct stat st;
    if (lstat(fs, &st) < 0)
        die("%s: %s", fs, strerror(errno));
    if (g_xdev && st.st_dev != root_dev)
        return;
    rec *r = new_rec();
    r->path = strdup(shown[0] ? shown : "/");
    fill_stat(r, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_rdev, st.st_mtime);
    if (S_ISLNK(st.st_mode)) {
        char buf[4096];
        ssize_t n = readlink(fs, buf, sizeof buf);
        if (n < 0)
            die("%s: %s", fs, strerror(errno));
        r->target = escape(buf, (size_t)n, false);
    }
    r->xattrs = dir_xattrs(fs);
    if (!S_ISDIR(st.st_mode))
        return;

    DIR *d = opendir(fs);
    if (!d)
        die("%s: %s", fs, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *esc = escape(e->d_name, strlen(e->d_name), false);
        size_t fl = strlen(fs) + strlen(e->d_name) + 2, sl = strlen(shown) + strlen(esc) + 2;
        char *cfs = xmalloc(fl), *cshown = xmalloc(sl);
        snprintf(cfs, fl, "%s/%s", fs, e->d_name);
        snprintf(cshown, sl, "%s/%s", shown, esc);
        if (!excluded(cshown))
            walk(cfs, cshown, root_dev);
        free(esc);
        free(cfs);
        free(cshown);
    }
    closedir(d);
}

/* ---- tar mode ---- */

#ifndef TREELIST_NO_TAR
static char *tar_path(const char *name, const char *archive)
{
    char norm[TARPATH_MAX + 1];
    tarpath_status s = tarpath_normalize(name, norm, sizeof norm);
    if (s != TARPATH_OK)
        die("%s: entry %s: unsafe path", archive, name);
    size_t n = strlen(norm);
    char *esc = escape(norm, n, false);
    char *out = xmalloc(strlen(esc) + 2);
    sprintf(out, "/%s", esc);
    free(esc);
    return out;
}

static void list_tar(const char *file)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, file, 1 << 20) != ARCHIVE_OK)
        die("%s: %s", file, archive_error_string(a));
    struct archive_entry *e;
    int rc;
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
        /* Excluded paths are dropped when printing: a hard link may still need them. */
        char *path = tar_path(archive_entry_pathname(e), file);
        rec *r = new_rec();
        r->path = path;
        fill_stat(r, archive_entry_mode(e), (unsigned long)archive_entry_uid(e),
                  (unsigned long)archive_entry_gid(e), archive_entry_size(e),
                  archive_entry_rdev(e), archive_entry_mtime(e));
        if (archive_entry_hardlink(e))
            r->hardlink = tar_path(archive_entry_hardlink(e), file);
        if (r->type == 'l') {
            const char *t = archive_entry_symlink(e);
            r->target = escape(t ? t : "", t ? strlen(t) : 0, false);
        }
        size_t n = (size_t)archive_entry_xattr_reset(e);
        if (n) {
            xa *list = xmalloc(n * sizeof *list);
            const char *name;
            const void *v;
            size_t vn, k = 0;
            while (k < n && archive_entry_xattr_next(e, &name, &v, &vn) == ARCHIVE_OK) {
                list[k].name = escape(name, strlen(name), true);
                list[k].value = format_value(v, vn);
                k++;
            }
            r->xattrs = join_xattrs(list, k);
            free(list);
        }
    }
    if (rc != ARCHIVE_EOF)
        die("%s: %s", file, archive_error_string(a));
    archive_read_free(a);
}
#endif

/* ---- output ---- */

static int rec_cmp(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static rec *find(const char *path)
{
    size_t lo = 0, hi = g_n;
    rec *found = NULL;
    while (lo < hi) { /* last record with this path: the one that won */
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g_recs[mid].path, path);
        if (c <= 0) {
            if (c == 0)
                found = &g_recs[mid];
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return found;
}

static void resolve_hardlinks(void)
{
    for (size_t i = 0; i < g_n; i++) {
        rec *r = &g_recs[i], *t = r;
        for (int depth = 0; t && t->hardlink && depth < 64; depth++)
            t = find(t->hardlink);
        if (!t || t->hardlink)
            die("%s: hard link target %s not in the archive", r->path, r->hardlink);
        if (t == r)
            continue;
        r->type = t->type;
        r->mode = t->mode;
        r->uid = t->uid;
        r->gid = t->gid;
        r->size = t->size;
        r->mtime = t->mtime;
        r->xattrs = t->xattrs ? strdup(t->xattrs) : NULL;
    }
    for (size_t i = 0; i < g_n; i++) {
        free(g_recs[i].hardlink);
        g_recs[i].hardlink = NULL;
    }
}

static void print_all(void)
{
    for (size_t i = 0; i < g_n; i++) {
        const rec *r = &g_recs[i];
        if (i + 1 < g_n && strcmp(r->path, g_recs[i + 1].path) == 0)
            continue; /* a later duplicate replaced this entry */
        if (excluded(r->path))
            continue;
        printf("%s %c ", r->path, r->type);
        if (r->type == 'l')
            printf("-");
        else
            printf("%04o", r->mode);
        printf(" %lu %lu ", r->uid, r->gid);
        if (r->size >= 0)
            printf("%lld", r->size);
        else
            printf("-");
        printf(" %s ", r->target ? r->target : "-");
        if (r->type == 'c' || r->type == 'b')
            printf("%u:%u", r->dmaj, r->dmin);
        else
            printf("-");
        printf(" %s", r->xattrs ? r->xattrs : "-");
        if (g_mtime)
            printf(" %lld", r->mtime);
        putchar('\n');
    }
}

static void usage(void)
{
    fprintf(stderr,
#ifndef TREELIST_NO_TAR
            "usage: treelist --tar FILE [--exclude PATH]... [--mtime]\n"
            "       treelist --dir DIR [--exclude PATH]... [--mtime] [--xdev]\n"
#else
            "usage: treelist --dir DIR [--exclude PATH]... [--mtime] [--xdev]\n"
#endif
    );
    exit(2);
}

int main(int argc, char **argv)
{
    const char *tar = NULL, *dir = NULL;
    g_excl = xmalloc((size_t)argc * sizeof *g_excl);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tar") && i + 1 < argc)
            tar = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--exclude") && i + 1 < argc)
            g_excl[g_nexcl++] = argv[++i];
        else if (!strcmp(argv[i], "--mtime"))
            g_mtime = true;
        else if (!strcmp(argv[i], "--xdev"))
            g_xdev = true;
        else
            usage();
    }
    if (!!tar == !!dir)
        usage();
    if (dir) {
        struct stat st;
        if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
            die("%s: %s", dir, "not a directory");
        walk(dir, "", st.st_dev);
    } else {
#ifndef TREELIST_NO_TAR
        list_tar(tar);
#else
        usage();
#endif
    }
    qsort(g_recs, g_n, sizeof *g_recs, rec_cmp);
    resolve_hardlinks();
    print_all();
    if (fflush(stdout) != 0 || ferror(stdout))
        die("%s%s", "writing the listing failed", "");
    return 0;
}
