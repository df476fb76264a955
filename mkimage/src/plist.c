#include "plist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    char *b;
    size_t len, pos;
    plist *p;
    mk_err *err;
} parser;

static int bad(parser *ps, const char *what)
{
    return mk_fail(ps->err, "offset %zu: %s", ps->pos, what);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool at(const parser *ps, const char *s)
{
    size_t n = strlen(s);
    return ps->len - ps->pos >= n && memcmp(ps->b + ps->pos, s, n) == 0;
}

/* Finds s at or after pos; returns its offset or (size_t)-1. */
static size_t find(const parser *ps, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = ps->pos; i + n <= ps->len; i++) {
        const char *c = memchr(ps->b + i, s[0], ps->len - n + 1 - i);
        if (!c)
            break;
        i = (size_t)(c - ps->b);
        if (memcmp(c, s, n) == 0)
            return i;
    }
    return (size_t)-1;
}

/* Whitespace, comments, processing instructions and DOCTYPE. */
static int skip_misc(parser *ps)
{
    for (;;) {
        while (ps->pos < ps->len && is_ws(ps->b[ps->pos]))
            ps->pos++;
        const char *end = at(ps, "<!--") ? "-->" : at(ps, "<?") ? "?>"
                          : at(ps, "<!DOCTYPE") ? ">" : NULL;
        if (!end)
            return 0;
        size_t e = find(ps, end);
        if (e == (size_t)-1)
            return bad(ps, "unterminated comment or declaration");
        ps->pos = e + strlen(end);
    }
}

static uint32_t new_node(parser *ps, uint32_t type)
{
    plist *p = ps->p;
    if (p->count == p->cap) {
        if (p->cap >= PLIST_MAX_NODES) {
            bad(ps, "too many elements");
            return 0;
        }
        uint32_t nc = p->cap ? p->cap * 2 : 64;
        if (nc > PLIST_MAX_NODES)
            nc = PLIST_MAX_NODES;
        plist_node *nn = realloc(p->n, (size_t)nc * sizeof *nn);
        if (!nn) {
            mk_fail(ps->err, "out of memory");
            return 0;
        }
        p->n = nn;
        p->cap = nc;
    }
    uint32_t i = p->count++;
    p->n[i] = (plist_node){.type = type, .text = ""};
    return i;
}

