#include "kmod.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "modinfo.h"
#include "fetch_cache.h" /* read_small_file */

/* Bounds for untrusted trees: Linux has ~6000 modules, the largest a few tens of MB. */
#define MAX_MODULES 100000
#define MAX_MODULE_BYTES (256u << 20)
#define MAX_INDEX_FILE_BYTES (64u << 20)
#define MAX_DEPTH 64
#define NAME_LEN 256

typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

typedef struct kmod_mod {
    char *name; /* normalised: '-' -> '_' */
    char *path; /* relative to modules_dir */
    bool info_loaded, deps_from_file;
    strvec deps, pre, post; /* module names */
} kmod_mod;

typedef struct alias_ent {
    char *alias, *mod;
} alias_ent;

typedef struct kmod_index {
    char dir[PATH_MAX];
    char version[128];
    kmod_mod *mods; /* sorted by name */
    size_t n;
    strvec builtin; /* sorted */
    alias_ent *aliases; /* sorted by alias, then module */
    size_t naliases, cap_aliases;
    bool aliases_loaded;
} kmod_index;

static kmod_index *g_index; /* built once per tree; mkimage is single-threaded */

/* ---------- small helpers ---------- */

/* snprintf that reports truncation, so a too-long path is an error, not a cut. */
static bool fmt_ok(int n, size_t size)
{
    return n >= 0 && (size_t)n < size;
}

static int sv_push(strvec *s, const char *p, size_t len)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        char **nv = realloc(s->v, nc * sizeof *nv);
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = nc;
    }
    char *c = strndup(p, len);
    if (!c)
        return -1;
    s->v[s->n++] = c;
    return 0;
}

