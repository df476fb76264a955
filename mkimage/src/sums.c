#include "sums.h"

#include <stdbool.h>
#include <string.h>

#include "checksum.h"

typedef struct span {
    const char *p;
    size_t n;
} span;

/* True when s starts with 64 hex digits; copies them (lowercased) to hex. */
static bool take_hex64(span s, char hex[65])
{
    if (s.n < SHA256_HEX_LEN)
        return false;
    char tmp[65];
    memcpy(tmp, s.p, SHA256_HEX_LEN);
    tmp[SHA256_HEX_LEN] = 0;
    return sha256_hex_normalize(tmp, hex);
}

static span trim_right(span s)
{
    while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t' || s.p[s.n - 1] == '\r'))
        s.n--;
    return s;
}

/* Compares an entry name to filename, also accepting a "./" prefix. When escaped
 * (GNU lines starting with '\'), "\\" stands for '\' and "\n" for a newline. */
static bool name_matches(span name, bool escaped, const char *filename)
{
    if (name.n >= 2 && name.p[0] == '.' && name.p[1] == '/') {
        name.p += 2;
        name.n -= 2;
    }
    size_t i = 0, j = 0, flen = strlen(filename);
    while (i < name.n) {
        char c = name.p[i++];
        if (escaped && c == '\\') {
            if (i >= name.n)
                return false;
            char e = name.p[i++];
            c = e == 'n' ? '\n' : e == '\\' ? '\\' : 0;
            if (!c)
                return false;
        }
        if (j >= flen || filename[j] != c)
            return false;
        j++;
    }
    return j == flen;
}

/* "SHA256 (NAME) = HEX" or "SHA256(NAME)= HEX". The name may itself contain ") = ",
 * so the digest is taken from the END of the line. */
static bool parse_bsd(span line, span *name, char hex[65])
{
    static const char tag[] = "SHA256";
    if (line.n < sizeof tag - 1 || memcmp(line.p, tag, sizeof tag - 1) != 0)
        return false;
    size_t i = sizeof tag - 1;
    if (i < line.n && line.p[i] == ' ')
        i++;
    if (i >= line.n || line.p[i] != '(')
        return false;
    size_t name_start = ++i;
    if (line.n < name_start + SHA256_HEX_LEN + 2)
        return false;
    size_t hex_at = line.n - SHA256_HEX_LEN;
    if (!take_hex64((span){line.p + hex_at, SHA256_HEX_LEN}, hex))
        return false;
    size_t k = hex_at;
    if (k > name_start && line.p[k - 1] == ' ')
        k--;
    if (k <= name_start || line.p[k - 1] != '=')
        return false;
    k--;
    if (k > name_start && line.p[k - 1] == ' ')
        k--;
    if (k <= name_start || line.p[k - 1] != ')')
        return false;
    k--;
    if (k == name_start)
        return false; /* empty name */
    *name = (span){line.p + name_start, k - name_start};
    return true;
}

/* "HEX  NAME" (text mode) or "HEX *NAME" (binary mode); "\HEX  NAME" when escaped. */
static bool parse_gnu(span line, span *name, bool *escaped, char hex[65])
{
    *escaped = line.n > 0 && line.p[0] == '\\';
    if (*escaped) {
        line.p++;
        line.n--;
    }
    if (!take_hex64(line, hex))
        return false;
    if (line.n < SHA256_HEX_LEN + 3 || line.p[SHA256_HEX_LEN] != ' ' ||
        (line.p[SHA256_HEX_LEN + 1] != ' ' && line.p[SHA256_HEX_LEN + 1] != '*'))
        return false;
    *name = (span){line.p + SHA256_HEX_LEN + 2, line.n - SHA256_HEX_LEN - 2};
    return true;
}

int sums_lookup(const char *text, size_t len, const char *filename, char sha256_hex[65],
                mk_err *err)
{
    bool found = false;
    char best[65] = "";
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        span line = trim_right((span){text + pos, end - pos});
        pos = end + 1;

        span name;
        bool escaped = false;
        char hex[65];
        if (!parse_bsd(line, &name, hex) && !parse_gnu(line, &name, &escaped, hex))
            continue;
        if (!name_matches(name, escaped, filename))
            continue;
        if (found && strcmp(best, hex) != 0)
            return mk_fail(err, "%s: conflicting SHA-256 entries in the checksum list",
                           filename);
        memcpy(best, hex, sizeof best);
        found = true;
    }
    if (!found)
        return mk_fail(err, "%s: no SHA-256 entry in the checksum list", filename);
    memcpy(sha256_hex, best, sizeof best);
    return 0;
}
