#include "kernel.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_io.h"
#include "outfile.h"
#include "progress.h"
#include "tarpath.h"

/* Bounds for untrusted packages: a kernel image or module is a few MB; refuse
 * anything that would fill the disk or hang us on a crafted archive. */
#define MAX_ENTRY_BYTES (512ull << 20)
#define MAX_TOTAL_BYTES (16ull << 30)
#define MAX_ENTRIES 500000ull

/* snprintf that reports truncation, so a too-long path is an error, not a cut. */
static bool fmt_ok(int n, size_t size)
{
    return n >= 0 && (size_t)n < size;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---------- locating the kernel in a tree ---------- */

static int modules_dir_for(const char *root, const char *ver, char *out, size_t outsz)
{
    static const char *const bases[] = {"lib/modules", "usr/lib/modules"};
    for (size_t i = 0; i < 2; i++) {
        int n = snprintf(out, outsz, "%s/%s/%s", root, bases[i], ver);
        if (n > 0 && (size_t)n < outsz && is_dir(out))
            return 0;
    }
    return -1;
}

int kernel_find_in_tree(const char *root, const char *label, kernel_tree *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    if (strlen(root) >= sizeof out->root)
        return mk_fail(err, "%s: path too long", label);
    char boot[PATH_MAX];
    if (!fmt_ok(snprintf(boot, sizeof boot, "%s/boot", root), sizeof boot))
        return mk_fail(err, "%s: path too long", label);
    DIR *d = opendir(boot);
    char best[sizeof out->version] = "";
    bool saw_image = false;
    char lonely[sizeof out->version] = ""; /* an image without modules, for the error */
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (strncmp(de->d_name, "vmlinuz-", 8) != 0)
                continue;
            const char *ver = de->d_name + 8;
            if (!*ver || strlen(ver) >= sizeof best || strchr(ver, '/'))
                continue;
            char img[PATH_MAX], mods[PATH_MAX];
            if (!fmt_ok(snprintf(img, sizeof img, "%s/%s", boot, de->d_name), sizeof img) ||
                !is_file(img))
                continue;
            saw_image = true;
            if (modules_dir_for(root, ver, mods, sizeof mods) < 0) {
                snprintf(lonely, sizeof lonely, "%s", ver);
                continue;
            }
            if (!best[0] || strverscmp(ver, best) > 0)
                snprintf(best, sizeof best, "%s", ver);
        }
        closedir(d);
    }
    if (!best[0]) {
        if (saw_image && lonely[0])
            return mk_fail(err, "%s: kernel %s has no module directory lib/modules/%s", label,
                           lonely, lonely);
        return mk_fail(err, "%s: no kernel found (expected boot/vmlinuz-VERSION and "
                            "lib/modules/VERSION)", label);
    }
    strcpy(out->root, root);
    strcpy(out->version, best);
    if (!fmt_ok(snprintf(out->vmlinuz, sizeof out->vmlinuz, "%s/vmlinuz-%s", boot, best),
                sizeof out->vmlinuz))
        return mk_fail(err, "%s: path too long", label);
    if (modules_dir_for(root, best, out->modules_dir, sizeof out->modules_dir) < 0)
        return mk_fail(err, "%s: module directory for %s vanished", label, best);
    return 0;
}

/* ---------- extracting a package ---------- */

