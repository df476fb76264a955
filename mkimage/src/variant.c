#include "variant.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_file.h"

/* inih as built by Debian reads at most INI_MAX_LINE (200) bytes per line and
 * silently treats the rest as a new line; longer lines are rejected up front so a
 * value is never cut in two without notice. */
#define LINE_MAX_BYTES 199

bool variant_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > VARIANT_NAME_MAX || name[0] < 'a' || name[0] > 'z')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void variant_free(variant *v)
{
    strlist_free(&v->initramfs_modules);
    strlist_free(&v->rootfs_modules);
    strlist_free(&v->keep);
    strlist_free(&v->drop);
    strlist_free(&v->enable);
    strlist_free(&v->install);
}

typedef struct parse_ctx {
    variant *v;
    char why[2048]; /* first error, without the line number inih reports */
    bool seen_name, seen_hostname, seen_desc, seen_tty, seen_baud, seen_lock;
} parse_ctx;

static int bad(parse_ctx *c, const char *fmt, const char *a, const char *b)
{
    if (!c->why[0])
        snprintf(c->why, sizeof c->why, fmt, a, b);
    return 0; /* inih: stop treating this line as valid */
}

/* Character classes of list items; each list accepts only what its consumer needs,
 * so nothing odd (spaces, quotes, "..") ever reaches a path or a shell script. */
static bool is_modname_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}
static bool is_path_char(char c)
{
    return is_modname_char(c) || c == '/' || c == '.' || c == '*' || c == '?' || c == '[' ||
           c == ']' || c == '+' || c == '@' || c == ':' || c == ',';
}

/* No "." or ".." component, no empty component except a leading "/". */
static bool path_components_ok(const char *p)
{
    const char *s = p;
    while (*s) {
        while (*s == '/')
            s++;
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        if (!e)
            break;
        s = e + 1;
    }
    return true;
}

enum item_kind { ITEM_MODULE, ITEM_MODPATH, ITEM_ABSPATH, ITEM_SERVICE, ITEM_INSTALL };

static bool item_ok(enum item_kind k, const char *s, size_t n)
{
    if (n == 0 || n > VARIANT_ITEM_MAX)
        return false;
    switch (k) {
    case ITEM_MODULE:
        for (size_t i = 0; i < n; i++)
            if (!is_modname_char(s[i]))
                return false;
        return true;
    case ITEM_SERVICE:
        if (s[0] == '.' || s[0] == '-')
            return false;
        for (size_t i = 0; i < n; i++)
            if (!is_modname_char(s[i]) && s[i] != '.' && s[i] != '@')
                return false;
        return true;
    case ITEM_MODPATH: /* module name, or a pattern relative to lib/modules/VER */
    case ITEM_ABSPATH:
    case ITEM_INSTALL:
        for (size_t i = 0; i < n; i++)
            if (!is_path_char(s[i]))
                return false;
        if (k == ITEM_ABSPATH && s[0] != '/')
            return false;
        if (k == ITEM_MODPATH && s[0] == '/')
            return false;
        return true;
    }
    return false;
}

static const char *kind_name(enum item_kind k)
{
    switch (k) {
    case ITEM_MODULE: return "kernel module name";
    case ITEM_MODPATH: return "module name or pattern";
    case ITEM_ABSPATH: return "absolute path pattern";
    case ITEM_SERVICE: return "service name";
    case ITEM_INSTALL: return "install spec";
    }
    return "item";
}

/* Appends the whitespace-separated items of value to l (multi-line values and
 * repeated keys both arrive here, one line at a time). */
