#include "launcher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_file.h"

/* Writes data to dir/name through a temporary name in the same directory, then renames, so a
 * launcher scanning the folder never sees half an entry. */
static int write_atomic(const char *dir, const char *name, const void *data, size_t len,
                        mode_t mode, char *err, size_t errlen)
{
    char dst[PATH_MAX];
    if (snprintf(dst, sizeof dst, "%s/%s", dir, name) >= (int)sizeof dst) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    if (cm_write_atomic(dst, data, len, mode) < 0) {
        snprintf(err, errlen, "%s: %s", dst, strerror(errno));
        return -1;
    }
    return 0;
}

static bool ensure_dir(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return true;
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return false;
}

size_t sup_launcher_quote_exec_arg(const char *arg, char *out, size_t cap)
{
    /* Exec quoting (spec: "The Exec key"): inside double quotes, " ` $ \ take a backslash.
     * The value is then a desktop "string", whose own escaping doubles every backslash. A
     * literal % must be written %% so it is not a field code. */
    size_t k = 0;
#define PUT(c) do { if (k + 1 >= cap) return 0; out[k++] = (c); } while (0)
    PUT('"');
    for (const char *s = arg; *s; s++) {
        char c = *s;
        if (c == '\n' || c == '\r' || c == '\t')
            c = ' '; /* cannot appear in a one-line value */
        if (c == '"' || c == '`' || c == '$' || c == '\\') {
            PUT('\\');
            PUT('\\');
            if (c == '\\') {
                PUT('\\');
                PUT('\\');
                continue;
            }
        }
        if (c == '%')
            PUT('%');
        PUT(c);
    }
    PUT('"');
#undef PUT
    out[k] = 0;
    return k;
}

/* Copies s into out with characters that would break a one-line key=value record replaced. */
static void one_line(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    for (; *s && k + 1 < cap; s++)
        out[k++] = (*s == '\n' || *s == '\r' || (unsigned char)*s < 0x20) ? ' ' : *s;
    out[k] = 0;
}

/* Categories the guest claims are kept only when made of letters, digits and '-'. */
static void safe_categories(const char *in, const char *vm, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = 0;
    for (const char *s = in; *s;) {
        size_t len = strcspn(s, ";");
        bool ok = len > 0 && len < 48;
        for (size_t i = 0; ok && i < len; i++) {
            char c = s[i];
            ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        }
        if (ok && k + len + 2 < cap) {
            memcpy(out + k, s, len);
            k += len;
            out[k++] = ';';
            out[k] = 0;
        }
        s += len + (s[len] == ';');
    }
    snprintf(out + k, cap - k, "X-revm-%s;", vm);
}

