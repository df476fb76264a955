/* revm cp [-r] SRC... DST: copies files and trees between the host and a VM through the
 * filesystem service (volume "root" of the VM), keeping modes and times. VM:PATH names a path
 * in VM. Files arrive under a temporary name and are renamed into place, so an interrupted
 * copy never leaves a half-written file under the final name. Progress on a terminal. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../fs/fsc.h"
#include "fs_cmd.h"
#include "proto.h"
#include "rb_svc.h"

typedef struct cp_ctx {
    fsc *c;
    bool recursive, tty;
    uint8_t *buf;
    size_t bufsz;
    uint64_t bytes, files;
    struct timespec last;
    int errors;
    const char *vm;
} cp_ctx;

static void progress(cp_ctx *x, const char *name, bool force)
{
    if (!x->tty)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - x->last.tv_sec) * 1000 + (now.tv_nsec - x->last.tv_nsec) / 1000000;
    if (!force && ms < 100)
        return;
    x->last = now;
    fprintf(stderr, "\r\033[K%llu files, %.1f MiB  %.50s", (unsigned long long)x->files,
            (double)x->bytes / 1048576.0, name);
}

static void err_at(cp_ctx *x, const char *what, const char *path, int e)
{
    if (x->tty)
        fputc('\n', stderr);
    fprintf(stderr, "revm: cp: %s %s: %s\n", what, path, strerror(e));
    x->errors++;
}

/* "VM:PATH" -> vm, path; false for a host path. */
static bool split_remote(const char *arg, char *vm, size_t vmcap, const char **path)
{
    if (arg[0] == '/' || arg[0] == '.')
        return false;
    const char *colon = strchr(arg, ':'), *slash = strchr(arg, '/');
    if (!colon || (slash && slash < colon) || colon == arg || (size_t)(colon - arg) >= vmcap)
        return false;
    memcpy(vm, arg, (size_t)(colon - arg));
    vm[colon - arg] = 0;
    *path = colon + 1;
    return true;
}

static const char *base_of(const char *p, char *out, size_t cap)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    const char *s = p + n;
    while (s > p && s[-1] != '/')
        s--;
    snprintf(out, cap, "%.*s", (int)(p + n - s), s);
    if (!out[0] || !strcmp(out, "/"))
        snprintf(out, cap, "root");
    return out;
}

/* ---- VM to host ---- */
static void from_vm(cp_ctx *x, const proto_fs_entry *e, const char *dst);

static void from_vm_file(cp_ctx *x, const proto_fs_entry *e, const char *dst)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.revm-cp-%d", dst, (int)getpid());
    uint64_t fh;
    int rc = fsc_open(x->c, e->node, O_RDONLY, &fh);
    if (rc) {
        err_at(x, "cannot open in the VM", dst, rc);
        return;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        err_at(x, "cannot create", tmp, errno);
        fsc_release(x->c, fh);
        return;
    }
    uint64_t off = 0;
    for (;;) {
        size_t got = 0;
        if ((rc = fsc_read(x->c, fh, off, x->buf, x->bufsz, &got))) {
            err_at(x, "read from the VM failed for", dst, rc);
            break;
        }
        if (got == 0)
            break;
        if (write(fd, x->buf, got) != (ssize_t)got) {
            rc = errno ? errno : EIO;
            err_at(x, "cannot write", tmp, rc);
            break;
        }
        off += got;
        x->bytes += got;
        progress(x, dst, false);
    }
    fsc_release(x->c, fh);
    fchmod(fd, e->attr.mode & 07777);
    struct timespec ts[2] = {{e->attr.atime, e->attr.atime_ns}, {e->attr.mtime, e->attr.mtime_ns}};
    futimens(fd, ts);
    if (close(fd) < 0 && !rc)
        rc = errno;
    if (rc || rename(tmp, dst) < 0) {
        if (!rc)
            err_at(x, "cannot rename into place", dst, errno);
        unlink(tmp);
        return;
    }
    x->files++;
}

