/* kmod_index: building the index of a kernel tree's modules (see kmod_index.h). */
#include "kmod_index.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kmod_read.h"
#include "modinfo.h"

/* Bounds for untrusted trees: Linux has ~6000 modules. */
#define MAX_MODULES 100000
#define MAX_INDEX_FILE_BYTES (64u << 20)
#define NAME_LEN KMOD_NAME_LEN


/* ---------- small helpers ---------- */

/* snprintf that reports truncation, so a too-long path is an error, not a cut. */
static bool fmt_ok(int n, size_t size)
{
    return n >= 0 && (size_t)n < size;
}

static int sv_push(kmod_strvec *s, const char *p, size_t len)
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

static void sv_free(kmod_strvec *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

void kmod_name_normalise(char *s)
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
    const kmod_alias *x = a, *y = b;
    int c = strcmp(x->alias, y->alias);
    return c ? c : strcmp(x->mod, y->mod);
}

kmod_mod *kmod_index_find(const kmod_index *ix, const char *name)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) { /* lower bound, so the preferred duplicate is found */
        size_t mid = (lo + hi) / 2;
        if (strcmp(ix->mods[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ix->n && strcmp(ix->mods[lo].name, name) == 0 ? &ix->mods[lo] : NULL;
}

bool kmod_index_is_builtin(const kmod_index *ix, const char *name)
{
    return ix->builtin.n &&
           bsearch(&name, ix->builtin.v, ix->builtin.n, sizeof(char *), cmp_str) != NULL;
}

static int read_index_file(const char *path, char **buf, size_t *len, mk_err *err)
{
    return kmod_read_optional(path, MAX_INDEX_FILE_BYTES, buf, len, err);
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
    if (kmod_is_compressed(m->path)) {
        unsigned char *data = NULL;
        size_t len = 0;
        if (kmod_read_in(ix->dir, m->path, &data, &len, err) < 0)
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
    if (!S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size > KMOD_MAX_MODULE_BYTES) {
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

void kmod_index_free(kmod_index *ix)
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

struct walk {
    kmod_index *ix;
    size_t cap;
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
    kmod_strvec *deps = c;
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
    kmod_mod *m = kmod_index_find(d->ix, name);
    if (!m || m->deps_from_file)
        return 0;
    m->deps_from_file = true;
    if (dlen > 0) {
        modinfo_split(deps, dlen, add_dep_name, &m->deps);
    }
    return 0;
}

struct builtin_ctx {
    kmod_strvec *names;
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

kmod_index *kmod_index_open(const kernel_tree *k, mk_err *err)
{
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
    return ix;
fail:
    kmod_index_free(ix);
    return NULL;
}

/* ---------- per-module metadata (lazy) ---------- */

struct info_ctx {
    kmod_mod *m;
    bool want_deps;
    int oom;
};

static int push_norm(kmod_strvec *s, const char *p, size_t len)
{
    if (len >= NAME_LEN)
        return 0; /* no module has such a name: skip rather than truncate */
    if (sv_push(s, p, len) < 0)
        return -1;
    kmod_name_normalise(s->v[s->n - 1]);
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

int kmod_index_load_info(kmod_index *ix, kmod_mod *m, mk_err *err)
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
        kmod_alias *na = realloc(ix->aliases, nc * sizeof *na);
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
    kmod_name_normalise(a);
    kmod_name_normalise(m);
    ix->aliases[ix->naliases++] = (kmod_alias){a, m};
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

int kmod_index_load_aliases(kmod_index *ix, mk_err *err)
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

