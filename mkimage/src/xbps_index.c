#include "xbps_index.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "plist.h"

/* ---------- versions ---------- */

#define VER_MAX_COMPONENTS 64

/* Dewey-style components, as xbps (from NetBSD's pkg_install) builds them: a number is
 * its value, '.' is 0, the modifiers alpha/beta/pre/rc/pl are -3/-2/-1/-1/0 and any
 * other letter is 0 followed by its position in the alphabet (1.0a == 1.0.1). */
static size_t ver_components(const char *s, size_t n, long long *v)
{
    static const struct { const char *m; int v; } mods[] = {
        {"alpha", -3}, {"beta", -2}, {"pre", -1}, {"rc", -1}, {"pl", 0},
    };
    size_t c = 0;
    for (size_t i = 0; i < n && c + 2 <= VER_MAX_COMPONENTS;) {
        unsigned char ch = (unsigned char)s[i];
        if (isdigit(ch)) {
            long long x = 0;
            while (i < n && isdigit((unsigned char)s[i])) {
                if (x < 100000000000000LL)
                    x = x * 10 + (s[i] - '0');
                i++;
            }
            v[c++] = x;
            continue;
        }
        if (isalpha(ch)) {
            bool mod = false;
            for (size_t m = 0; m < sizeof mods / sizeof mods[0] && !mod; m++) {
                size_t ml = strlen(mods[m].m);
                if (n - i >= ml && strncasecmp(s + i, mods[m].m, ml) == 0) {
                    v[c++] = mods[m].v;
                    i += ml;
                    mod = true;
                }
            }
            if (!mod) {
                v[c++] = 0;
                v[c++] = tolower(ch) - 'a' + 1;
                i++;
            }
            continue;
        }
        if (ch == '.')
            v[c++] = 0;
        i++;
    }
    return c;
}

int xbps_cmpver(const char *a, const char *b)
{
    const char *da = strrchr(a, '-'), *db = strrchr(b, '-');
    a = da ? da + 1 : a;
    b = db ? db + 1 : b;
    const char *ra = strrchr(a, '_'), *rb = strrchr(b, '_');
    size_t na = ra ? (size_t)(ra - a) : strlen(a), nb = rb ? (size_t)(rb - b) : strlen(b);
    long long va[VER_MAX_COMPONENTS + 2], vb[VER_MAX_COMPONENTS + 2];
    size_t ca = ver_components(a, na, va), cb = ver_components(b, nb, vb);
    /* The revision is the last component compared. */
    va[ca] = ra ? strtoll(ra + 1, NULL, 10) : 0;
    vb[cb] = rb ? strtoll(rb + 1, NULL, 10) : 0;
    size_t n = ca > cb ? ca : cb;
    for (size_t i = 0; i < n; i++) {
        long long x = i < ca ? va[i] : 0, y = i < cb ? vb[i] : 0;
        if (x != y)
            return x < y ? -1 : 1;
    }
    return va[ca] < vb[cb] ? -1 : va[ca] > vb[cb];
}

/* ---------- names and entries ---------- */

int xbps_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= 128 || s[0] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._+-", s[i]))
            return 0;
    return 1;
}

/* pkgver must be NAME-VERSION_REVISION with a plain version: it becomes a URL. */
static bool pkgver_ok(const char *pv, const char *name)
{
    size_t nl = strlen(name), n = strlen(pv);
    if (n >= 256 || strncmp(pv, name, nl) != 0 || pv[nl] != '-')
        return false;
    const char *ver = pv + nl + 1, *rev = strrchr(ver, '_');
    if (!*ver || !rev || rev == ver || !rev[1] || strchr(ver, '-') || strchr(ver, '/'))
        return false;
    for (const char *c = ver; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("._+", *c))
            return false;
    for (const char *c = rev + 1; *c; c++)
        if (!isdigit((unsigned char)*c))
            return false;
    return ver[0] != '.';
}

static int entry_read(const plist *p, uint32_t d, const char *name, xbps_pkg *out, mk_err *err)
{
    const char *pv = plist_text(p, plist_dict_get(p, d, "pkgver"), PLIST_STRING, NULL);
    const char *arch = plist_text(p, plist_dict_get(p, d, "architecture"), PLIST_STRING, NULL);
    const char *sha = plist_text(p, plist_dict_get(p, d, "filename-sha256"), PLIST_STRING, NULL);
    if (!pv || !pkgver_ok(pv, name))
        return mk_fail(err, "package %s: missing or malformed pkgver", name);
    if (!sha || !sha256_hex_normalize(sha, out->sha256))
        return mk_fail(err, "package %s: missing or malformed filename-sha256", pv);
    uint64_t size = 0;
    uint32_t sz = plist_dict_get(p, d, "filename-size");
    if (sz && plist_uint(p, sz, &size) < 0)
        return mk_fail(err, "package %s: malformed filename-size", pv);
    snprintf(out->name, sizeof out->name, "%s", name);
    snprintf(out->pkgver, sizeof out->pkgver, "%s", pv);
    snprintf(out->arch, sizeof out->arch, "%s", arch ? arch : "");
    out->size = size;
    return 0;
}

