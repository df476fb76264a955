#include "customize.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TEXT_MAX (1024 * 1024) /* /etc/shadow, /etc/fstab: small files */

/* ---- pure text transforms ---- */

/* Appends n bytes to a growing buffer; returns false when out of memory. */
static bool append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t nc = (*len + n + 1) * 2;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return false;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
    return true;
}

char *shadow_lock_root(const char *text, size_t len, int *found)
{
    char *out = NULL;
    size_t olen = 0, cap = 0;
    *found = 0;
    if (!append(&out, &olen, &cap, "", 0))
        return NULL;
    size_t i = 0;
    while (i < len) {
        const char *line = text + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t)(nl - line) : len - i;
        bool ok = true;
        if (!*found && n >= 5 && !memcmp(line, "root:", 5)) {
            /* root:PASSWORD:rest -> root:!:rest */
            const char *f2 = line + 5;
            const char *end = memchr(f2, ':', n - 5);
            *found = 1;
            ok = append(&out, &olen, &cap, "root:!", 6) &&
                 (!end || append(&out, &olen, &cap, end, (size_t)(line + n - end)));
        } else {
            ok = append(&out, &olen, &cap, line, n);
        }
        if (ok && nl)
            ok = append(&out, &olen, &cap, "\n", 1);
        if (!ok) {
            free(out);
            return NULL;
        }
        i += n + (nl ? 1 : 0);
    }
    return out;
}

/* The second whitespace-separated field of an fstab line is its mount point. */
static bool fstab_line_mounts_root(const char *line, size_t n)
{
    size_t i = 0;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == n || line[i] == '#')
        return false;
    while (i < n && line[i] != ' ' && line[i] != '\t')
        i++;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i < n && line[i] == '/' && (i + 1 == n || line[i + 1] == ' ' || line[i + 1] == '\t');
}

char *fstab_with_root(const char *text, size_t len, const char *fs)
{
    char *out = NULL;
    size_t olen = 0, cap = 0;
    char root[128];
    /* Pass 0: the initramfs already mounted the root read-write; nothing to fsck. */
    int rn = snprintf(root, sizeof root, "/dev/vda\t/\t%s\tdefaults\t0 0\n", fs);
    if (rn < 0 || (size_t)rn >= sizeof root)
        return NULL;
    if (!append(&out, &olen, &cap, "", 0))
        return NULL;
    size_t i = 0;
    bool ok = true;
    while (ok && i < len) {
        const char *line = text + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t)(nl - line) : len - i;
        if (!fstab_line_mounts_root(line, n))
            ok = append(&out, &olen, &cap, line, n) && append(&out, &olen, &cap, "\n", 1);
        i += n + (nl ? 1 : 0);
    }
    if (ok)
        ok = append(&out, &olen, &cap, "# root: the VM's first virtio disk (written by mkimage)\n",
                    56) &&
             append(&out, &olen, &cap, root, (size_t)rn);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---- steps ---- */

int customize_hostname(tree *t, const char *hostname, mk_err *err)
{
    char buf[80];
    int n = snprintf(buf, sizeof buf, "%s\n", hostname);
    return tree_write(t, "/etc/hostname", buf, (size_t)n, 0644, 0, 0, err);
}

int customize_fstab(tree *t, const char *fs, mk_err *err)
{
    char *old;
    size_t len;
    int r = tree_read(t, "/etc/fstab", TEXT_MAX, &old, &len, err);
    if (r < 0)
        return -1;
    char *text = fstab_with_root(old ? old : "", old ? len : 0, fs);
    free(old);
    if (!text)
        return mk_fail(err, "/etc/fstab: out of memory");
    int rc = tree_write(t, "/etc/fstab", text, strlen(text), 0644, 0, 0, err);
    free(text);
    return rc;
}

/* Locks root in /etc/shadow (Void, Debian); in /etc/passwd when there is no shadow
 * file (a bare busybox tree). The file keeps its owner and mode (Debian: root:shadow
 * 0640). */
int customize_lock_root(tree *t, mk_err *err)
{
    static const char *const files[] = {"/etc/shadow", "/etc/passwd"};
    for (size_t i = 0; i < 2; i++) {
        char *old;
        size_t len;
        int r = tree_read(t, files[i], TEXT_MAX, &old, &len, err);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        int found = 0;
        char *text = shadow_lock_root(old, len, &found);
        free(old);
        if (!text)
            return mk_fail(err, "%s: out of memory", files[i]);
        if (!found) {
            free(text);
            continue;
        }
        struct stat st;
        if (tree_lstat(t, files[i], &st) < 0) {
            free(text);
            return mk_fail_errno(err, errno, "%s: cannot stat in image", files[i]);
        }
        int rc = tree_write(t, files[i], text, strlen(text), st.st_mode & 07777, st.st_uid,
                            st.st_gid, err);
        free(text);
        return rc;
    }
    return mk_fail(err, "root account: not found in /etc/shadow or /etc/passwd of the image");
}

