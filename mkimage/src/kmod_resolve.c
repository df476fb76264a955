/* kmod_resolve: module names and directories to load-ordered module files (see
 * kmod_resolve.h); a depth-first walk of the index's dependency graph. */
#include "kmod_resolve.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "modinfo.h"

#define MAX_DEPTH 64

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
    kmod_mod *m = kmod_index_find(r->ix, name);
    if (m)
        return r->state[m - r->ix->mods] == VISITING ? 0 : visit(r, m, depth + 1);
    if (kmod_index_is_builtin(r->ix, name))
        return 0;
    if (kmod_index_load_aliases(r->ix, r->err) < 0)
        return -1;
    for (size_t i = 0; i < r->ix->naliases; i++) {
        if (strcmp(r->ix->aliases[i].alias, name) != 0)
            continue;
        kmod_mod *am = kmod_index_find(r->ix, r->ix->aliases[i].mod);
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
    if (kmod_index_load_info(r->ix, m, r->err) < 0)
        return -1;
    for (size_t j = 0; j < m->pre.n && !r->hard_only; j++)
        if (visit_soft(r, m->pre.v[j], depth) < 0)
            return -1;
    for (size_t j = 0; j < m->deps.n; j++) {
        kmod_mod *d = kmod_index_find(r->ix, m->deps.v[j]);
        if (!d) {
            if (kmod_index_is_builtin(r->ix, m->deps.v[j]))
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

static int resolver_begin(struct resolver *r, kmod_index *ix, kmod_list *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    memset(r, 0, sizeof *r);
    r->ix = ix;
    r->out = out;
    r->err = err;
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

int kmod_resolve(kmod_index *ix, const char *const *names, size_t n, kmod_list *out,
                 mk_err *err)
{
    struct resolver r;
    if (resolver_begin(&r, ix, out, err) < 0)
        return resolver_end(&r, -1);
    for (size_t i = 0; i < n; i++) {
        char name[KMOD_NAME_LEN];
        if (!names[i] || !*names[i] || strlen(names[i]) >= sizeof name)
            return resolver_end(&r, mk_fail(err, "kernel module \"%s\": invalid name",
                                            names[i] ? names[i] : ""));
        strcpy(name, names[i]);
        kmod_name_normalise(name);
        kmod_mod *m = kmod_index_find(r.ix, name);
        if (m) {
            if (visit(&r, m, 0) < 0)
                return resolver_end(&r, -1);
            continue;
        }
        if (kmod_index_is_builtin(r.ix, name))
            continue;
        /* modprobe accepts aliases too ("crc32c", "fs-btrfs"). */
        if (kmod_index_load_aliases(r.ix, err) < 0)
            return resolver_end(&r, -1);
        bool any = false;
        for (size_t j = 0; j < r.ix->naliases; j++) {
            if (strcmp(r.ix->aliases[j].alias, name) != 0)
                continue;
            kmod_mod *am = kmod_index_find(r.ix, r.ix->aliases[j].mod);
            if (!am)
                continue;
            any = true;
            if (visit(&r, am, 0) < 0)
                return resolver_end(&r, -1);
        }
        if (!any)
            return resolver_end(&r, mk_fail(err, "kernel module %s: not found in %s", names[i],
                                            ix->version));
    }
    return resolver_end(&r, 0);
}

int kmod_glob(kmod_index *ix, const char *const *prefixes, size_t n, kmod_list *out,
              mk_err *err)
{
    struct resolver r;
    if (resolver_begin(&r, ix, out, err) < 0)
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
                                            prefixes[i], ix->version));
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
            if (kmod_index_find(r.ix, m->name) != m)
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

int kmod_list_merge(kmod_list *a, const kmod_list *b, mk_err *err)
{
    for (size_t i = 0; i < b->n; i++) {
        bool have = false;
        for (size_t k = 0; k < a->n && !have; k++)
            have = !strcmp(a->paths[k], b->paths[i]);
        if (have)
            continue;
        char **nv = realloc(a->paths, (a->n + 1) * sizeof *nv);
        if (!nv)
            return mk_fail(err, "kernel modules: out of memory");
        a->paths = nv;
        if (!(a->paths[a->n] = strdup(b->paths[i])))
            return mk_fail(err, "kernel modules: out of memory");
        a->n++;
    }
    return 0;
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

int kmod_deps_of(kmod_index *ix, const char *relpath, kmod_list *out, mk_err *err)
{
    struct resolver r;
    if (resolver_begin(&r, ix, out, err) < 0)
        return resolver_end(&r, -1);
    r.hard_only = true;
    char name[KMOD_NAME_LEN];
    kmod_mod *m = NULL;
    if (modname_from_path(relpath, strlen(relpath), name, sizeof name))
        m = kmod_index_find(r.ix, name);
    if (!m || strcmp(m->path, relpath) != 0)
        return resolver_end(&r, mk_fail(err, "kernel module %s: not found in %s", relpath,
                                        ix->version));
    if (visit(&r, m, 0) < 0)
        return resolver_end(&r, -1);
    /* the module itself came last; the caller wants only what it needs */
    free(out->paths[--out->n]);
    return resolver_end(&r, 0);
}
