/* Fuzzes the tar entry rules (tarpath.h). The input is a script of lines:
 *   n<path>            normalize a path
 *   l<path>\t<target>  record a symlink (path normalized first), word its escape
 *   r<path>            forget a symlink
 *   t<path>            does path go through a recorded symlink?
 * Invariants checked: a normalized path is relative, has no "", "." or ".."
 * component, fits TARPATH_MAX, and normalizing it again changes nothing; the
 * symlink set answers consistently with what was added and removed; quoting any
 * path for a message gives one printable line that fits its buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tarpath.h"

static void check_normal(const char *p)
{
    size_t n = strlen(p);
    if (n > TARPATH_MAX || (n && (p[0] == '/' || p[n - 1] == '/')) || strstr(p, "//"))
        abort();
    for (const char *c = p; *c;) {
        const char *e = strchr(c, '/');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.') || len > 255)
            abort();
        c += len;
        if (*c == '/')
            c++;
    }
    char again[TARPATH_MAX + 1];
    if (n && (tarpath_normalize(p, again, sizeof again) != TARPATH_OK || strcmp(again, p) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';

    tarpath_links set;
    tarpath_links_init(&set);
    char norm[TARPATH_MAX + 1], prefix[TARPATH_MAX + 1];
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char op = line[0];
        char *arg = line[0] ? line + 1 : line;
        char *target = NULL;
        if (op == 'l') {
            target = strchr(arg, '\t');
            if (target)
                *target++ = '\0';
        }
        char q[64];
        tarpath_quote(arg, q, sizeof q);
        if (strlen(q) >= sizeof q)
            abort();
        for (const char *c = q; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '"')
                abort();
        tarpath_status s = tarpath_normalize(arg, norm, sizeof norm);
        if (tarpath_reason(s) == NULL)
            abort();
        if (s != TARPATH_OK) {
            if (norm[0])
                abort();
            continue;
        }
        check_normal(norm);
        switch (op) {
        case 'l':
            if (!norm[0])
                break;
            (void)tarpath_symlink_escapes(norm, target ? target : "");
            if (tarpath_links_add(&set, norm) == 0 && !tarpath_links_has(&set, norm))
                abort();
            break;
        case 'r':
            tarpath_links_remove(&set, norm);
            if (tarpath_links_has(&set, norm))
                abort();
            break;
        case 't':
            if (tarpath_links_through(&set, norm, prefix, sizeof prefix)) {
                size_t k = strlen(prefix);
                if (!tarpath_links_has(&set, prefix) || strncmp(norm, prefix, k) != 0 ||
                    norm[k] != '/')
                    abort();
            }
            break;
        default:
            break;
        }
    }
    tarpath_links_free(&set);
    free(buf);
    return 0;
}