/* Appends UTF-8 for code point c at o; returns bytes written, 0 when invalid. */
static size_t put_utf8(char *o, unsigned long c)
{
    if (c == 0 || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
        return 0;
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Decodes the entities of s[0..n) in place (the result is never longer: the
 * shortest reference, "&#N;", is 4 bytes for 1). Returns the length, or -1. */
static long decode_text(char *s, size_t n)
{
    static const struct { const char *name; char c; } ents[] = {
        {"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''},
    };
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '&') {
            s[o++] = s[i++];
            continue;
        }
        size_t rest = n - i - 1;
        const char *r = s + i + 1;
        bool done = false;
        for (size_t e = 0; e < sizeof ents / sizeof ents[0] && !done; e++) {
            size_t el = strlen(ents[e].name);
            if (rest >= el && memcmp(r, ents[e].name, el) == 0) {
                s[o++] = ents[e].c;
                i += 1 + el;
                done = true;
            }
        }
        if (done)
            continue;
        if (rest < 3 || r[0] != '#')
            return -1;
        bool hex = r[1] == 'x';
        size_t k = hex ? 2 : 1, digits = 0;
        unsigned long c = 0;
        for (; k < rest && r[k] != ';'; k++, digits++) {
            int d;
            char ch = r[k];
            if (ch >= '0' && ch <= '9')
                d = ch - '0';
            else if (hex && ch >= 'a' && ch <= 'f')
                d = ch - 'a' + 10;
            else if (hex && ch >= 'A' && ch <= 'F')
                d = ch - 'A' + 10;
            else
                return -1;
            if (digits >= 8)
                return -1;
            c = c * (hex ? 16 : 10) + (unsigned long)d;
        }
        if (k >= rest || digits == 0)
            return -1;
        char tmp[4];
        size_t w = put_utf8(tmp, c);
        if (!w)
            return -1;
        memcpy(s + o, tmp, w);
        o += w;
        i += 1 + k + 1;
    }
    return (long)o;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes base64 (whitespace ignored, '=' padding only at the end) in place. */
static long decode_b64(char *s, size_t n)
{
    size_t o = 0, q = 0, pad = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (is_ws(c))
            continue;
        if (c == '=') {
            pad++;
            q++;
            if (pad > 2)
                return -1;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        if (++q % 4 == 0) {
            s[o++] = (char)(acc >> 16);
            s[o++] = (char)(acc >> 8);
            s[o++] = (char)acc;
            acc = 0;
        }
    }
    if (q % 4 != 0)
        return -1;
    if (pad) { /* the last group: 2 or 3 symbols then padding */
        size_t have = 4 - pad;
        acc <<= 6 * pad;
        s[o++] = (char)(acc >> 16);
        if (have == 3)
            s[o++] = (char)(acc >> 8);
    }
    return (long)o;
}

static const struct { const char *name; uint32_t type; } elems[] = {
    {"dict", PLIST_DICT},       {"array", PLIST_ARRAY}, {"key", PLIST_KEY},
    {"string", PLIST_STRING},   {"integer", PLIST_INTEGER}, {"real", PLIST_REAL},
    {"date", PLIST_DATE},       {"data", PLIST_DATA},   {"true", PLIST_TRUE},
    {"false", PLIST_FALSE},
};

static const char *elem_name(uint32_t type)
{
    for (size_t i = 0; i < sizeof elems / sizeof elems[0]; i++)
        if (elems[i].type == type)
            return elems[i].name;
    return "?";
}

/* Reads "<NAME>" or "<NAME/>" at pos. *empty set for the latter. */
static int open_tag(parser *ps, uint32_t *type, bool *empty)
{
    if (ps->pos >= ps->len || ps->b[ps->pos] != '<')
        return bad(ps, "expected an element");
    for (size_t i = 0; i < sizeof elems / sizeof elems[0]; i++) {
        size_t n = strlen(elems[i].name);
        if (ps->len - ps->pos < n + 2 || memcmp(ps->b + ps->pos + 1, elems[i].name, n) != 0)
            continue;
        size_t k = ps->pos + 1 + n;
        if (ps->b[k] == '>') {
            ps->pos = k + 1;
            *type = elems[i].type;
            *empty = false;
            return 0;
        }
        if (ps->b[k] == '/' && k + 1 < ps->len && ps->b[k + 1] == '>') {
            ps->pos = k + 2;
            *type = elems[i].type;
            *empty = true;
            return 0;
        }
    }
    return bad(ps, "unknown or malformed element");
}

static int close_tag(parser *ps, uint32_t type)
{
    char t[16];
    snprintf(t, sizeof t, "</%s>", elem_name(type));
    if (!at(ps, t))
        return mk_fail(ps->err, "offset %zu: expected %s", ps->pos, t);
    ps->pos += strlen(t);
    return 0;
}

static void link_child(plist *p, uint32_t parent, uint32_t *last, uint32_t child)
{
    if (*last)
        p->n[*last].next = child;
    else
        p->n[parent].first = child;
    *last = child;
}

static uint32_t parse_value(parser *ps, unsigned depth);

/* Text content up to the closing tag, decoded in place and NUL-terminated. */
static int parse_text(parser *ps, uint32_t node)
{
    uint32_t type = ps->p->n[node].type;
    size_t start = ps->pos, lt = find(ps, "<");
    if (lt == (size_t)-1)
        return bad(ps, "unterminated text");
    if (memchr(ps->b + start, 0, lt - start))
        return bad(ps, "NUL byte in text");
    ps->pos = lt;
    if (close_tag(ps, type) < 0)
        return -1;
    long n = type == PLIST_DATA ? decode_b64(ps->b + start, lt - start)
                                : decode_text(ps->b + start, lt - start);
    if (n < 0) {
        ps->pos = start;
        return bad(ps, type == PLIST_DATA ? "invalid base64" : "invalid character reference");
    }
    ps->b[start + (size_t)n] = 0; /* at most the '<' already consumed */
    ps->p->n[node].text = ps->b + start;
    ps->p->n[node].len = (uint32_t)n;
    return 0;
}

static uint32_t parse_value(parser *ps, unsigned depth)
{
    if (depth > PLIST_MAX_DEPTH) {
        bad(ps, "nested too deeply");
        return 0;
    }
    if (skip_misc(ps) < 0)
        return 0;
    uint32_t type;
    bool empty;
    if (open_tag(ps, &type, &empty) < 0)
        return 0;
    if (type == PLIST_KEY) {
        bad(ps, "key outside a dict");
        return 0;
    }
    uint32_t node = new_node(ps, type);
    if (!node || empty)
        return node;
    if (type == PLIST_TRUE || type == PLIST_FALSE)
        return close_tag(ps, type) < 0 ? 0 : node;
    if (type != PLIST_DICT && type != PLIST_ARRAY)
        return parse_text(ps, node) < 0 ? 0 : node;

    uint32_t last = 0;
    for (;;) {
        if (skip_misc(ps) < 0)
            return 0;
        if (at(ps, type == PLIST_DICT ? "</dict>" : "</array>"))
            return close_tag(ps, type) < 0 ? 0 : node;
        if (type == PLIST_DICT) {
            uint32_t kt;
            bool kempty;
            if (open_tag(ps, &kt, &kempty) < 0)
                return 0;
            if (kt != PLIST_KEY) {
                bad(ps, "expected a key in dict");
                return 0;
            }
            uint32_t k = new_node(ps, PLIST_KEY);
            if (!k || (!kempty && parse_text(ps, k) < 0))
                return 0;
            link_child(ps->p, node, &last, k);
        }
        uint32_t v = parse_value(ps, depth + 1);
        if (!v)
            return 0;
        link_child(ps->p, node, &last, v);
    }
}

int plist_parse(char *buf, size_t len, plist *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    parser ps = {.b = buf, .len = len, .p = out, .err = err};
    mk_err dummy;
    if (!ps.err)
        ps.err = &dummy;
    if (len > 0xFFFFFFFFu - 1) /* text lengths are 32-bit */
        return mk_fail(err, "too large");
    new_node(&ps, 0); /* index 0: "none" (so the call returns 0 either way) */
    if (out->count != 1)
        goto fail;
    if (skip_misc(&ps) < 0)
        goto fail;
    bool wrapped = false;
    if (at(&ps, "<plist")) {
        size_t gt = find(&ps, ">");
        if (gt == (size_t)-1) {
            bad(&ps, "unterminated plist element");
            goto fail;
        }
        ps.pos = gt + 1;
        wrapped = true;
    }
    if (!parse_value(&ps, 0))
        goto fail;
    if (skip_misc(&ps) < 0)
        goto fail;
    if (wrapped) {
        if (!at(&ps, "</plist>")) {
            bad(&ps, "expected </plist>");
            goto fail;
        }
        ps.pos += 8;
        if (skip_misc(&ps) < 0)
            goto fail;
    }
    if (ps.pos != len) {
        bad(&ps, "trailing data");
        goto fail;
    }
    return 0;
fail:
    plist_free(out);
    return -1;
}

void plist_free(plist *p)
{
    free(p->n);
    memset(p, 0, sizeof *p);
}

bool plist_dict_next(const plist *p, uint32_t dict, uint32_t *it, uint32_t *key, uint32_t *val)
{
    if (!dict || dict >= p->count || p->n[dict].type != PLIST_DICT)
        return false;
    uint32_t k = *it ? p->n[*it].next : p->n[dict].first;
    if (!k)
        return false;
    uint32_t v = p->n[k].next; /* the parser always pairs a key with a value */
    *key = k;
    *val = v;
    *it = v;
    return true;
}

uint32_t plist_dict_get(const plist *p, uint32_t dict, const char *key)
{
    uint32_t it = 0, k, v, found = 0;
    while (plist_dict_next(p, dict, &it, &k, &v))
        if (!strcmp(p->n[k].text, key))
            found = v;
    return found;
}

const char *plist_text(const plist *p, uint32_t node, plist_type type, size_t *len)
{
    if (!node || node >= p->count || p->n[node].type != (uint32_t)type)
        return NULL;
    if (len)
        *len = p->n[node].len;
    return p->n[node].text;
}

int plist_uint(const plist *p, uint32_t node, uint64_t *out)
{
    size_t n;
    const char *s = plist_text(p, node, PLIST_INTEGER, &n);
    if (!s || n == 0 || n > 20)
        return -1;
    bool hex = n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    uint64_t v = 0;
    for (size_t i = hex ? 2 : 0; i < n; i++) {
        int d;
        char c = s[i];
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (hex && c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (hex && c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        unsigned base = hex ? 16 : 10;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            return -1;
        v = v * base + (uint64_t)d;
    }
    *out = v;
    return 0;
}