static int add_items(parse_ctx *c, strlist *l, const char *key, const char *value,
                     enum item_kind k)
{
    const char *s = value;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            return 1;
        const char *e = s;
        while (*e && *e != ' ' && *e != '\t')
            e++;
        size_t n = (size_t)(e - s);
        char item[VARIANT_ITEM_MAX + 1];
        if (!item_ok(k, s, n)) {
            snprintf(item, sizeof item, "%.*s", (int)(n > 64 ? 64 : n), s);
            char what[64];
            snprintf(what, sizeof what, "%s: bad %s", key, kind_name(k));
            return bad(c, "%s '%s'", what, item);
        }
        memcpy(item, s, n);
        item[n] = 0;
        if ((k == ITEM_ABSPATH || k == ITEM_MODPATH) && !path_components_ok(item))
            return bad(c, "%s: '%s' has a '.' or '..' component", key, item);
        if (k == ITEM_INSTALL) {
            char src[VARIANT_ITEM_MAX + 1], dest[VARIANT_ITEM_MAX + 1];
            unsigned mode;
            mk_err e2;
            if (install_spec_parse(item, src, sizeof src, dest, sizeof dest, &mode, &e2) < 0)
                return bad(c, "%s: %s", key, e2.msg);
            if (src[0] == '/' || !path_components_ok(src))
                return bad(c, "%s: source '%s' must be relative, without '..'", key, src);
        }
        if (l->n >= VARIANT_LIST_MAX)
            return bad(c, "%s: more than %s items", key, "512");
        char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
        if (!nv)
            return bad(c, "%s: %s", key, "out of memory");
        l->v = nv;
        if (!(l->v[l->n] = strdup(item)))
            return bad(c, "%s: %s", key, "out of memory");
        l->n++;
        s = e;
    }
}

static int set_scalar(parse_ctx *c, bool *seen, char *dst, size_t dstsz, const char *key,
                      const char *value)
{
    if (*seen)
        return bad(c, "%s: given twice%s", key, "");
    *seen = true;
    if (strlen(value) >= dstsz)
        return bad(c, "%s: value too long%s", key, "");
    strcpy(dst, value);
    return 1;
}

