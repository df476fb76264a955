#include "fetch_url.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "checksum.h"

/* Length of "scheme" when url starts with "scheme://", else 0 (a plain path). */
static size_t scheme_len(const char *url)
{
    if (!isalpha((unsigned char)url[0]))
        return 0;
    size_t i = 1;
    while (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.')
        i++;
    return strncmp(url + i, "://", 3) == 0 ? i : 0;
}

/* Percent-decodes src[0..n) into out; refuses encoded NULs and overlong results. */
static bool pct_decode(const char *src, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= n)
                return false;
            int a = hex_digit_value(src[i + 1]);
            int b = hex_digit_value(src[i + 2]);
            if (a < 0 || b < 0 || (a == 0 && b == 0))
                return false;
            c = (char)(a * 16 + b);
            i += 2;
        }
        if (o + 1 >= size)
            return false;
        out[o++] = c;
    }
    out[o] = 0;
    return true;
}

int url_classify(const char *url, bool *remote, char path[PATH_MAX], mk_err *err)
{
    if (!url || !*url)
        return mk_fail(err, "rootfs: empty URL or path");
    size_t sl = scheme_len(url);
    if (sl == 0) {
        if (strlen(url) >= PATH_MAX)
            return mk_fail(err, "%.200s...: path too long", url);
        strcpy(path, url);
        *remote = false;
        return 0;
    }
    if ((sl == 4 && strncasecmp(url, "http", 4) == 0) ||
        (sl == 5 && strncasecmp(url, "https", 5) == 0)) {
        *remote = true;
        return 0;
    }
    if (sl == 4 && strncasecmp(url, "file", 4) == 0) {
        const char *rest = url + 7;
        if (strncasecmp(rest, "localhost/", 10) == 0)
            rest += 9;
        if (rest[0] != '/')
            return mk_fail(err, "%s: file URLs must name a local absolute path", url);
        if (!pct_decode(rest, strlen(rest), path, PATH_MAX))
            return mk_fail(err, "%s: bad file URL", url);
        *remote = false;
        return 0;
    }
    return mk_fail(err, "%s: unsupported URL scheme (use http, https, file or a path)", url);
}

int url_filename(const char *url, char *out, size_t size, mk_err *err)
{
    bool remote;
    char path[PATH_MAX];
    if (url_classify(url, &remote, path, err) < 0)
        return -1;
    if (!remote) {
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        if (!*base || strlen(base) >= size)
            return mk_fail(err, "%s: cannot tell the file name", url);
        strcpy(out, base);
        return 0;
    }
    const char *p = strstr(url, "://") + 3;
    p += strcspn(p, "/?#"); /* skip the authority */
    size_t n = strcspn(p, "?#");
    const char *seg = p;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '/')
            seg = p + i + 1;
    size_t seg_len = (size_t)(p + n - seg);
    if (seg_len == 0 || !pct_decode(seg, seg_len, out, size) || strchr(out, '/') ||
        strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
        return mk_fail(err, "%s: cannot tell the file name", url);
    return 0;
}