int customize_enable_service(tree *t, const char *name, mk_err *err)
{
    char sv[PATH_MAX], run[PATH_MAX], link[PATH_MAX];
    snprintf(sv, sizeof sv, "/etc/sv/%s", name);
    snprintf(run, sizeof run, "/etc/sv/%s/run", name);
    snprintf(link, sizeof link, RUNSVDIR_DEFAULT "/%s", name);
    struct stat st;
    if (tree_lstat(t, sv, &st) < 0 || !S_ISDIR(st.st_mode) || tree_lstat(t, run, &st) < 0)
        return mk_fail(err, "service %s: %s not found in the image", name, run);
    if (tree_symlink(t, link, sv, err) < 0)
        return -1;
    /* Void points runsvdir/current at the default runlevel; a tree without runit's
     * directories gets the same layout. */
    if (tree_lstat(t, "/etc/runit/runsvdir/current", &st) < 0 &&
        tree_symlink(t, "/etc/runit/runsvdir/current", "default", err) < 0)
        return -1;
    return 0;
}

int customize_getty(tree *t, const char *tty, unsigned baud, mk_err *err)
{
    char name[64], run[PATH_MAX];
    snprintf(name, sizeof name, "agetty-%s", tty);
    snprintf(run, sizeof run, "/etc/sv/%s/run", name);
    struct stat st;
    if (tree_lstat(t, run, &st) < 0) {
        /* No Void service for this tty: one that adapts to the image's userland. */
        char script[1024];
        int n = snprintf(script, sizeof script,
                         "#!/bin/sh\n"
                         "# Serial console login on %s (written by mkimage): util-linux agetty\n"
                         "# where the image has it, busybox getty otherwise.\n"
                         "for g in /sbin/agetty /usr/sbin/agetty /usr/bin/agetty; do\n"
                         "\t[ -x \"$g\" ] && exec \"$g\" -L %s %u vt100\n"
                         "done\n"
                         "exec busybox getty -L %u %s vt100\n",
                         tty, tty, baud, baud, tty);
        if (tree_write(t, run, script, (size_t)n, 0755, 0, 0, err) < 0)
            return -1;
    }
    return customize_enable_service(t, name, err);
}

static int install_one(tree *t, const char *base_dir, const char *spec, mk_err *err)
{
    char src[PATH_MAX], dest[PATH_MAX], full[PATH_MAX * 2];
    unsigned mode;
    if (install_spec_parse(spec, src, sizeof src, dest, sizeof dest, &mode, err) < 0)
        return -1;
    if (base_dir)
        snprintf(full, sizeof full, "%s/%s", base_dir, src);
    else
        snprintf(full, sizeof full, "%s", src);
    return tree_install(t, full, dest, (mode_t)mode, err);
}

int customize_tree(const char *root, const customize_opts *o, changelog *log, mk_err *err)
{
    const variant *v = o->v;
    tree t;
    if (tree_open(&t, root, o->epoch, log, err) < 0)
        return -1;
    int rc = -1;
    for (size_t i = 0; i < v->install.n; i++)
        if (install_one(&t, o->variants_dir, v->install.v[i], err) < 0)
            goto out;
    for (size_t i = 0; i < o->n_installs; i++)
        if (install_one(&t, NULL, o->installs[i], err) < 0)
            goto out;
    if (o->bridge) {
        char run[PATH_MAX * 2];
        snprintf(run, sizeof run, "%s/files/sv/revm-bridge/run", o->variants_dir);
        if (tree_install(&t, o->bridge, GUESTD_IMAGE_PATH, 0755, err) < 0 ||
            tree_install(&t, run, "/etc/sv/revm-bridge/run", 0755, err) < 0 ||
            customize_enable_service(&t, "revm-bridge", err) < 0)
            goto out;
    }
    if (customize_hostname(&t, v->hostname, err) < 0 || customize_fstab(&t, o->fs, err) < 0)
        goto out;
    if (v->lock_root && customize_lock_root(&t, err) < 0)
        goto out;
    if (v->console_tty[0] && customize_getty(&t, v->console_tty, v->console_baud, err) < 0)
        goto out;
    for (size_t i = 0; i < v->enable.n; i++)
        if (customize_enable_service(&t, v->enable.v[i], err) < 0)
            goto out;
    rc = 0;
out:
    tree_close(&t);
    return rc;
}