int xbps_index_find(char *index, size_t len, const char *series, const char *arch,
                    xbps_pkg *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    if (!xbps_name_ok(series))
        return mk_fail(err, "%.64s: not a package name", series);
    plist p;
    mk_err inner;
    if (plist_parse(index, len, &p, &inner) < 0)
        return mk_fail(err, "index.plist: %s", inner.msg);
    int rc = -1;
    bool found = false, other_arch = false;
    if (p.n[1].type != PLIST_DICT) {
        mk_fail(err, "index.plist: not a dictionary of packages");
        goto out;
    }
    uint32_t it = 0, k, v;
    while (plist_dict_next(&p, 1, &it, &k, &v)) {
        if (strcmp(p.n[k].text, series) != 0)
            continue;
        if (p.n[v].type != PLIST_DICT) {
            mk_fail(err, "index.plist: entry %s is not a dictionary", series);
            goto out;
        }
        xbps_pkg cand;
        memset(&cand, 0, sizeof cand);
        if (entry_read(&p, v, series, &cand, err) < 0)
            goto out;
        if (strcmp(cand.arch, arch) != 0 && strcmp(cand.arch, "noarch") != 0) {
            other_arch = true;
            continue;
        }
        if (!found || xbps_cmpver(cand.pkgver, out->pkgver) > 0)
            *out = cand;
        found = true;
    }
    if (!found) {
        mk_fail(err, other_arch ? "%s: not in the index for %s" : "%s: not in the index", series,
                arch);
        goto out;
    }
    rc = 0;
out:
    plist_free(&p);
    return rc;
}

static int pubkey_from(char *text, size_t len, const char *what, char *pem, size_t cap,
                       size_t *pemlen, char *signer, size_t signer_cap, mk_err *err)
{
    plist p;
    mk_err inner;
    if (len == 0)
        return mk_fail(err, "%s: empty (unsigned repository)", what);
    if (plist_parse(text, len, &p, &inner) < 0)
        return mk_fail(err, "%s: %s", what, inner.msg);
    size_t n = 0;
    const char *key = plist_text(&p, plist_dict_get(&p, 1, "public-key"), PLIST_DATA, &n);
    int rc = 0;
    if (!key || n == 0)
        rc = mk_fail(err, "%s: no public-key (unsigned repository)", what);
    else if (n >= cap)
        rc = mk_fail(err, "%s: public-key too large", what);
    else {
        memcpy(pem, key, n);
        pem[n] = 0;
        *pemlen = n;
    }
    if (signer && signer_cap) {
        const char *by =
            plist_text(&p, plist_dict_get(&p, 1, "signature-by"), PLIST_STRING, NULL);
        snprintf(signer, signer_cap, "%s", by && *by ? by : "an unnamed signer");
    }
    plist_free(&p);
    return rc;
}

int xbps_meta_pubkey(char *meta, size_t len, char *pem, size_t pemcap, size_t *pemlen,
                     char *signer, size_t signer_cap, mk_err *err)
{
    return pubkey_from(meta, len, "index-meta.plist", pem, pemcap, pemlen, signer, signer_cap,
                       err);
}

int xbps_keyfile_pubkey(char *keyfile, size_t len, char *pem, size_t pemcap, size_t *pemlen,
                        mk_err *err)
{
    return pubkey_from(keyfile, len, "key file", pem, pemcap, pemlen, NULL, 0, err);
}

/* ---------- the repodata archive ---------- */

static int read_entry(struct archive *a, struct archive_entry *e, size_t max, const char *what,
                      char **out, size_t *out_len, mk_err *err)
{
    la_int64_t sz = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
    if (sz > (la_int64_t)max)
        return mk_fail(err, "%s: larger than %zu bytes", what, max);
    size_t cap = sz >= 0 ? (size_t)sz : 65536, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return mk_fail(err, "%s: out of memory", what);
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                free(buf);
                return mk_fail(err, "%s: larger than %zu bytes", what, max);
            }
            size_t nc = cap * 2 > max ? max : cap * 2;
            char *nb = realloc(buf, nc + 1);
            if (!nb) {
                free(buf);
                return mk_fail(err, "%s: out of memory", what);
            }
            buf = nb;
            cap = nc;
        }
        la_ssize_t r = archive_read_data(a, buf + n, cap - n);
        if (r < 0) {
            mk_fail(err, "%s: %s", what, archive_error_string(a));
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = 0;
    *out = buf;
    *out_len = n;
    return 0;
}

int xbps_repodata_read(const void *data, size_t len, const char *path, char **index,
                       size_t *index_len, char **meta, size_t *meta_len, mk_err *err)
{
    *index = *meta = NULL;
    *index_len = *meta_len = 0;
    struct archive *a = archive_read_new();
    if (!a)
        return mk_fail(err, "%s: out of memory", path);
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    int rc = -1;
    if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
        mk_fail(err, "%s: not a repository index archive: %s", path, archive_error_string(a));
        goto out;
    }
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        if (!name || archive_entry_filetype(e) != AE_IFREG)
            continue;
        if (name[0] == '.' && name[1] == '/')
            name += 2;
        if (!strcmp(name, "index.plist") && !*index) {
            if (read_entry(a, e, XBPS_INDEX_MAX, "index.plist", index, index_len, err) < 0)
                goto out;
        } else if (!strcmp(name, "index-meta.plist") && !*meta) {
            if (read_entry(a, e, XBPS_META_MAX, "index-meta.plist", meta, meta_len, err) < 0)
                goto out;
        }
    }
    if (r != ARCHIVE_EOF) {
        mk_fail(err, "%s: damaged repository index archive: %s", path, archive_error_string(a));
        goto out;
    }
    if (!*index) {
        mk_fail(err, "%s: no index.plist in the repository index archive", path);
        goto out;
    }
    rc = 0;
out:
    archive_read_free(a);
    if (rc < 0) {
        free(*index);
        free(*meta);
        *index = *meta = NULL;
    }
    return rc;
}
