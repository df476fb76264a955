#include "tarpath.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_BYTES 255

/* A deleted slot: keeps probe chains intact after tarpath_links_remove. */
static char tombstone_mark;
#define TOMBSTONE (&tombstone_mark)

const char *tarpath_reason(tarpath_status s)
{
    switch (s) {
    case TARPATH_OK: return "ok";
    case TARPATH_EMPTY: return "empty path";
    case TARPATH_ABSOLUTE: return "absolute path";
    case TARPATH_DOTDOT: return "path has a '..' component";
    case TARPATH_TOO_LONG: return "path too long";
    }
    return "invalid path";
}

const char *tarpath_quote(const char *name, char *out, size_t outsz)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    if (!name)
        name = "(unnamed)";
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (n + 8 >= outsz) {
            memcpy(out + n, "...", 4);
            return out;
        }
        if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\') {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        } else {
            out[n++] = (char)*p;
        }
    }
    out[n] = '\0';
    return out;
}

/* Advances *p past the next component other than "" (from "//") and ".", setting
 * start and len; false at the end. Both the normalizer and the symlink check must see
 * the same components, or a target could pass one and mean something else to the other. */
static bool next_component(const char **p, const char **start, size_t *len)
{
    for (;;) {
        while (**p == '/')
            (*p)++;
        if (!**p)
            return false;
        *start = *p;
        while (**p && **p != '/')
            (*p)++;
        *len = (size_t)(*p - *start);
        if (!(*len == 1 && (*start)[0] == '.'))
            return true;
    }
}

tarpath_status tarpath_normalize(const char *in, char *out, size_t outsz)
{
    if (outsz)
        out[0] = '\0';
    if (!in || !*in)
        return TARPATH_EMPTY;
    if (in[0] == '/')
        return TARPATH_ABSOLUTE;
    if (outsz < 1)
        return TARPATH_TOO_LONG;

    size_t n = 0;
    const char *p = in, *start;
    size_t len;
    while (next_component(&p, &start, &len)) {
        if (len == 2 && start[0] == '.' && start[1] == '.') {
            out[0] = '\0';
            return TARPATH_DOTDOT;
        }
        if (len > NAME_MAX_BYTES || n + (n ? 1 : 0) + len > TARPATH_MAX ||
            n + (n ? 1 : 0) + len + 1 > outsz) {
            out[0] = '\0';
            return TARPATH_TOO_LONG;
        }
        if (n)
            out[n++] = '/';
        memcpy(out + n, start, len);
        n += len;
    }
    out[n] = '\0';
    return TARPATH_OK;
}

bool tarpath_symlink_escapes(const char *link_path, const char *target)
{
    if (!target || !*target || target[0] == '/')
        return true;
    /* Depth of the directory holding the link: its number of components. */
    long depth = 0;
    for (const char *c = link_path; c && *c; c++)
        if (*c == '/')
            depth++;
    /* link_path "a/b/l" lives in "a/b" (depth 2); "l" lives in the root (depth 0). */
    const char *p = target, *start;
    size_t len;
    while (next_component(&p, &start, &len)) {
        if (len == 2 && start[0] == '.' && start[1] == '.') {
            if (--depth < 0)
                return true;
        } else {
            depth++;
        }
    }
    return false;
}

/* ---- symlink set ---- */

static uint64_t hash_n(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211u;
    }
    return h;
}

void tarpath_links_init(tarpath_links *s) { memset(s, 0, sizeof *s); }

void tarpath_links_free(tarpath_links *s)
{
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i] && s->slots[i] != TOMBSTONE)
            free(s->slots[i]);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

/* Slot holding the path (n bytes), or SIZE_MAX. */
static size_t find_n(const tarpath_links *s, const char *path, size_t n)
{
    if (!s->cap)
        return SIZE_MAX;
    size_t mask = s->cap - 1;
    for (size_t i = hash_n(path, n) & mask, step = 0; step < s->cap; i = (i + 1) & mask, step++) {
        const char *e = s->slots[i];
        if (!e)
            return SIZE_MAX;
        if (e != TOMBSTONE && strncmp(e, path, n) == 0 && e[n] == '\0')
            return i;
    }
    return SIZE_MAX;
}

static int grow(tarpath_links *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 64;
    if (s->live * 2 < s->cap)
        ncap = s->cap; /* mostly tombstones: rehash at the same size */
    char **ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < s->cap; i++) {
        char *e = s->slots[i];
        if (!e || e == TOMBSTONE)
            continue;
        size_t j = hash_n(e, strlen(e)) & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = e;
    }
    free(s->slots);
    s->slots = ns;
    s->cap = ncap;
    s->used = s->live;
    return 0;
}

int tarpath_links_add(tarpath_links *s, const char *path)
{
    size_t n = strlen(path);
    if (find_n(s, path, n) != SIZE_MAX)
        return 0;
    if ((s->used + 1) * 4 > s->cap * 3 && grow(s) < 0)
        return -1;
    char *copy = strdup(path);
    if (!copy)
        return -1;
    size_t mask = s->cap - 1;
    size_t i = hash_n(path, n) & mask;
    while (s->slots[i] && s->slots[i] != TOMBSTONE)
        i = (i + 1) & mask;
    if (!s->slots[i])
        s->used++;
    s->slots[i] = copy;
    s->live++;
    return 0;
}

void tarpath_links_remove(tarpath_links *s, const char *path)
{
    size_t i = find_n(s, path, strlen(path));
    if (i == SIZE_MAX)
        return;
    free(s->slots[i]);
    s->slots[i] = TOMBSTONE;
    s->live--;
}

bool tarpath_links_has(const tarpath_links *s, const char *path)
{
    return find_n(s, path, strlen(path)) != SIZE_MAX;
}

bool tarpath_links_through(const tarpath_links *s, const char *path, char *prefix,
                           size_t prefixsz)
{
    if (!s->live)
        return false;
    for (const char *c = strchr(path, '/'); c; c = strchr(c + 1, '/')) {
        size_t n = (size_t)(c - path);
        if (find_n(s, path, n) != SIZE_MAX) {
            if (prefixsz) {
                size_t k = n < prefixsz - 1 ? n : prefixsz - 1;
                memcpy(prefix, path, k);
                prefix[k] = '\0';
            }
            return true;
        }
    }
    return false;
}
