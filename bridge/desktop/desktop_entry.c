#include "desktop_entry.h"

#include <stdio.h>
#include <string.h>

typedef struct parse {
    desktop_entry *e;
    const char *locale; /* "lang_COUNTRY@MOD" part of the locale, encoding removed */
    int name_rank;      /* how well the Name we kept matches the locale (0 = unlocalized) */
    int line;
    char *err;
    size_t errlen;
} parse;

static int fail(parse *p, const char *key, const char *why)
{
    snprintf(p->err, p->errlen, "line %d: %s: %s", p->line, key, why);
    return -1;
}

/* The string escapes of the spec: \s \n \t \r \\ ; anything else is kept as written. */
static int unescape(parse *p, const char *key, const char *v, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == '\\' && i + 1 < n) {
            char x = v[++i];
            c = x == 's' ? ' ' : x == 'n' ? '\n' : x == 't' ? '\t' : x == 'r' ? '\r' : x;
            if (x != 's' && x != 'n' && x != 't' && x != 'r' && x != '\\') {
                if (k + 1 >= cap)
                    return fail(p, key, "value too long");
                out[k++] = '\\';
            }
        }
        if (c == 0)
            return fail(p, key, "NUL byte in value");
        if (k + 1 >= cap)
            return fail(p, key, "value too long");
        out[k++] = c;
    }
    out[k] = 0;
    return 0;
}

/* Rank of a [locale] suffix against the user's locale, per the spec's matching order:
 * lang_COUNTRY@MOD 4, lang_COUNTRY 3, lang@MOD 2, lang 1; -1 when it does not match. */
static int locale_rank(const char *want, const char *have, size_t have_n)
{
    if (!want || !*want)
        return -1;
    char lang[32] = "", country[32] = "", mod[32] = "";
    sscanf(want, "%31[^_@]_%31[^@]@%31s", lang, country, mod);
    if (!country[0])
        sscanf(want, "%31[^_@]@%31s", lang, mod);
    char cand[4][100];
    snprintf(cand[0], sizeof cand[0], "%s_%s@%s", lang, country, mod);
    snprintf(cand[1], sizeof cand[1], "%s_%s", lang, country);
    snprintf(cand[2], sizeof cand[2], "%s@%s", lang, mod);
    snprintf(cand[3], sizeof cand[3], "%s", lang);
    bool valid[4] = {country[0] && mod[0], country[0] != 0, mod[0] != 0, lang[0] != 0};
    for (int i = 0; i < 4; i++)
        if (valid[i] && strlen(cand[i]) == have_n && !strncmp(cand[i], have, have_n))
            return 4 - i;
    return -1;
}

/* Splits an (already unescaped) Exec value into argv (spec: "The Exec key"). Quoted arguments
 * may contain spaces; inside quotes \" \` \$ \\ are escapes. Field codes are dropped, except
 * %c (the name) and %% (a percent sign); unknown codes are an error. */
static int split_exec(parse *p, const char *v)
{
    desktop_entry *e = p->e;
    char *out = e->exec_argv_buf;
    size_t cap = sizeof e->exec_argv_buf, k = 0;
    e->exec_argc = 0;
    const char *s = v;
    while (*s) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        if (e->exec_argc == DESKTOP_ARGV_MAX)
            return fail(p, "Exec", "too many arguments");
        size_t start = k;
        bool any = false, drop = false;
        while (*s && *s != ' ') {
            if (*s == '"') {
                any = true;
                for (s++; *s && *s != '"'; s++) {
                    /* s[1] may be the terminator, which strchr would also match */
                    if (*s == '\\' && s[1] && strchr("\"`$\\", s[1]))
                        s++;
                    else if (*s == '%' && s[1] == '%') /* a literal percent, also in quotes */
                        s++;
                    if (k + 2 >= cap)
                        return fail(p, "Exec", "too long");
                    out[k++] = *s;
                }
                if (*s != '"')
                    return fail(p, "Exec", "unterminated quote");
                s++;
                continue;
            }
            if (*s == '%') {
                char code = s[1];
                s += code ? 2 : 1;
                if (code == '%') {
                    if (k + 2 >= cap)
                        return fail(p, "Exec", "too long");
                    out[k++] = '%';
                    any = true;
                } else if (code == 'c') {
                    size_t n = strlen(e->name);
                    if (k + n + 2 >= cap)
                        return fail(p, "Exec", "too long");
                    memcpy(out + k, e->name, n);
                    k += n;
                    any = true;
                } else if (code && strchr("fFuUikdDnNvm", code)) {
                    drop = !any; /* a lone field code is not an argument at all */
                } else {
                    return fail(p, "Exec", "unknown field code");
                }
                continue;
            }
            if (k + 2 >= cap)
                return fail(p, "Exec", "too long");
            out[k++] = *s++;
            any = true;
        }
        if (drop && k == start)
            continue;
        out[k++] = 0;
        e->exec_argv[e->exec_argc++] = out + start;
    }
    e->exec_argv[e->exec_argc] = NULL;
    if (e->exec_argc == 0)
        return fail(p, "Exec", "no program");
    return 0;
}

static bool parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "true"))
        return *out = true, true;
    if (!strcmp(v, "false"))
        return *out = false, true;
    return false;
}