static void from_vm_dir(cp_ctx *x, const proto_fs_entry *e, const char *dst)
{
    struct stat ls;
    if (mkdir(dst, 0700) < 0 && errno != EEXIST) {
        err_at(x, "cannot create directory", dst, errno);
        return;
    }
    /* A name the guest listed twice, first as a symlink, must not lead our writes elsewhere. */
    if (lstat(dst, &ls) < 0 || !S_ISDIR(ls.st_mode)) {
        err_at(x, "not a directory (a symlink?), not copying into", dst, ENOTDIR);
        return;
    }
    uint64_t dh;
    int rc = fsc_opendir(x->c, e->node, &dh);
    if (rc) {
        err_at(x, "cannot read directory in the VM", dst, rc);
        return;
    }
    uint8_t *dbuf = malloc(256 * 1024);
    uint64_t off = 0, seen = 0;
    while (dbuf) {
        proto_fs_dirit it;
        if ((rc = fsc_readdir(x->c, dh, off, true, dbuf, 256 * 1024, &it))) {
            err_at(x, "cannot read directory in the VM", dst, rc);
            break;
        }
        proto_fs_dirent de;
        int k, n = 0;
        while ((k = proto_fs_dir_next(&it, &de)) == 1) {
            n++;
            if (de.next == off || ++seen > (1u << 22)) {
                k = -1; /* a directory that would never end */
                if (de.entry.node)
                    fsc_forget(x->c, de.entry.node, 1);
                break;
            }
            off = de.next;
            if (!de.entry.node)
                continue; /* . and .. */
            char child[PATH_MAX];
            if ((size_t)snprintf(child, sizeof child, "%s/%.*s", dst, (int)de.name.n, de.name.s) <
                sizeof child)
                from_vm(x, &de.entry, child);
            else
                err_at(x, "path too long:", dst, ENAMETOOLONG);
            fsc_forget(x->c, de.entry.node, 1);
        }
        if (k < 0) {
            while (proto_fs_dir_next(&it, &de) == 1)
                if (de.entry.node)
                    fsc_forget(x->c, de.entry.node, 1);
            err_at(x, "malformed directory listing from the VM for", dst, EIO);
            break;
        }
        if (n == 0)
            break;
    }
    free(dbuf);
    fsc_releasedir(x->c, dh);
    chmod(dst, e->attr.mode & 07777);
    struct timespec ts[2] = {{e->attr.atime, e->attr.atime_ns}, {e->attr.mtime, e->attr.mtime_ns}};
    utimensat(AT_FDCWD, dst, ts, 0);
}

static void from_vm(cp_ctx *x, const proto_fs_entry *e, const char *dst)
{
    mode_t m = e->attr.mode;
    if (S_ISREG(m)) {
        from_vm_file(x, e, dst);
    } else if (S_ISDIR(m)) {
        if (!x->recursive) {
            fprintf(stderr, "revm: cp: %s is a directory in the VM (use -r)\n", dst);
            x->errors++;
            return;
        }
        from_vm_dir(x, e, dst);
    } else if (S_ISLNK(m)) {
        char target[PROTO_FS_MAX_LINK + 1];
        int rc = fsc_readlink(x->c, e->node, target, sizeof target);
        if (rc) {
            err_at(x, "cannot read symlink in the VM", dst, rc);
            return;
        }
        unlink(dst);
        if (symlink(target, dst) < 0)
            err_at(x, "cannot create symlink", dst, errno);
        struct timespec ts[2] = {{e->attr.atime, e->attr.atime_ns}, {e->attr.mtime, e->attr.mtime_ns}};
        utimensat(AT_FDCWD, dst, ts, AT_SYMLINK_NOFOLLOW);
    } else {
        fprintf(stderr, "revm: cp: skipping %s (not a file, directory or symlink)\n", dst);
    }
}

/* ---- host to VM ---- */
static void set_mode_times(cp_ctx *x, uint64_t node, const struct stat *st, bool mode)
{
    proto_fs_attr w = {0}, out;
    w.mode = st->st_mode & 07777;
    w.atime = st->st_atim.tv_sec, w.atime_ns = (uint32_t)st->st_atim.tv_nsec;
    w.mtime = st->st_mtim.tv_sec, w.mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
    fsc_setattr(x->c, node, 0, (mode ? PROTO_FS_SET_MODE : 0) | PROTO_FS_SET_ATIME | PROTO_FS_SET_MTIME,
                &w, &out);
}

static void to_vm(cp_ctx *x, const char *src, uint64_t parent, const char *name);