const char *kernel_pkg_path_ok(const char *path)
{
    if (!path)
        return NULL;
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    size_t len = strlen(path);
    if (len == 0 || len >= PATH_MAX - 64 || path[0] == '/')
        return NULL;
    const char *c = path;
    while (*c) {
        const char *e = strchr(c, '/');
        size_t cl = e ? (size_t)(e - c) : strlen(c);
        /* A trailing "/" (directories in tar) is fine; "//", "." and ".." are not. */
        if ((cl == 0 && e) || (cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.'))
            return NULL;
        if (cl > NAME_MAX)
            return NULL;
        if (!e)
            break;
        c = e + 1;
    }
    return path;
}

/* Only what the image needs: the kernel image, its config, and the module tree. */
static bool wanted(const char *p)
{
    if (strncmp(p, "boot/vmlinuz-", 13) == 0 || strncmp(p, "boot/config-", 12) == 0)
        return strchr(p + 5, '/') == NULL;
    return strncmp(p, "lib/modules/", 12) == 0 || strncmp(p, "usr/lib/modules/", 16) == 0;
}

struct pkg_ctx {
    const char *label;  /* the package, for messages */
    int root_fd;        /* destination directory */
    uint64_t entries, bytes;
    progress prog;
    struct archive *outer;
    char q[256]; /* the current entry's name, quoted for messages */
};

/* Opens (creating as needed) the directory `rel` below root_fd, one component at a
 * time with O_NOFOLLOW: nothing here is a symlink we created, and nothing we do
 * ever follows one. rel is modified temporarily. */
static int open_dirs(struct pkg_ctx *c, char *rel, mk_err *err)
{
    int fd = dup(c->root_fd);
    if (fd < 0)
        return mk_fail_errno(err, errno, "%s: dup", c->label);
    char *s = rel;
    while (*s) {
        char *e = strchr(s, '/');
        if (e)
            *e = '\0';
        if (*s) {
            if (mkdirat(fd, s, 0755) < 0 && errno != EEXIST) {
                int en = errno;
                close(fd);
                if (e)
                    *e = '/';
                return mk_fail_errno(err, en, "%s: mkdir %s", c->label,
                                     tarpath_quote(rel, c->q, sizeof c->q));
            }
            int nfd = openat(fd, s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int en = errno;
            close(fd);
            if (nfd < 0) {
                if (e)
                    *e = '/';
                return mk_fail_errno(err, en, "%s: open directory %s", c->label,
                                     tarpath_quote(rel, c->q, sizeof c->q));
            }
            fd = nfd;
        }
        if (!e)
            break;
        *e = '/';
        s = e + 1;
    }
    return fd;
}

static int write_entry_file(struct pkg_ctx *c, struct archive *a, const char *path,
                            int64_t size, mk_err *err)
{
    const char *qp = tarpath_quote(path, c->q, sizeof c->q);
    if (size < 0 || (uint64_t)size > MAX_ENTRY_BYTES)
        return mk_fail(err, "%s: %s: entry too large", c->label, qp);
    if (c->bytes + (uint64_t)size > MAX_TOTAL_BYTES)
        return mk_fail(err, "%s: module tree larger than %llu GiB", c->label,
                       (unsigned long long)(MAX_TOTAL_BYTES >> 30));
    char dir[PATH_MAX];
    const char *base;
    if (!outfile_split_parent(path, dir, &base))
        return mk_fail(err, "%s: %s: path too long", c->label, qp);
    int dfd = open_dirs(c, dir, err);
    if (dfd < 0)
        return -1;
    int fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    int en = errno;
    close(dfd);
    if (fd < 0) {
        if (en == EEXIST)
            return mk_fail(err, "%s: %s: duplicate entry", c->label, qp);
        return mk_fail_errno(err, en, "%s: create %s", c->label, qp);
    }
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            close(fd);
            return mk_fail(err, "%s: %s: %s", c->label, qp, archive_error_string(a));
        }
        if (off < 0 || (uint64_t)off + len > (uint64_t)size) {
            close(fd);
            return mk_fail(err, "%s: %s: data beyond its declared size", c->label, qp);
        }
        if (cm_pwrite_all(fd, buf, len, (off_t)off) < 0) {
            en = errno;
            close(fd);
            return mk_fail_errno(err, en, "%s: write %s", c->label, qp);
        }
    }
    /* Sparse entries leave holes; make the length exactly the declared size. */
    if (ftruncate(fd, size) < 0 || close(fd) < 0)
        return mk_fail_errno(err, errno, "%s: write %s", c->label, qp);
    c->bytes += (uint64_t)size;
    if (c->outer)
        progress_update(&c->prog, (uint64_t)archive_filter_bytes(c->outer, -1));
    return 0;
}

/* Handles one entry of the data archive; the header has already been read. */
static int take_entry(struct pkg_ctx *c, struct archive *a, struct archive_entry *e, mk_err *err)
{
    if (++c->entries > MAX_ENTRIES)
        return mk_fail(err, "%s: too many entries", c->label);
    const char *raw = archive_entry_pathname(e);
    if (raw && (strcmp(raw, ".") == 0 || strcmp(raw, "./") == 0))
        return 0;
    const char *p = kernel_pkg_path_ok(raw);
    if (!p)
        return mk_fail(err, "%s: unsafe entry path \"%s\"", c->label,
                       tarpath_quote(raw, c->q, sizeof c->q));
    if (!wanted(p))
        return 0;
    /* Only plain files and directories: the build/ and source/ symlinks in module
     * trees point at headers we don't need, and never creating a link means no
     * later entry can be redirected through one. */
    if (archive_entry_hardlink(e))
        return 0;
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFDIR) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof rel, "%s", p);
        int fd = open_dirs(c, rel, err);
        if (fd < 0)
            return -1;
        close(fd);
        return 0;
    }
    if (type != AE_IFREG)
        return 0;
    return write_entry_file(c, a, p, archive_entry_size(e), err);
}

static int take_all(struct pkg_ctx *c, struct archive *a, struct archive_entry *first,
                    mk_err *err)
{
    struct archive_entry *e = first;
    for (;;) {
        if (!e) {
            int r = archive_read_next_header(a, &e);
            if (r == ARCHIVE_EOF)
                return 0;
            if (r < ARCHIVE_WARN)
                return mk_fail(err, "%s: %s", c->label, archive_error_string(a));
        }
        if (take_entry(c, a, e, err) < 0)
            return -1;
        e = NULL;
    }
}