int sup_launcher_write(const sup_launcher *l, const char *vm, const char *desktop_id,
                       const desktop_entry *e, const uint8_t *icon, size_t icon_len,
                       const char *icon_ext, char *err, size_t errlen)
{
    char id[96], base[160], icons[2100], icon_path[2400] = "";
    if (!desktop_safe_id(desktop_id, id, sizeof id)) {
        snprintf(err, errlen, "application id '%.60s' has no usable characters", desktop_id);
        return -1;
    }
    snprintf(base, sizeof base, "revm-%s-%s", vm, id);
    if (!ensure_dir(l->dir, err, errlen))
        return -1;
    if (icon && icon_len) {
        if (icon_len > SUP_ICON_MAX_BYTES || !icon_ext ||
            (strcmp(icon_ext, "png") && strcmp(icon_ext, "svg"))) {
            snprintf(err, errlen, "%s: icon refused (over 1 MiB or not png/svg)", desktop_id);
            return -1;
        }
        char name[200];
        snprintf(icons, sizeof icons, "%s/icons", l->dir);
        snprintf(name, sizeof name, "%s.%s", base, icon_ext);
        if (!ensure_dir(icons, err, errlen) ||
            write_atomic(icons, name, icon, icon_len, 0644, err, errlen) < 0)
            return -1;
        snprintf(icon_path, sizeof icon_path, "%s/%s", icons, name);
    }
    char name[DESKTOP_FIELD_MAX + 64], visible[DESKTOP_FIELD_MAX], cats[DESKTOP_FIELD_MAX + 64];
    one_line(e->name, visible, sizeof visible);
    snprintf(name, sizeof name, "%s (%s VM)", visible, vm);
    safe_categories(e->categories, vm, cats, sizeof cats);
    char *text = malloc(64 * 1024);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t cap = 64 * 1024, n = 0;
    int rc = -1;
    if (l->format == SUP_LAUNCHER_XDG) {
        char q[8192];
        n += (size_t)snprintf(text + n, cap - n,
                              "[Desktop Entry]\nType=Application\nVersion=1.0\nName=%s\n", name);
        if (e->comment[0]) {
            char c[DESKTOP_FIELD_MAX];
            one_line(e->comment, c, sizeof c);
            n += (size_t)snprintf(text + n, cap - n, "Comment=%s\n", c);
        }
        sup_launcher_quote_exec_arg(l->revm, q, sizeof q);
        /* A graphical program's windows need the host back end: `revm gui` shows them
         * (PROTOCOL.md, Window service); a terminal program runs as any `revm PROGRAM`. */
        n += (size_t)snprintf(text + n, cap - n, "Exec=%s --vm %s%s --", q, vm,
                              e->terminal ? "" : " gui");
        for (size_t i = 0; i < e->exec_argc; i++) {
            if (!sup_launcher_quote_exec_arg(e->exec_argv[i], q, sizeof q) || n + strlen(q) + 2 >= cap) {
                snprintf(err, errlen, "%s: Exec too long", desktop_id);
                goto out;
            }
            n += (size_t)snprintf(text + n, cap - n, " %s", q);
        }
        n += (size_t)snprintf(text + n, cap - n, "\nTerminal=%s\nCategories=%s\n",
                              e->terminal ? "true" : "false", cats);
        if (icon_path[0])
            n += (size_t)snprintf(text + n, cap - n, "Icon=%s\n", icon_path);
        char file[200];
        snprintf(file, sizeof file, "%s.desktop", base);
        rc = write_atomic(l->dir, file, text, n, 0644, err, errlen);
    } else {
        /* Redox manifest: no arguments, so binary is a per-entry symlink to revm that finds
         * its argv (NUL-separated) in the .argv file beside it. */
        char bin[2100], link[2400], argvf[200];
        snprintf(bin, sizeof bin, "%s/bin", l->dir);
        if (!ensure_dir(bin, err, errlen))
            goto out;
        size_t an = 0;
        char *argv_text = text + cap / 2;
        const char *fixed[] = {e->terminal ? "-t" : "-T", "--vm", vm, "--"};
        for (size_t i = 0; i < 4 + e->exec_argc; i++) {
            const char *a = i < 4 ? fixed[i] : e->exec_argv[i - 4];
            size_t al = strlen(a) + 1;
            if (an + al >= cap / 2) {
                snprintf(err, errlen, "%s: Exec too long", desktop_id);
                goto out;
            }
            memcpy(argv_text + an, a, al);
            an += al;
        }
        snprintf(argvf, sizeof argvf, "%s.argv", base);
        if (write_atomic(bin, argvf, argv_text, an, 0644, err, errlen) < 0)
            goto out;
        snprintf(link, sizeof link, "%s/%s", bin, base);
        unlink(link);
        if (symlink(l->revm, link) < 0) {
            snprintf(err, errlen, "%s: %s", link, strerror(errno));
            goto out;
        }
        n += (size_t)snprintf(text + n, cap - n, "name=%s\nbinary=%s\ncategory=%s\n", name, link, cats);
        if (icon_path[0])
            n += (size_t)snprintf(text + n, cap - n, "icon=%s\n", icon_path);
        rc = write_atomic(l->dir, base, text, n, 0644, err, errlen);
    }
out:
    free(text);
    return rc;
}

static void remove_base(const sup_launcher *l, const char *base)
{
    char p[PATH_MAX];
    static const char *fmt[] = {"%s/%s.desktop", "%s/%s", "%s/icons/%s.png", "%s/icons/%s.svg",
                                "%s/bin/%s", "%s/bin/%s.argv"};
    for (size_t i = 0; i < sizeof fmt / sizeof *fmt; i++) {
        snprintf(p, sizeof p, fmt[i], l->dir, base);
        unlink(p);
    }
}

void sup_launcher_remove(const sup_launcher *l, const char *vm, const char *desktop_id)
{
    char id[96], base[160];
    if (!desktop_safe_id(desktop_id, id, sizeof id))
        return;
    snprintf(base, sizeof base, "revm-%s-%s", vm, id);
    remove_base(l, base);
}

void sup_launcher_clear_vm(const sup_launcher *l, const char *vm)
{
    char prefix[64];
    int pn = snprintf(prefix, sizeof prefix, "revm-%s-", vm);
    DIR *d = opendir(l->dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, prefix, (size_t)pn))
            continue;
        char base[256];
        snprintf(base, sizeof base, "%s", de->d_name);
        size_t bl = strlen(base);
        if (bl > 8 && !strcmp(base + bl - 8, ".desktop"))
            base[bl - 8] = 0;
        remove_base(l, base);
    }
    closedir(d);
}
