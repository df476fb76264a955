/* Non-root operation: run again inside a fakeroot session.
 *
 * An image must carry the tarball's owners (root:root, root:shadow, ...), device nodes,
 * setuid bits and security.* xattrs, none of which an ordinary user may create. Options
 * considered:
 *  - user namespaces (unshare -r): map only the caller's uid, so chown to other ids
 *    fails, mknod is refused, and security.capability is namespaced; also often
 *    disabled by policy.
 *  - building the filesystem without a staging tree (write btrfs ourselves): far too
 *    much code for what fakeroot already does.
 *  - fakeroot (chosen): an LD_PRELOAD library reports euid 0 and records chown, chmod,
 *    mknod and xattr calls in its daemon (faked), keyed by device and inode; later
 *    stat/lstat/getxattr/listxattr calls in the same session return the recorded
 *    values. Every child inherits the session, so `mkfs.btrfs --rootdir` run by
 *    mkimage reads the owners, device nodes and xattrs exactly as extracted and puts
 *    them into the image. Verified with fakeroot 1.31 (Debian 12): chown, mknod (char,
 *    block), mkfifo, setuid modes, security.capability, trusted.* and user.* xattrs
 *    all read back through stat/getfattr in a child process, including for hard
 *    links; an image made by `mkfs.btrfs --rootdir` (and `mkfs.ext4 -d`) inside the
 *    session, mounted and listed as root, had the tarball's owners, modes and xattrs.
 *    Note that fakeroot keeps xattrs only in faked (the files on disk carry
 *    none): the staging tree is meaningful only inside the session, which is why the
 *    whole of mkimage, not just extraction, runs inside it.
 * The session is started by running this program again under `fakeroot --` as a
 * child; when it ends, faked's records vanish with the staging tree, which mkimage
 * deletes anyway. Real root skips all this.
 *
 * Process shape: the original (outer) process stays, with the pid the caller knows,
 * and waits; fakeroot's shell script runs the inner copy, which does the work. The
 * outer process is not exec'd into fakeroot because a SIGTERM or SIGKILL sent to the
 * script's pid ends the script but not the inner process, which would go on, orphaned,
 * and could still create final outputs. Instead the outer holds the
 * write end of a pipe whose read end the inner watches (REVM_PRIVILEGE_WATCH_FD):
 * when the outer gets SIGINT/SIGTERM/SIGHUP, or dies in any way including SIGKILL,
 * the pipe closes and the inner sends itself SIGTERM, which runs mkimage's normal
 * cleanup (temporary files and staging trees removed). The outer waits for that
 * cleanup before it exits, except after SIGKILL, where the cleanup finishes just
 * after. */
#include "privilege.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "outfile.h"

/* Read end of a pipe whose write end only the outer (non-root) process holds. */
#define WATCH_ENV "REVM_PRIVILEGE_WATCH_FD"

bool privilege_under_fakeroot(void)
{
    const char *key = getenv("FAKEROOTKEY");
    return key && *key && geteuid() == 0;
}

/* Full path of an executable named name in PATH, or "" (out is PATH_MAX bytes). */
static void find_in_path(const char *name, char *out)
{
    const char *path = getenv("PATH");
    out[0] = '\0';
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0 && len + strlen(name) + 2 <= PATH_MAX) {
            snprintf(out, PATH_MAX, "%.*s/%s", (int)len, path, name);
            if (access(out, X_OK) == 0)
                return;
        }
        path += len;
        if (*path == ':')
            path++;
    }
    out[0] = '\0';
}

/* ---- inside the session: follow the outer process ---- */

static void *watch_outer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    ssize_t n;
    while ((n = read(fd, &c, 1)) != 0) /* the outer process never writes: EOF = it is gone */
        if (n < 0 && errno != EINTR)
            break;
    if (n == 0)
        kill(getpid(), SIGTERM); /* cleans up through the program's SIGTERM handler */
    return NULL;
}

static void start_watch(void)
{
    const char *v = getenv(WATCH_ENV);
    if (!v)
        return;
    char *end;
    long fd = strtol(v, &end, 10);
    unsetenv(WATCH_ENV);
    struct stat st;
    if (*end || fd < 3 || fd > INT_MAX || fstat((int)fd, &st) < 0 || !S_ISFIFO(st.st_mode))
        return;
    fcntl((int)fd, F_SETFD, FD_CLOEXEC); /* not for mkfs and friends */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals go to the main thread */
    pthread_t t;
    if (pthread_create(&t, NULL, watch_outer, (void *)(intptr_t)fd) == 0)
        pthread_detach(t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- outside: start the session and stand in for it ---- */

static volatile sig_atomic_t outer_signal;
static int watch_wfd = -1;

static void on_outer_signal(int sig)
{
    outer_signal = sig;
    if (watch_wfd >= 0) { /* tell the inner process; it cleans up and exits */
        close(watch_wfd);
        watch_wfd = -1;
    }
}

int privilege_ensure(int argc, char **argv, mk_err *err)
{
    if (geteuid() == 0) {
        start_watch();
        return 0;
    }
    const char *key = getenv("FAKEROOTKEY");
    if (key && *key)
        /* Inside fakeroot yet not root: the preload did not take (static binary,
         * setuid, or a stripped environment). Re-executing would loop. */
        return mk_fail(err, "fakeroot: session active but not in effect for this process "
                            "(run mkimage as root instead)");

    char fakeroot[PATH_MAX];
    find_in_path("fakeroot", fakeroot);
    if (!fakeroot[0])
        return mk_fail(err, "fakeroot: not found; an ordinary user needs it (Debian package "
                            "fakeroot) to give the image its owners and device nodes, "
                            "or run mkimage as root");

    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
    } else if (argc > 0 && argv[0] && strchr(argv[0], '/')) {
        snprintf(self, sizeof self, "%s", argv[0]);
    } else {
        return mk_fail(err, "fakeroot: cannot find this program's own path to restart it");
    }

    char **nargv = calloc((size_t)(argc > 0 ? argc : 1) + 3, sizeof *nargv);
    if (!nargv)
        return mk_fail(err, "fakeroot: out of memory");
    size_t k = 0;
    nargv[k++] = "fakeroot";
    nargv[k++] = "--";
    nargv[k++] = self;
    for (int i = 1; i < argc; i++)
        nargv[k++] = argv[i];
    nargv[k] = NULL;

    int p[2];
    if (pipe(p) < 0) {
        free(nargv);
        return mk_fail_errno(err, errno, "fakeroot: cannot start");
    }
    fcntl(p[1], F_SETFD, FD_CLOEXEC); /* only this process holds the write end */
    char fdnum[16];
    snprintf(fdnum, sizeof fdnum, "%d", p[0]);
    setenv(WATCH_ENV, fdnum, 1);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        free(nargv);
        close(p[0]);
        close(p[1]);
        return mk_fail_errno(err, e, "fakeroot: cannot start");
    }
    if (pid == 0) {
        execv(fakeroot, nargv);
        fprintf(stderr, "fakeroot: cannot run %s: %s\n", fakeroot, strerror(errno));
        _exit(127);
    }
    free(nargv);
    close(p[0]);
    unsetenv(WATCH_ENV);
    watch_wfd = p[1];

    /* Stand in for the session: pass interruptions on (by closing the pipe), wait
     * for the inner process to finish its cleanup, exit with its status. */
    outfile_on_exit_signals(on_outer_signal);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            status = 1 << 8;
            break;
        }
    if (outer_signal)
        _exit(128 + outer_signal);
    if (WIFSIGNALED(status))
        _exit(128 + WTERMSIG(status));
    _exit(WEXITSTATUS(status));
}