static bool hostname_ok(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 63 || h[0] == '-' || h[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx *c = user;
    variant *v = c->v;
#define IS(s, k) (strcmp(section, s) == 0 && strcmp(name, k) == 0)
    if (IS("variant", "name")) {
        if (!set_scalar(c, &c->seen_name, v->name, sizeof v->name, name, value))
            return 0;
        if (!variant_name_valid(v->name))
            return bad(c, "name: '%s' is not a valid variant name%s", v->name, "");
        return 1;
    }
    if (IS("variant", "hostname")) {
        if (!set_scalar(c, &c->seen_hostname, v->hostname, sizeof v->hostname, name, value))
            return 0;
        if (!hostname_ok(v->hostname))
            return bad(c, "hostname: '%s' is not a valid host name%s", v->hostname, "");
        return 1;
    }
    if (IS("variant", "description"))
        return set_scalar(c, &c->seen_desc, v->description, sizeof v->description, name, value);
    if (IS("console", "tty")) {
        if (!set_scalar(c, &c->seen_tty, v->console_tty, sizeof v->console_tty, name, value))
            return 0;
        if (v->console_tty[0] && !item_ok(ITEM_MODULE, v->console_tty, strlen(v->console_tty)))
            return bad(c, "tty: '%s' is not a tty name%s", v->console_tty, "");
        return 1;
    }
    if (IS("console", "baud")) {
        if (c->seen_baud)
            return bad(c, "%s: given twice%s", name, "");
        c->seen_baud = true;
        char *end;
        errno = 0;
        unsigned long b = strtoul(value, &end, 10);
        if (errno || *end || end == value || b < 50 || b > 4000000 || value[0] == '-')
            return bad(c, "baud: '%.32s' is not a baud rate%s", value, "");
        v->console_baud = (unsigned)b;
        return 1;
    }
    if (IS("accounts", "lock_root")) {
        if (c->seen_lock)
            return bad(c, "%s: given twice%s", name, "");
        c->seen_lock = true;
        if (!strcmp(value, "yes") || !strcmp(value, "true"))
            v->lock_root = true;
        else if (!strcmp(value, "no") || !strcmp(value, "false"))
            v->lock_root = false;
        else
            return bad(c, "lock_root: '%.32s' is not yes or no%s", value, "");
        return 1;
    }
    if (IS("modules", "initramfs"))
        return add_items(c, &v->initramfs_modules, name, value, ITEM_MODULE);
    if (IS("modules", "rootfs"))
        return add_items(c, &v->rootfs_modules, name, value, ITEM_MODPATH);
    if (IS("rootfs", "keep"))
        return add_items(c, &v->keep, name, value, ITEM_ABSPATH);
    if (IS("rootfs", "drop"))
        return add_items(c, &v->drop, name, value, ITEM_ABSPATH);
    if (IS("services", "enable"))
        return add_items(c, &v->enable, name, value, ITEM_SERVICE);
    if (IS("files", "install"))
        return add_items(c, &v->install, name, value, ITEM_INSTALL);
#undef IS
    char sec[40], key[40];
    snprintf(sec, sizeof sec, "%.32s", section);
    snprintf(key, sizeof key, "%.32s", name);
    return bad(c, "unknown key '%s' in [%s]", key, sec);
}

int variant_parse(const char *text, size_t len, const char *origin, variant *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    out->console_baud = 115200;
    out->lock_root = true;
    if (len > VARIANT_FILE_MAX)
        return mk_fail(err, "variant %s: file larger than %d bytes", origin, VARIANT_FILE_MAX);
    /* Line-length and NUL checks before inih sees the text (see LINE_MAX_BYTES). */
    size_t line = 1, col = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\0')
            return mk_fail(err, "variant %s:%zu: NUL byte", origin, line);
        if (text[i] == '\n') {
            line++;
            col = 0;
        } else if (++col > LINE_MAX_BYTES) {
            return mk_fail(err, "variant %s:%zu: line longer than %d bytes", origin, line,
                           LINE_MAX_BYTES);
        }
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return mk_fail(err, "variant %s: out of memory", origin);
    memcpy(copy, text, len);
    copy[len] = 0;
    parse_ctx c = {.v = out};
    int rc = ini_parse_string(copy, on_entry, &c);
    free(copy);
    if (rc != 0) {
        if (rc < 0)
            mk_fail(err, "variant %s: cannot parse", origin);
        else if (c.why[0])
            mk_fail(err, "variant %s:%d: %s", origin, rc, c.why);
        else
            mk_fail(err, "variant %s:%d: syntax error", origin, rc);
        variant_free(out);
        return -1;
    }
    if (!c.seen_name || !c.seen_hostname) {
        mk_fail(err, "variant %s: [variant] needs name and hostname", origin);
        variant_free(out);
        return -1;
    }
    return 0;
}

int variant_load(const char *dir, const char *name, variant *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    if (!variant_name_valid(name))
        return mk_fail(err, "variant '%.40s': invalid name (expected [a-z][a-z0-9_-]*)", name);
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s.ini", dir, name) >= (int)sizeof path)
        return mk_fail(err, "variant %s: path too long", name);
    size_t len;
    char *buf = cm_read_file(path, VARIANT_FILE_MAX, &len);
    if (!buf && errno == ENOENT)
        return mk_fail(err, "variant %s: unknown (no %s.ini in %s)", name, name, dir);
    if (!buf && errno == EFBIG)
        return mk_fail(err, "variant %s: %s is larger than %u bytes", name, path,
                       (unsigned)VARIANT_FILE_MAX);
    if (!buf)
        return mk_fail_errno(err, errno, "variant %s: %s", name, path);
    char origin[64];
    snprintf(origin, sizeof origin, "%s.ini", name);
    int rc = variant_parse(buf, len, origin, out, err);
    free(buf);
    if (rc == 0 && strcmp(out->name, name) != 0) {
        mk_fail(err, "variant %s: file says name = %s", origin, out->name);
        variant_free(out);
        return -1;
    }
    return rc;
}

int install_spec_parse(const char *spec, char *src, size_t src_sz, char *dest, size_t dest_sz,
                       unsigned *mode, mk_err *err)
{
    /* DEST is absolute, so SRC ends at the first ":/". An optional ":MODE" (octal)
     * follows DEST. */
    const char *sep = strstr(spec, ":/");
    if (!sep || sep == spec)
        return mk_fail(err, "install '%.64s': expected SRC:DEST[:MODE] with an absolute DEST",
                       spec);
    const char *d = sep + 1;
    const char *m = strrchr(d, ':');
    size_t dlen = m ? (size_t)(m - d) : strlen(d);
    *mode = 0644;
    if (m) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(m + 1, &end, 8);
        if (errno || *end || end == m + 1 || v > 07777 || m[1] == '-' || m[1] == '+')
            return mk_fail(err, "install '%.64s': mode must be octal, at most 7777", spec);
        *mode = (unsigned)v;
    }
    size_t slen = (size_t)(sep - spec);
    if (slen >= src_sz || dlen >= dest_sz)
        return mk_fail(err, "install '%.64s': path too long", spec);
    memcpy(src, spec, slen);
    src[slen] = 0;
    memcpy(dest, d, dlen);
    dest[dlen] = 0;
    if (dlen < 2 || dest[dlen - 1] == '/' || !path_components_ok(dest))
        return mk_fail(err, "install '%.64s': DEST must name a file, without '.' or '..'", spec);
    return 0;
}