/* The .deb's data.tar.* is read straight out of the ar member: libarchive pulls
 * from the outer archive through this callback, so nothing is staged on disk. */
struct nested {
    struct archive *outer;
    char buf[65536];
};

static la_ssize_t nested_read(struct archive *inner, void *ud, const void **out)
{
    struct nested *n = ud;
    la_ssize_t r = archive_read_data(n->outer, n->buf, sizeof n->buf);
    if (r < 0)
        archive_set_error(inner, EIO, "%s", archive_error_string(n->outer));
    *out = n->buf;
    return r;
}

static int extract_deb_member(struct pkg_ctx *c, struct archive *outer, mk_err *err)
{
    struct nested *n = malloc(sizeof *n);
    struct archive *in = archive_read_new();
    if (!n || !in) {
        free(n);
        archive_read_free(in);
        return mk_fail(err, "%s: out of memory", c->label);
    }
    n->outer = outer;
    archive_read_support_format_tar(in);
    archive_read_support_filter_all(in);
    int rc = -1;
    if (archive_read_open(in, n, NULL, nested_read, NULL) != ARCHIVE_OK)
        mk_fail(err, "%s: data.tar: %s", c->label, archive_error_string(in));
    else if (take_all(c, in, NULL, err) == 0)
        rc = 0;
    archive_read_free(in);
    free(n);
    return rc;
}

static int extract_package(const char *pkg, const char *dest, mk_err *err)
{
    struct pkg_ctx c = {.label = pkg, .root_fd = -1};
    c.root_fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c.root_fd < 0)
        return mk_fail_errno(err, errno, "%s", dest);
    struct archive *a = archive_read_new();
    if (!a) {
        close(c.root_fd);
        return mk_fail(err, "%s: out of memory", pkg);
    }
    archive_read_support_format_ar(a);
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    c.outer = a;
    struct stat st;
    progress_begin(&c.prog, "kernel", stat(pkg, &st) == 0 ? (uint64_t)st.st_size : 0);
    int rc = -1;
    struct archive_entry *e;
    if (archive_read_open_filename(a, pkg, 1 << 16) != ARCHIVE_OK) {
        mk_fail(err, "%s: %s", pkg, archive_error_string(a));
        goto out;
    }
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) {
        mk_fail(err, "%s: empty package", pkg);
        goto out;
    }
    if (r < ARCHIVE_WARN) {
        mk_fail(err, "%s: not a kernel package (.deb, .xbps or tar): %s", pkg,
                archive_error_string(a));
        goto out;
    }
    if ((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_AR) {
        bool found = false;
        do {
            if (r < ARCHIVE_WARN) {
                mk_fail(err, "%s: %s", pkg, archive_error_string(a));
                goto out;
            }
            const char *name = archive_entry_pathname(e);
            if (name && strncmp(name, "data.tar", 8) == 0) {
                if (extract_deb_member(&c, a, err) < 0)
                    goto out;
                found = true;
                break;
            }
        } while ((r = archive_read_next_header(a, &e)) != ARCHIVE_EOF);
        if (!found) {
            mk_fail(err, "%s: ar archive without data.tar member (not a .deb)", pkg);
            goto out;
        }
    } else if (take_all(&c, a, e, err) < 0) {
        goto out;
    }
    rc = 0;
out:
    progress_end(&c.prog);
    archive_read_free(a);
    close(c.root_fd);
    return rc;
}

int kernel_open(const char *src, const char *work_dir, kernel_tree *out, mk_err *err)
{
    struct stat st;
    if (stat(src, &st) < 0)
        return mk_fail_errno(err, errno, "kernel %s", src);
    if (S_ISDIR(st.st_mode))
        return kernel_find_in_tree(src, src, out, err);
    if (!S_ISREG(st.st_mode))
        return mk_fail(err, "kernel %s: neither a directory nor a package file", src);
    if (!work_dir || !*work_dir)
        return mk_fail(err, "kernel %s: no work directory to unpack into", src);
    char dest[PATH_MAX];
    int n = snprintf(dest, sizeof dest, "%s/kernel.XXXXXX", work_dir);
    if (n < 0 || (size_t)n >= sizeof dest - 64)
        return mk_fail(err, "%s: path too long", work_dir);
    if (!mkdtemp(dest))
        return mk_fail_errno(err, errno, "%s: create kernel directory", work_dir);
    if (extract_package(src, dest, err) < 0)
        return -1; /* the caller removes work_dir */
    return kernel_find_in_tree(dest, src, out, err);
}
