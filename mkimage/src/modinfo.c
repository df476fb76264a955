#include "modinfo.h"

#include <elf.h>
#include <stdint.h>
#include <string.h>

int modinfo_section(const void *elf, size_t len, const char **sec, size_t *sec_len)
{
    const unsigned char *b = elf;
    Elf64_Ehdr eh;
    if (len < sizeof eh)
        return -1;
    memcpy(&eh, b, sizeof eh); /* copies: the buffer need not be aligned */
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return -1;
    if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 || eh.e_shstrndx >= eh.e_shnum)
        return -1;
    if (eh.e_shoff > len || (len - eh.e_shoff) / sizeof(Elf64_Shdr) < eh.e_shnum)
        return -1;
    Elf64_Shdr strh;
    memcpy(&strh, b + eh.e_shoff + (size_t)eh.e_shstrndx * sizeof strh, sizeof strh);
    if (strh.sh_type == SHT_NOBITS || strh.sh_offset > len || strh.sh_size > len - strh.sh_offset)
        return -1;
    const char *names = (const char *)b + strh.sh_offset;
    size_t names_len = strh.sh_size;
    static const char want[] = ".modinfo";
    for (size_t i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh;
        memcpy(&sh, b + eh.e_shoff + i * sizeof sh, sizeof sh);
        if (sh.sh_name >= names_len || names_len - sh.sh_name < sizeof want ||
            memcmp(names + sh.sh_name, want, sizeof want) != 0)
            continue;
        if (sh.sh_type == SHT_NOBITS || sh.sh_offset > len || sh.sh_size > len - sh.sh_offset)
            return -1;
        *sec = (const char *)b + sh.sh_offset;
        *sec_len = sh.sh_size;
        return 0;
    }
    return -1;
}

void modinfo_each(const char *sec, size_t len, modinfo_fn fn, void *ctx)
{
    size_t i = 0;
    while (i < len) {
        const char *s = sec + i;
        const char *nul = memchr(s, '\0', len - i);
        size_t slen = nul ? (size_t)(nul - s) : len - i;
        i += slen + 1;
        const char *eq = memchr(s, '=', slen);
        if (!eq)
            continue; /* padding between strings, or garbage */
        if (fn(s, (size_t)(eq - s), eq + 1, slen - (size_t)(eq - s) - 1, ctx))
            return;
    }
}

static int is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void modinfo_split(const char *s, size_t len, modname_fn fn, void *ctx)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && is_sep(s[i]))
            i++;
        size_t start = i;
        while (i < len && !is_sep(s[i]))
            i++;
        if (i > start && fn(s + start, i - start, ctx))
            return;
    }
}

void modinfo_softdeps(const char *s, size_t len, softdep_fn fn, void *ctx)
{
    int mode = 0; /* 0: before any "pre:"/"post:" (ignored), 1: pre, 2: post */
    size_t i = 0;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        size_t start = i;
        while (i < len && s[i] != ' ' && s[i] != '\t')
            i++;
        size_t tl = i - start;
        if (tl == 0)
            continue;
        if (tl == 4 && memcmp(s + start, "pre:", 4) == 0)
            mode = 1;
        else if (tl == 5 && memcmp(s + start, "post:", 5) == 0)
            mode = 2;
        else if (mode && fn(s + start, tl, mode == 2, ctx))
            return;
    }
}

/* Calls line_fn for each line (without the newline). */
static void each_line(const char *text, size_t len,
                      int (*line_fn)(const char *l, size_t ll, void *c), void *ctx)
{
    size_t i = 0;
    while (i < len) {
        const char *l = text + i;
        const char *nl = memchr(l, '\n', len - i);
        size_t ll = nl ? (size_t)(nl - l) : len - i;
        i += ll + 1;
        if (line_fn(l, ll, ctx))
            return;
    }
}

struct dep_ctx {
    moddep_fn fn;
    void *ctx;
};

static int dep_line(const char *l, size_t ll, void *c)
{
    struct dep_ctx *d = c;
    const char *colon = memchr(l, ':', ll);
    if (!colon || colon == l || l[0] == '#')
        return 0;
    size_t plen = (size_t)(colon - l);
    return d->fn(l, plen, colon + 1, ll - plen - 1, d->ctx);
}

void moddep_parse(const char *text, size_t len, moddep_fn fn, void *ctx)
{
    struct dep_ctx d = {fn, ctx};
    each_line(text, len, dep_line, &d);
}

struct alias_ctx {
    modalias_fn fn;
    void *ctx;
};

/* Next whitespace-separated word of l[*i..ll). */
static size_t word(const char *l, size_t ll, size_t *i, const char **w)
{
    while (*i < ll && (l[*i] == ' ' || l[*i] == '\t' || l[*i] == '\r'))
        (*i)++;
    *w = l + *i;
    size_t start = *i;
    while (*i < ll && l[*i] != ' ' && l[*i] != '\t' && l[*i] != '\r')
        (*i)++;
    return *i - start;
}

static int alias_line(const char *l, size_t ll, void *c)
{
    struct alias_ctx *a = c;
    size_t i = 0;
    const char *kw, *pat, *mod;
    size_t kwl = word(l, ll, &i, &kw);
    size_t pl = word(l, ll, &i, &pat);
    size_t ml = word(l, ll, &i, &mod);
    if (kwl != 5 || memcmp(kw, "alias", 5) != 0 || pl == 0 || ml == 0)
        return 0;
    for (size_t j = 0; j < pl; j++)
        if (pat[j] == '*' || pat[j] == '?' || pat[j] == '[')
            return 0;
    return a->fn(pat, pl, mod, ml, a->ctx);
}

void modalias_parse(const char *text, size_t len, modalias_fn fn, void *ctx)
{
    struct alias_ctx a = {fn, ctx};
    each_line(text, len, alias_line, &a);
}

struct builtin_ctx {
    modname_fn fn;
    void *ctx;
};

static int builtin_line(const char *l, size_t ll, void *c)
{
    struct builtin_ctx *b = c;
    char name[256]; /* longer names are not modules: the kernel's limit is 56 */
    size_t n = modname_from_path(l, ll, name, sizeof name);
    return n ? b->fn(name, n, b->ctx) : 0;
}

void modbuiltin_parse(const char *text, size_t len, modname_fn fn, void *ctx)
{
    struct builtin_ctx b = {fn, ctx};
    each_line(text, len, builtin_line, &b);
}

size_t modname_suffix_len(const char *path, size_t plen)
{
    static const char *const suffixes[] = {".ko", ".ko.xz", ".ko.zst", ".ko.gz"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t sl = strlen(suffixes[i]);
        if (plen > sl && memcmp(path + plen - sl, suffixes[i], sl) == 0)
            return sl;
    }
    return 0;
}

size_t modname_from_path(const char *path, size_t plen, char *out, size_t outsz)
{
    size_t sl = modname_suffix_len(path, plen);
    if (!sl)
        return 0;
    size_t end = plen - sl, start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;
    size_t n = end - start;
    if (n == 0 || n + 1 > outsz)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = path[start + i];
        out[i] = c == '-' ? '_' : c;
    }
    out[n] = '\0';
    return n;
}
