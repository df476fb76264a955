#include "outfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_io.h"

/* The signal handler may only touch async-signal-safe state: a fixed table of
 * pointers to paths, each slot set or cleared with a single store. */
#define MAX_LIVE 64
static const char *volatile live[MAX_LIVE];

static void register_tmp(mk_outfile *o)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        if (!live[i]) {
            live[i] = o->tmp_path;
            o->registered = true;
            return;
        }
    }
}

static void unregister_tmp(mk_outfile *o)
{
    if (!o->registered)
        return;
    for (int i = 0; i < MAX_LIVE; i++)
        if (live[i] == o->tmp_path)
            live[i] = NULL;
    o->registered = false;
}

static void on_fatal_signal(int sig)
{
    for (int i = 0; i < MAX_LIVE; i++)
        if (live[i])
            unlink(live[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

void outfile_on_exit_signals(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

void outfile_install_signal_handlers(void)
{
    outfile_on_exit_signals(on_fatal_signal);
}

bool outfile_split_parent(const char *path, char dir[PATH_MAX], const char **base)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= PATH_MAX)
        return false;
    memcpy(dir, path, n);
    dir[n] = '\0';
    *base = slash ? slash + 1 : path;
    return true;
}

static int choose_tmp(mk_outfile *o, const char *final_path, mk_err *err)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    if (strlen(final_path) >= sizeof o->final_path)
        return mk_fail(err, "%s: path too long", final_path);
    strcpy(o->final_path, final_path);
    const char *slash = strrchr(final_path, '/');
    int dirlen = slash ? (int)(slash - final_path + 1) : 0;
    const char *base = slash ? slash + 1 : final_path;
    int n = snprintf(o->tmp_path, sizeof o->tmp_path, "%.*s.%s.part-%ld", dirlen, final_path,
                     base, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof o->tmp_path)
        return mk_fail(err, "%s: path too long", final_path);
    return 0;
}

int outfile_reserve(mk_outfile *o, const char *final_path, mk_err *err)
{
    if (choose_tmp(o, final_path, err) < 0)
        return -1;
    unlink(o->tmp_path);
    register_tmp(o);
    return 0;
}

int outfile_open(mk_outfile *o, const char *final_path, mk_err *err)
{
    if (outfile_reserve(o, final_path, err) < 0)
        return -1;
    o->fd = open(o->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (o->fd < 0) {
        int e = errno;
        unregister_tmp(o);
        return mk_fail_errno(err, e, "%s: cannot create", o->tmp_path);
    }
    return 0;
}

int outfile_commit(mk_outfile *o, mk_err *err)
{
    if (o->fd >= 0) {
        if (fsync(o->fd) < 0 && errno != EINVAL) {
            int e = errno;
            outfile_abort(o);
            return mk_fail_errno(err, e, "%s: cannot write", o->final_path);
        }
        if (close(o->fd) < 0) {
            int e = errno;
            o->fd = -1;
            outfile_abort(o);
            return mk_fail_errno(err, e, "%s: cannot write", o->final_path);
        }
        o->fd = -1;
    }
    if (rename(o->tmp_path, o->final_path) < 0) {
        int e = errno;
        outfile_abort(o);
        return mk_fail_errno(err, e, "%s: cannot rename into place", o->final_path);
    }
    unregister_tmp(o);
    return 0;
}

void outfile_abort(mk_outfile *o)
{
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    if (o->tmp_path[0])
        unlink(o->tmp_path);
    unregister_tmp(o);
}

void outfile_remove_stale(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *p = strstr(de->d_name, ".part-");
        if (de->d_name[0] != '.' || !p)
            continue;
        char *end;
        long pid = strtol(p + 6, &end, 10);
        if (*end || pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno == EPERM))
            continue;
        unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}

int outfile_copy(const char *src, const char *dst, mk_err *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return mk_fail_errno(err, errno, "%s: cannot open", src);
    mk_outfile of;
    if (outfile_open(&of, dst, err) < 0) {
        close(in);
        return -1;
    }
    char buf[131072];
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(in);
            outfile_abort(&of);
            return mk_fail_errno(err, e, "%s: cannot read", src);
        }
        if (r == 0)
            break;
        if (cm_write_all(of.fd, buf, (size_t)r) < 0) {
            int e = errno;
            close(in);
            outfile_abort(&of);
            return mk_fail_errno(err, e, "%s: cannot write", dst);
        }
    }
    close(in);
    return outfile_commit(&of, err);
}