static int on_key(parse *p, const char *key, size_t key_n, const char *loc, size_t loc_n,
                  const char *v, size_t vn)
{
    desktop_entry *e = p->e;
    char value[DESKTOP_FIELD_MAX * 2];
    char keyname[64];
    snprintf(keyname, sizeof keyname, "%.*s", (int)(key_n < 60 ? key_n : 60), key);
    if (unescape(p, keyname, v, vn, value, sizeof value) < 0)
        return -1;
#define IS(k) (key_n == sizeof(k) - 1 && !memcmp(key, k, key_n))
    if (IS("Name")) {
        int rank = loc ? locale_rank(p->locale, loc, loc_n) : 0;
        if (rank < 0 || rank < p->name_rank || (rank == p->name_rank && e->name[0] && rank))
            return 0;
        if (strlen(value) >= sizeof e->name)
            return fail(p, keyname, "value too long");
        strcpy(e->name, value);
        p->name_rank = rank;
        return 0;
    }
    if (loc)
        return 0; /* other localized keys are not used */
    struct { const char *k; char *dst; } strings[] = {
        {"GenericName", e->generic_name}, {"Comment", e->comment}, {"Icon", e->icon},
        {"TryExec", e->try_exec}, {"Categories", e->categories},
        {"OnlyShowIn", e->only_show_in}, {"NotShowIn", e->not_show_in}};
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
        if (key_n == strlen(strings[i].k) && !memcmp(key, strings[i].k, key_n)) {
            if (strlen(value) >= DESKTOP_FIELD_MAX)
                return fail(p, keyname, "value too long");
            strcpy(strings[i].dst, value);
            return 0;
        }
    }
    if (IS("Exec"))
        return split_exec(p, value);
    if (IS("Type")) {
        e->is_application = !strcmp(value, "Application");
        return 0;
    }
    bool *flag = IS("Terminal") ? &e->terminal : IS("NoDisplay") ? &e->no_display
               : IS("Hidden") ? &e->hidden : NULL;
    if (flag && !parse_bool(value, flag))
        return fail(p, keyname, "not true or false");
    return 0;
#undef IS
}

int desktop_entry_parse(const char *text, size_t len, const char *locale, desktop_entry *e,
                        char *err, size_t errlen)
{
    memset(e, 0, sizeof *e);
    char loc[64] = "";
    if (locale) {
        snprintf(loc, sizeof loc, "%s", locale);
        char *dot = strchr(loc, '.'), *at = strchr(locale, '@');
        if (dot) /* drop the encoding, keep a modifier */
            snprintf(dot, sizeof loc - (size_t)(dot - loc), "%s", at ? at : "");
    }
    parse p = {.e = e, .locale = loc, .err = err, .errlen = errlen};
    if (len > DESKTOP_MAX_BYTES) {
        snprintf(err, errlen, "larger than %d bytes", DESKTOP_MAX_BYTES);
        return -1;
    }
    bool in_entry = false, seen_entry = false;
    size_t off = 0;
    while (off < len) {
        const char *line = text + off;
        const char *nl = memchr(line, '\n', len - off);
        size_t n = nl ? (size_t)(nl - line) : len - off;
        off += n + (nl ? 1 : 0);
        p.line++;
        if (n && line[n - 1] == '\r')
            n--;
        if (n == 0 || line[0] == '#')
            continue;
        if (line[0] == '[') {
            if (line[n - 1] != ']')
                return fail(&p, "group", "malformed group header");
            in_entry = n == 15 && !memcmp(line, "[Desktop Entry]", 15);
            seen_entry |= in_entry;
            continue;
        }
        if (!in_entry)
            continue;
        const char *eq = memchr(line, '=', n);
        if (!eq)
            return fail(&p, "line", "not a key=value line");
        size_t key_n = (size_t)(eq - line);
        while (key_n && line[key_n - 1] == ' ')
            key_n--;
        const char *loc_s = NULL;
        size_t loc_n = 0;
        const char *br = memchr(line, '[', key_n);
        if (br) {
            if (line[key_n - 1] != ']')
                return fail(&p, "key", "malformed locale suffix");
            loc_s = br + 1;
            loc_n = key_n - (size_t)(br - line) - 2;
            key_n = (size_t)(br - line);
        }
        for (size_t i = 0; i < key_n; i++) {
            char c = line[i];
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                return fail(&p, "key", "invalid key name");
        }
        const char *v = eq + 1;
        while (v < line + n && *v == ' ')
            v++;
        if (on_key(&p, line, key_n, loc_s, loc_n, v, (size_t)(line + n - v)) < 0)
            return -1;
    }
    if (!seen_entry) {
        snprintf(err, errlen, "no [Desktop Entry] group");
        return -1;
    }
    return 0;
}

static bool list_has(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *s = list; *s;) {
        size_t len = strcspn(s, ";");
        if (len == n && !strncmp(s, word, n))
            return true;
        s += len + (s[len] == ';');
    }
    return false;
}

bool desktop_entry_visible(const desktop_entry *e, const char *desktop)
{
    if (!e->is_application || e->no_display || e->hidden || e->exec_argc == 0 || !e->name[0])
        return false;
    if (e->only_show_in[0] && !list_has(e->only_show_in, desktop))
        return false;
    return !list_has(e->not_show_in, desktop);
}

bool desktop_safe_id(const char *id, char *out, size_t cap)
{
    size_t k = 0;
    for (const char *s = id; *s && k + 1 < cap; s++) {
        char c = *s;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok || (k == 0 && c == '.'))
            c = '_';
        out[k++] = c;
    }
    out[k] = 0;
    /* strip a trailing .desktop, which the caller adds back where it belongs */
    if (k > 8 && !strcmp(out + k - 8, ".desktop"))
        out[k -= 8] = 0;
    return k > 0 && strspn(out, "_") != k;
}