static void to_vm_file(cp_ctx *x, const char *src, const struct stat *st, uint64_t parent,
                       const char *name)
{
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_at(x, "cannot open", src, errno);
        return;
    }
    char tmp[PROTO_FS_MAX_NAME + 1];
    snprintf(tmp, sizeof tmp, ".%.200s.revm-cp-%d", name, (int)getpid());
    proto_fs_entry e;
    uint64_t fh;
    int rc = fsc_create(x->c, parent, tmp, O_WRONLY | O_TRUNC | O_EXCL, 0600, UINT32_MAX,
                        UINT32_MAX, &e, &fh);
    if (rc) {
        err_at(x, "cannot create in the VM:", name, rc);
        close(fd);
        return;
    }
    uint64_t off = 0;
    for (;;) {
        ssize_t k = read(fd, x->buf, x->bufsz);
        if (k < 0) {
            rc = errno;
            err_at(x, "cannot read", src, rc);
            break;
        }
        if (k == 0)
            break;
        size_t done = 0;
        while (done < (size_t)k && !rc) {
            size_t w = 0;
            rc = fsc_write(x->c, fh, off + done, x->buf + done, (size_t)k - done, &w);
            if (!rc && w == 0)
                rc = EIO;
            done += w;
        }
        if (rc) {
            err_at(x, "write in the VM failed for", name, rc);
            break;
        }
        off += (uint64_t)k;
        x->bytes += (uint64_t)k;
        progress(x, src, false);
    }
    close(fd);
    if (!rc)
        rc = fsc_fsync(x->c, fh, false);
    fsc_release(x->c, fh);
    if (!rc) {
        set_mode_times(x, e.node, st, true);
        rc = fsc_rename(x->c, parent, tmp, parent, name, 0);
        if (rc)
            err_at(x, "cannot rename into place in the VM:", name, rc);
        else
            x->files++;
    }
    if (rc)
        fsc_unlink(x->c, parent, tmp);
    fsc_forget(x->c, e.node, 1);
}

static void to_vm_dir(cp_ctx *x, const char *src, const struct stat *st, uint64_t parent,
                      const char *name)
{
    proto_fs_entry e;
    int rc = fsc_mkdir(x->c, parent, name, 0700, UINT32_MAX, UINT32_MAX, &e);
    if (rc == EEXIST) {
        rc = fsc_lookup(x->c, parent, name, &e);
        if (!rc && !S_ISDIR(e.attr.mode)) {
            fsc_forget(x->c, e.node, 1);
            rc = ENOTDIR;
        }
    }
    if (rc) {
        err_at(x, "cannot create directory in the VM:", name, rc);
        return;
    }
    int dfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        err_at(x, "cannot read directory", src, errno);
        if (dfd >= 0)
            close(dfd);
    } else {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char child[PATH_MAX];
            if ((size_t)snprintf(child, sizeof child, "%s/%s", src, de->d_name) < sizeof child)
                to_vm(x, child, e.node, de->d_name);
        }
        closedir(d);
    }
    set_mode_times(x, e.node, st, true);
    fsc_forget(x->c, e.node, 1);
}

static void to_vm(cp_ctx *x, const char *src, uint64_t parent, const char *name)
{
    struct stat st;
    if (lstat(src, &st) < 0) {
        err_at(x, "cannot stat", src, errno);
        return;
    }
    if (S_ISREG(st.st_mode)) {
        to_vm_file(x, src, &st, parent, name);
    } else if (S_ISDIR(st.st_mode)) {
        if (!x->recursive) {
            fprintf(stderr, "revm: cp: %s is a directory (use -r)\n", src);
            x->errors++;
            return;
        }
        to_vm_dir(x, src, &st, parent, name);
    } else if (S_ISLNK(st.st_mode)) {
        char target[PROTO_FS_MAX_LINK + 1];
        ssize_t n = readlink(src, target, sizeof target - 1);
        if (n <= 0) {
            err_at(x, "cannot read symlink", src, errno);
            return;
        }
        target[n] = 0;
        fsc_unlink(x->c, parent, name);
        proto_fs_entry e;
        int rc = fsc_symlink(x->c, parent, name, target, UINT32_MAX, UINT32_MAX, &e);
        if (rc)
            err_at(x, "cannot create symlink in the VM:", name, rc);
        else
            fsc_forget(x->c, e.node, 1);
    } else {
        fprintf(stderr, "revm: cp: skipping %s (not a file, directory or symlink)\n", src);
    }
}