static void sv_free(strvec *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static void normalise(char *s)
{
    for (; *s; s++)
        if (*s == '-')
            *s = '_';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_mod(const void *a, const void *b)
{
    const kmod_mod *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    /* Same name twice: modprobe's search order puts updates/ first. */
    bool ux = strncmp(x->path, "updates/", 8) == 0, uy = strncmp(y->path, "updates/", 8) == 0;
    if (ux != uy)
        return ux ? -1 : 1;
    return strcmp(x->path, y->path);
}

static int cmp_alias(const void *a, const void *b)
{
    const alias_ent *x = a, *y = b;
    int c = strcmp(x->alias, y->alias);
    return c ? c : strcmp(x->mod, y->mod);
}

static kmod_mod *find_mod(kmod_index *ix, const char *name)
{
    kmod_mod key = {.name = (char *)name, .path = ""};
    size_t lo = 0, hi = ix->n;
    while (lo < hi) { /* lower bound, so the preferred duplicate is found */
        size_t mid = (lo + hi) / 2;
        if (strcmp(ix->mods[mid].name, key.name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ix->n && strcmp(ix->mods[lo].name, name) == 0 ? &ix->mods[lo] : NULL;
}

static bool is_builtin(kmod_index *ix, const char *name)
{
    return ix->builtin.n &&
           bsearch(&name, ix->builtin.v, ix->builtin.n, sizeof(char *), cmp_str) != NULL;
}

/* Reads a whole file of at most max bytes; *buf is NULL when it does not exist. */
static int read_bounded(const char *path, size_t max, char **buf, size_t *len, mk_err *err)
{
    *buf = NULL;
    *len = 0;
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    return read_small_file(path, max, buf, len, err);
}

static int read_index_file(const char *path, char **buf, size_t *len, mk_err *err)
{
    return read_bounded(path, MAX_INDEX_FILE_BYTES, buf, len, err);
}

/* ---------- reading modules ---------- */

static bool compressed(const char *path)
{
    size_t l = strlen(path);
    return modname_suffix_len(path, l) > 3;
}

void kmod_plain_path(const char *relpath, char *out, size_t outsz)
{
    size_t l = strlen(relpath), sl = modname_suffix_len(relpath, l);
    size_t keep = sl > 3 ? l - sl + 3 : l;
    snprintf(out, outsz, "%.*s", (int)keep, relpath);
}

/* Decompresses with libarchive's "raw" format: one pseudo-entry holding the
 * decompressed stream, whichever of gzip/xz/zstd the file uses. */
static int decompress_file(const char *path, unsigned char **data, size_t *len, mk_err *err)
{
    struct archive *a = archive_read_new();
    if (!a)
        return mk_fail(err, "%s: out of memory", path);
    archive_read_support_filter_all(a);
    archive_read_support_format_raw(a);
    struct archive_entry *e;
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK ||
        archive_read_next_header(a, &e) != ARCHIVE_OK) {
        mk_fail(err, "%s: %s", path, archive_error_string(a));
        goto out;
    }
    for (;;) {
        if (cap - n < 65536) {
            size_t nc = cap ? cap * 2 : 1 << 20;
            if (nc > MAX_MODULE_BYTES + 65536u) {
                mk_fail(err, "%s: decompressed module larger than %u MiB", path,
                        MAX_MODULE_BYTES >> 20);
                goto out;
            }
            unsigned char *nb = realloc(buf, nc);
            if (!nb) {
                mk_fail(err, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap = nc;
        }
        la_ssize_t r = archive_read_data(a, buf + n, cap - n);
        if (r < 0) {
            mk_fail(err, "%s: %s", path, archive_error_string(a));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *data = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    archive_read_free(a);
    return rc;
}

int kmod_read(const kernel_tree *k, const char *relpath, unsigned char **data, size_t *len,
              mk_err *err)
{
    char path[PATH_MAX];
    if (!fmt_ok(snprintf(path, sizeof path, "%s/%s", k->modules_dir, relpath), sizeof path))
        return mk_fail(err, "kernel module %s: path too long", relpath);
    if (compressed(relpath))
        return decompress_file(path, data, len, err);
    char *buf;
    if (read_bounded(path, MAX_MODULE_BYTES, &buf, len, err) < 0)
        return -1;
    if (!buf)
        return mk_fail(err, "kernel module %s: not found", path);
    *data = (unsigned char *)buf;
    return 0;
}

/* Runs fn over the .modinfo section of a module. Plain modules are mapped rather
 * than read: only the ELF headers and the section's pages are touched, which keeps
 * building the alias index over thousands of modules cheap. */
static int with_modinfo(kmod_index *ix, const kmod_mod *m, modinfo_fn fn, void *ctx,
                        mk_err *err)
{
    char path[PATH_MAX];
    if (!fmt_ok(snprintf(path, sizeof path, "%s/%s", ix->dir, m->path), sizeof path))
        return 0; /* cannot exist */
    const char *sec;
    size_t sec_len;
    if (compressed(m->path)) {
        kernel_tree k;
        memset(&k, 0, sizeof k);
        snprintf(k.modules_dir, sizeof k.modules_dir, "%s", ix->dir);
        unsigned char *data = NULL;
        size_t len = 0;
        if (kmod_read(&k, m->path, &data, &len, err) < 0)
            return -1;
        if (modinfo_section(data, len, &sec, &sec_len) == 0)
            modinfo_each(sec, sec_len, fn, ctx);
        free(data);
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int en = errno;
        if (fd >= 0)
            close(fd);
        return mk_fail_errno(err, en, "kernel module %s", path);
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size > MAX_MODULE_BYTES) {
        close(fd);
        return 0; /* not a module we can read: it simply has no metadata */
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return mk_fail_errno(err, errno, "kernel module %s: mmap", path);
    if (modinfo_section(map, (size_t)st.st_size, &sec, &sec_len) == 0)
        modinfo_each(sec, sec_len, fn, ctx);
    munmap(map, (size_t)st.st_size);
    return 0;
}

/* ---------- building the index ---------- */

static void index_free(kmod_index *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->n; i++) {
        free(ix->mods[i].name);
        free(ix->mods[i].path);
        sv_free(&ix->mods[i].deps);
        sv_free(&ix->mods[i].pre);
        sv_free(&ix->mods[i].post);
    }
    free(ix->mods);
    sv_free(&ix->builtin);
    for (size_t i = 0; i < ix->naliases; i++) {
        free(ix->aliases[i].alias);
        free(ix->aliases[i].mod);
    }
    free(ix->aliases);
    free(ix);
}

void kmod_index_reset(void)
{
    index_free(g_index);
    g_index = NULL;
}

struct walk {
    kmod_index *ix;
    size_t cap;
    bool hard_only; /* modules.dep lines: real dependencies only */
    mk_err *err;
};

static int add_mod(struct walk *w, const char *rel)
{
    char name[NAME_LEN];
    if (!modname_from_path(rel, strlen(rel), name, sizeof name))
        return 0;
    if (w->ix->n >= MAX_MODULES)
        return mk_fail(w->err, "%s: more than %d modules", w->ix->dir, MAX_MODULES);
    if (w->ix->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 1024;
        kmod_mod *nm = realloc(w->ix->mods, nc * sizeof *nm);
        if (!nm)
            return mk_fail(w->err, "%s: out of memory", w->ix->dir);
        w->ix->mods = nm;
        w->cap = nc;
    }
    kmod_mod *m = &w->ix->mods[w->ix->n];
    memset(m, 0, sizeof *m);
    m->name = strdup(name);
    m->path = strdup(rel);
    if (!m->name || !m->path) {
        free(m->name);
        free(m->path);
        return mk_fail(w->err, "%s: out of memory", w->ix->dir);
    }
    w->ix->n++;
    return 0;
}

/* Walks the module tree without following symlinks (build/ and source/ point
 * outside it). rel is the path so far, relative to modules_dir. */
static int walk_dir(struct walk *w, int dfd, char *rel, size_t rlen, int depth)
{
    if (depth > 16)
        return 0;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return mk_fail_errno(w->err, errno, "%s/%s", w->ix->dir, rel);
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        size_t nl = strlen(de->d_name);
        if (rlen + nl + 2 >= PATH_MAX)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (rlen)
            rel[rlen] = '/';
        memcpy(rel + rlen + (rlen ? 1 : 0), de->d_name, nl + 1);
        size_t nrlen = rlen + (rlen ? 1 : 0) + nl;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                rc = walk_dir(w, sub, rel, nrlen, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            rc = add_mod(w, rel);
        }
        rel[rlen] = '\0';
    }
    closedir(d);
    return rc;
}

struct depfile_ctx {
    kmod_index *ix;
    int failed;
};

static int add_dep_name(const char *p, size_t len, void *c)
{
    strvec *deps = c;
    char name[NAME_LEN];
    if (!modname_from_path(p, len, name, sizeof name))
        return 0;
    return sv_push(deps, name, strlen(name)) < 0;
}

static int on_dep_line(const char *path, size_t plen, const char *deps, size_t dlen, void *c)
{
    struct depfile_ctx *d = c;
    char name[NAME_LEN];
    if (!modname_from_path(path, plen, name, sizeof name))
        return 0;
    kmod_mod *m = find_mod(d->ix, name);
    if (!m || m->deps_from_file)
        return 0;
    m->deps_from_file = true;
    if (dlen > 0) {
        modinfo_split(deps, dlen, add_dep_name, &m->deps);
    }
    return 0;
}

struct builtin_ctx {
    strvec *names;
    bool oom;
};

static int add_builtin(const char *name, size_t len, void *c)
{
    struct builtin_ctx *b = c;
    b->oom = sv_push(b->names, name, len) < 0;
    return b->oom;
}

static int load_builtin(kmod_index *ix, mk_err *err)
{
    char path[PATH_MAX], *buf;
    size_t len;
    if (!fmt_ok(snprintf(path, sizeof path, "%s/modules.builtin", ix->dir), sizeof path))
        return mk_fail(err, "%s: path too long", ix->dir);
    if (read_index_file(path, &buf, &len, err) < 0)
        return -1;
    if (!buf)
        return 0;
    struct builtin_ctx b = {&ix->builtin, false};
    modbuiltin_parse(buf, len, add_builtin, &b);
    free(buf);
    if (b.oom)
        return mk_fail(err, "%s: out of memory", path);
    qsort(ix->builtin.v, ix->builtin.n, sizeof(char *), cmp_str);
    return 0;
}

static kmod_index *get_index(const kernel_tree *k, mk_err *err)
{
    if (g_index && strcmp(g_index->dir, k->modules_dir) == 0)
        return g_index;
    kmod_index_reset();
    kmod_index *ix = calloc(1, sizeof *ix);
    if (!ix) {
        mk_fail(err, "kernel modules: out of memory");
        return NULL;
    }
    snprintf(ix->dir, sizeof ix->dir, "%s", k->modules_dir);
    snprintf(ix->version, sizeof ix->version, "%s", k->version);
    struct walk w = {.ix = ix, .err = err};
    int dfd = open(ix->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char rel[PATH_MAX] = "";
    if (dfd < 0) {
        mk_fail_errno(err, errno, "kernel modules %s", ix->dir);
        goto fail;
    }
    if (walk_dir(&w, dfd, rel, 0, 0) < 0)
        goto fail;
    if (ix->n)
        qsort(ix->mods, ix->n, sizeof *ix->mods, cmp_mod);
    if (load_builtin(ix, err) < 0)
        goto fail;
    char path[PATH_MAX], *buf;
    size_t len;
    if (!fmt_ok(snprintf(path, sizeof path, "%s/modules.dep", ix->dir), sizeof path)) {
        mk_fail(err, "%s: path too long", ix->dir);
        goto fail;
    }
    if (read_index_file(path, &buf, &len, err) < 0)
        goto fail;
    if (buf) {
        struct depfile_ctx d = {.ix = ix};
        moddep_parse(buf, len, on_dep_line, &d);
        free(buf);
    }
    g_index = ix;
    return ix;
fail:
    index_free(ix);
    return NULL;
}

/* ---------- per-module metadata (lazy) ---------- */

struct info_ctx {
    kmod_mod *m;
    bool want_deps;
    int oom;
};

static int push_norm(strvec *s, const char *p, size_t len)
{
    if (len >= NAME_LEN)
        return 0; /* no module has such a name: skip rather than truncate */
    if (sv_push(s, p, len) < 0)
        return -1;
    normalise(s->v[s->n - 1]);
    return 0;
}

static int on_dep_name(const char *p, size_t len, void *c)
{
    struct info_ctx *ic = c;
    if (push_norm(&ic->m->deps, p, len) < 0)
        ic->oom = 1;
    return ic->oom;
}

static int on_softdep(const char *p, size_t len, bool post, void *c)
{
    struct info_ctx *ic = c;
    if (push_norm(post ? &ic->m->post : &ic->m->pre, p, len) < 0)
        ic->oom = 1;
    return ic->oom;
}

static int on_info(const char *key, size_t klen, const char *val, size_t vlen, void *c)
{
    struct info_ctx *ic = c;
    if (klen == 7 && memcmp(key, "depends", 7) == 0 && ic->want_deps)
        modinfo_split(val, vlen, on_dep_name, ic);
    else if (klen == 7 && memcmp(key, "softdep", 7) == 0)
        modinfo_softdeps(val, vlen, on_softdep, ic);
    return ic->oom;
}

static int load_info(kmod_index *ix, kmod_mod *m, mk_err *err)
{
    if (m->info_loaded)
        return 0;
    struct info_ctx ic = {.m = m, .want_deps = !m->deps_from_file};
    if (with_modinfo(ix, m, on_info, &ic, err) < 0)
        return -1;
    if (ic.oom)
        return mk_fail(err, "kernel module %s: out of memory", m->name);
    m->info_loaded = true;
    return 0;
}

/* ---------- aliases (for soft dependencies like "crypto-crc32c") ---------- */

static int add_alias(kmod_index *ix, const char *alias, size_t alen, const char *mod, size_t mlen)
{
    if (alen >= NAME_LEN || mlen >= NAME_LEN)
        return 0;
    if (ix->naliases == ix->cap_aliases) {
        size_t nc = ix->cap_aliases ? ix->cap_aliases * 2 : 1024;
        if (nc > 4 * (size_t)MAX_MODULES * 16)
            return 0;
        alias_ent *na = realloc(ix->aliases, nc * sizeof *na);
        if (!na)
            return -1;
        ix->aliases = na;
        ix->cap_aliases = nc;
    }
    char *a = strndup(alias, alen), *m = strndup(mod, mlen);
    if (!a || !m) {
        free(a);
        free(m);
        return -1;
    }
    normalise(a);
    normalise(m);
    ix->aliases[ix->naliases++] = (alias_ent){a, m};
    return 0;
}

static int on_alias_file(const char *alias, size_t alen, const char *mod, size_t mlen, void *c)
{
    return add_alias(c, alias, alen, mod, mlen) < 0;
}

struct alias_info_ctx {
    kmod_index *ix;
    const char *mod;
    int oom;
};

static int on_alias_info(const char *key, size_t klen, const char *val, size_t vlen, void *c)
{
    struct alias_info_ctx *a = c;
    if (klen != 5 || memcmp(key, "alias", 5) != 0 || vlen == 0)
        return 0;
    for (size_t i = 0; i < vlen; i++)
        if (val[i] == '*' || val[i] == '?' || val[i] == '[')
            return 0;
    if (add_alias(a->ix, val, vlen, a->mod, strlen(a->mod)) < 0)
        a->oom = 1;
    return a->oom;
}

static int load_aliases(kmod_index *ix, mk_err *err)
{
    if (ix->aliases_loaded)
        return 0;
    char path[PATH_MAX], *buf;
    size_t len;
    if (!fmt_ok(snprintf(path, sizeof path, "%s/modules.alias", ix->dir), sizeof path))
        return mk_fail(err, "%s: path too long", ix->dir);
    if (read_index_file(path, &buf, &len, err) < 0)
        return -1;
    if (buf) {
        modalias_parse(buf, len, on_alias_file, ix);
        free(buf);
    } else {
        /* No depmod output: collect the aliases from every module once. */
        for (size_t i = 0; i < ix->n; i++) {
            struct alias_info_ctx a = {.ix = ix, .mod = ix->mods[i].name};
            if (with_modinfo(ix, &ix->mods[i], on_alias_info, &a, err) < 0)
                return -1;
            if (a.oom)
                return mk_fail(err, "kernel modules: out of memory");
        }
    }
    if (ix->naliases)
        qsort(ix->aliases, ix->naliases, sizeof *ix->aliases, cmp_alias);
    ix->aliases_loaded = true;
    return 0;
}

/* ---------- resolution ---------- */

enum { UNSEEN = 0, VISITING, DONE };

struct resolver {
    kmod_index *ix;
    unsigned char *state; /* per module, indexed like ix->mods */
    kmod_list *out;
    size_t cap;
    bool hard_only; /* modules.dep lines: real dependencies only */
    mk_err *err;
};

static int emit(struct resolver *r, const kmod_mod *m)
{
    if (r->out->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 32;
        char **np = realloc(r->out->paths, nc * sizeof *np);
        if (!np)
            return mk_fail(r->err, "kernel modules: out of memory");
        r->out->paths = np;
        r->cap = nc;
    }
    if (!(r->out->paths[r->out->n] = strdup(m->path)))
        return mk_fail(r->err, "kernel modules: out of memory");
    r->out->n++;
    return 0;
}

static int visit(struct resolver *r, kmod_mod *m, int depth);

/* Soft dependencies are best effort: a name or alias that matches nothing, or
 * one that would close a cycle, is skipped. */
static int visit_soft(struct resolver *r, const char *name, int depth)
{
    kmod_mod *m = find_mod(r->ix, name);
    if (m)
        return r->state[m - r->ix->mods] == VISITING ? 0 : visit(r, m, depth + 1);
    if (is_builtin(r->ix, name))
        return 0;
    if (load_aliases(r->ix, r->err) < 0)
        return -1;
    for (size_t i = 0; i < r->ix->naliases; i++) {
        if (strcmp(r->ix->aliases[i].alias, name) != 0)
            continue;
        kmod_mod *am = find_mod(r->ix, r->ix->aliases[i].mod);
        if (am && r->state[am - r->ix->mods] != VISITING && visit(r, am, depth + 1) < 0)
            return -1;
    }
    return 0;
}

static int visit(struct resolver *r, kmod_mod *m, int depth)
{
    size_t i = (size_t)(m - r->ix->mods);
    if (r->state[i] == DONE)
        return 0;
    if (r->state[i] == VISITING)
        return mk_fail(r->err, "kernel module %s: circular dependency", m->name);
    if (depth > MAX_DEPTH)
        return mk_fail(r->err, "kernel module %s: dependency chain too deep", m->name);
    r->state[i] = VISITING;
    if (load_info(r->ix, m, r->err) < 0)
        return -1;
    for (size_t j = 0; j < m->pre.n && !r->hard_only; j++)
        if (visit_soft(r, m->pre.v[j], depth) < 0)
            return -1;
    for (size_t j = 0; j < m->deps.n; j++) {
        kmod_mod *d = find_mod(r->ix, m->deps.v[j]);
        if (!d) {
            if (is_builtin(r->ix, m->deps.v[j]))
                continue;
            return mk_fail(r->err, "kernel module %s (needed by %s): not found in %s",
                           m->deps.v[j], m->name, r->ix->version);
        }
        if (visit(r, d, depth + 1) < 0)
            return -1;
    }
    if (emit(r, m) < 0)
        return -1;
    r->state[i] = DONE;
    for (size_t j = 0; j < m->post.n && !r->hard_only; j++)
        if (visit_soft(r, m->post.v[j], depth) < 0)
            return -1;
    return 0;
}

static int resolver_begin(struct resolver *r, const kernel_tree *k, kmod_list *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    memset(r, 0, sizeof *r);
    r->out = out;
    r->err = err;
    if (!(r->ix = get_index(k, err)))
        return -1;
    if (!(r->state = calloc(r->ix->n + 1, 1)))
        return mk_fail(err, "kernel modules: out of memory");
    return 0;
}

static int resolver_end(struct resolver *r, int rc)
{
    free(r->state);
    if (rc < 0)
        kmod_list_free(r->out);
    return rc;
}

int kmod_resolve(const kernel_tree *k, const char *const *names, size_t n, kmod_list *out,
                 mk_err *err)
{
    struct resolver r;
    if (resolver_begin(&r, k, out, err) < 0)
        return resolver_end(&r, -1);
    for (size_t i = 0; i < n; i++) {
        char name[NAME_LEN];
        if (!names[i] || !*names[i] || strlen(names[i]) >= sizeof name)
            return resolver_end(&r, mk_fail(err, "kernel module \"%s\": invalid name",
                                            names[i] ? names[i] : ""));
        strcpy(name, names[i]);
        normalise(name);
        kmod_mod *m = find_mod(r.ix, name);
        if (m) {
            if (visit(&r, m, 0) < 0)
                return resolver_end(&r, -1);
            continue;
        }
        if (is_builtin(r.ix, name))
            continue;
        /* modprobe accepts aliases too ("crc32c", "fs-btrfs"). */
        if (load_aliases(r.ix, err) < 0)
            return resolver_end(&r, -1);
        bool any = false;
        for (size_t j = 0; j < r.ix->naliases; j++) {
            if (strcmp(r.ix->aliases[j].alias, name) != 0)
                continue;
            kmod_mod *am = find_mod(r.ix, r.ix->aliases[j].mod);
            if (!am)
                continue;
            any = true;
            if (visit(&r, am, 0) < 0)
                return resolver_end(&r, -1);
        }
        if (!any)
            return resolver_end(&r, mk_fail(err, "kernel module %s: not found in %s", names[i],
                                            k->version));
    }
    return resolver_end(&r, 0);
}

int kmod_glob(const kernel_tree *k, const char *const *prefixes, size_t n, kmod_list *out,
              mk_err *err)
{
    struct resolver r;
    if (resolver_begin(&r, k, out, err) < 0)
        return resolver_end(&r, -1);
    /* Visit in path order so the result does not depend on directory order. */
    size_t *order = malloc((r.ix->n + 1) * sizeof *order);
    if (!order)
        return resolver_end(&r, mk_fail(err, "kernel modules: out of memory"));
    for (size_t i = 0; i < n; i++) {
        size_t cnt = 0, pl = strlen(prefixes[i]);
        for (size_t j = 0; j < r.ix->n; j++)
            if (strncmp(r.ix->mods[j].path, prefixes[i], pl) == 0)
                order[cnt++] = j;
        if (cnt == 0) {
            free(order);
            return resolver_end(&r, mk_fail(err, "kernel modules %s: no module under it in %s",
                                            prefixes[i], k->version));
        }
        /* insertion sort by path: cnt is at most a few thousand */
        for (size_t a = 1; a < cnt; a++)
            for (size_t b = a; b > 0 && strcmp(r.ix->mods[order[b - 1]].path,
                                               r.ix->mods[order[b]].path) > 0; b--) {
                size_t t = order[b];
                order[b] = order[b - 1];
                order[b - 1] = t;
            }
        for (size_t a = 0; a < cnt; a++) {
            kmod_mod *m = &r.ix->mods[order[a]];
            /* A shadowed duplicate (same name elsewhere) is not what modprobe loads. */
            if (find_mod(r.ix, m->name) != m)
                continue;
            if (visit(&r, m, 0) < 0) {
                free(order);
                return resolver_end(&r, -1);
            }
        }
    }
    free(order);
    return resolver_end(&r, 0);
}

void kmod_list_free(kmod_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
    l->paths = NULL;
    l->n = 0;
}

int kmod_deps_of(const kernel_tree *k, const char *relpath, kmod_list *out, mk_err *err)
{
    struct resolver r;
    if (resolver_begin(&r, k, out, err) < 0)
        return resolver_end(&r, -1);
    r.hard_only = true;
    char name[NAME_LEN];
    kmod_mod *m = NULL;
    if (modname_from_path(relpath, strlen(relpath), name, sizeof name))
        m = find_mod(r.ix, name);
    if (!m || strcmp(m->path, relpath) != 0)
        return resolver_end(&r, mk_fail(err, "kernel module %s: not found in %s", relpath,
                                        k->version));
    if (visit(&r, m, 0) < 0)
        return resolver_end(&r, -1);
    /* the module itself came last; the caller wants only what it needs */
    free(out->paths[--out->n]);
    return resolver_end(&r, 0);
}