int cli_cmd_cp(const cli_opts *o, int argc, char **argv)
{
    cp_ctx x = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "-r") || !strcmp(argv[i], "-R") || !strcmp(argv[i], "-a"))
            x.recursive = true;
        else if (!strcmp(argv[i], "--"))  {
            i++;
            break;
        } else {
            fprintf(stderr, "revm: cp: unknown option %s (usage: revm cp [-r] SRC... DST)\n", argv[i]);
            return 2;
        }
    }
    if (argc - i < 2) {
        fprintf(stderr, "revm: usage: revm cp [-r] SRC... DST (VM:PATH for a path in a VM)\n");
        return 2;
    }
    char vm[64], svm[64];
    const char *dpath, *spath;
    bool dst_remote = split_remote(argv[argc - 1], vm, sizeof vm, &dpath);
    bool any_remote_src = false;
    for (int k = i; k < argc - 1; k++) {
        bool r = split_remote(argv[k], svm, sizeof svm, &spath);
        if (r && dst_remote) {
            fprintf(stderr, "revm: cp: copies between two VMs are not supported: %s\n", argv[k]);
            return 2;
        }
        if (r && any_remote_src && strcmp(svm, vm)) {
            fprintf(stderr, "revm: cp: sources are in different VMs (%s, %s)\n", vm, svm);
            return 2;
        }
        if (r) {
            any_remote_src = true;
            snprintf(vm, sizeof vm, "%s", svm);
        } else if (any_remote_src || !dst_remote) {
            fprintf(stderr, "revm: cp: one side must be in a VM (VM:PATH), the other on the host: %s\n", argv[k]);
            return 2;
        }
    }
    if (!dst_remote && !any_remote_src) {
        fprintf(stderr, "revm: cp: one side must be in a VM (VM:PATH)\n");
        return 2;
    }
    cli_opts vo = *o;
    vo.vm = vm;
    rb_svc *svc;
    x.c = cli_fs_open(&vo, "root", &svc);
    if (!x.c)
        return 1;
    x.vm = vm;
    x.bufsz = fsc_get_info(x.c)->max_io;
    x.buf = malloc(x.bufsz);
    x.tty = isatty(2);
    clock_gettime(CLOCK_MONOTONIC, &x.last);
    int nsrc = argc - 1 - i;
    char base[PROTO_FS_MAX_NAME + 1];
    if (dst_remote) {
        proto_fs_entry d;
        int rc = fsc_walk(x.c, dpath, true, &d);
        bool into = rc == 0 && S_ISDIR(d.attr.mode);
        if (!into && nsrc > 1) {
            fprintf(stderr, "revm: cp: %s: target is not a directory in VM %s\n", dpath, vm);
            x.errors++;
        } else if (into) {
            for (int k = i; k < argc - 1; k++)
                to_vm(&x, argv[k], d.node, base_of(argv[k], base, sizeof base));
        } else {
            char parent[PATH_MAX];
            snprintf(parent, sizeof parent, "%s", dpath);
            char *slash = strrchr(parent, '/');
            if (slash)
                slash[slash == parent ? 1 : 0] = 0;
            else
                parent[0] = 0;
            proto_fs_entry p;
            if (rc == 0)
                fsc_forget(x.c, d.node, 1);
            rc = fsc_walk(x.c, parent, true, &p);
            if (rc || !S_ISDIR(p.attr.mode)) {
                fprintf(stderr, "revm: cp: %s: no such directory in VM %s\n", parent[0] ? parent : "/", vm);
                x.errors++;
            } else {
                to_vm(&x, argv[i], p.node, base_of(dpath, base, sizeof base));
            }
            if (!rc && p.node != PROTO_FS_ROOT)
                fsc_forget(x.c, p.node, 1);
            rc = 1;
        }
        if (rc == 0 && d.node != PROTO_FS_ROOT)
            fsc_forget(x.c, d.node, 1);
    } else {
        const char *dst = argv[argc - 1];
        struct stat st;
        bool into = stat(dst, &st) == 0 && S_ISDIR(st.st_mode);
        if (!into && nsrc > 1) {
            fprintf(stderr, "revm: cp: %s is not a directory\n", dst);
            x.errors++;
        }
        for (int k = i; k < argc - 1 && (into || nsrc == 1); k++) {
            split_remote(argv[k], svm, sizeof svm, &spath);
            proto_fs_entry e;
            int rc = fsc_walk(x.c, spath, true, &e);
            if (rc) {
                fprintf(stderr, "revm: cp: %s:%s: %s\n", vm, spath, strerror(rc));
                x.errors++;
                continue;
            }
            char target[PATH_MAX];
            if (into)
                snprintf(target, sizeof target, "%s/%s", dst, base_of(spath, base, sizeof base));
            else
                snprintf(target, sizeof target, "%s", dst);
            from_vm(&x, &e, target);
            if (e.node != PROTO_FS_ROOT)
                fsc_forget(x.c, e.node, 1);
        }
    }
    progress(&x, "", true);
    if (x.tty)
        fputc('\n', stderr);
    free(x.buf);
    fsc_free(x.c);
    rb_svc_close(svc);
    return x.errors ? 1 : 0;
}
