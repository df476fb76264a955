/* Real exec backend (see spawn.h). */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What failed in the child before exec, sent to the parent over the CLOEXEC pipe. */
enum { ST_SETUP = 1, ST_USER, ST_CHDIR, ST_EXEC };
struct child_err {
    int stage, err;
};

/* Everything the child needs, built in the parent (C strings from the wire's counted ones). */
struct plan {
    char *prog;   /* file to execute or name to search */
    char **argv;  /* NULL-terminated */
    char **envp;  /* NULL-terminated */
    char *cwd;
    bool cwd_default; /* fall back to / when the home directory is missing */
    const char *path; /* PATH value used for the search */
    bool search;
    bool switch_user;
    uid_t uid;
    gid_t gid;
    char *user;
    /* arena that owns every string above */
    char *arena;
    size_t used, cap;
};

static char *plan_strn(struct plan *pl, const char *s, size_t n)
{
    if (pl->cap - pl->used < n + 1)
        return NULL;
    char *d = pl->arena + pl->used;
    memcpy(d, s, n);
    d[n] = 0;
    pl->used += n + 1;
    return d;
}

static char *plan_cat(struct plan *pl, const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (pl->cap - pl->used < na + nb + 1)
        return NULL;
    char *d = pl->arena + pl->used;
    memcpy(d, a, na);
    memcpy(d + na, b, nb + 1);
    pl->used += na + nb + 1;
    return d;
}

static void plan_free(struct plan *pl)
{
    free(pl->argv);
    free(pl->envp);
    free(pl->arena);
}

/* Default environment, then the host's entries (which win for the same name). */
static int build_env(struct plan *pl, const proto_exec_open *rq, const char *home,
                     const char *user, const char *shell)
{
    size_t max = 6 + rq->envc + 1, n = 0;
    pl->envp = calloc(max, sizeof *pl->envp);
    if (!pl->envp)
        return -1;
    const char *defs[][2] = {{"PATH=", DEFAULT_PATH}, {"HOME=", home}, {"USER=", user},
                             {"LOGNAME=", user}, {"SHELL=", shell}};
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (!(pl->envp[n++] = plan_cat(pl, defs[i][0], defs[i][1])))
            return -1;
    bool have_term = false;
    for (uint32_t i = 0; i < rq->envc; i++) {
        char *e = plan_strn(pl, rq->env[i].s, rq->env[i].n);
        if (!e)
            return -1;
        size_t nl = (size_t)(strchr(e, '=') - e) + 1;
        if (nl == 5 && !memcmp(e, "TERM=", 5))
            have_term = true;
        size_t k = 0;
        while (k < n && strncmp(pl->envp[k], e, nl) != 0)
            k++;
        pl->envp[k] = e;
        if (k == n)
            n++;
    }
    if ((rq->flags & PROTO_EXEC_PTY) && !have_term)
        if (!(pl->envp[n++] = plan_cat(pl, "TERM=", "xterm")))
            return -1;
    pl->envp[n] = NULL;
    for (size_t k = 0; k < n; k++)
        if (!strncmp(pl->envp[k], "PATH=", 5))
            pl->path = pl->envp[k] + 5;
    return 0;
}

static int make_plan(struct plan *pl, const proto_exec_open *rq, uint32_t *code, char *text,
                     size_t tcap)
{
    memset(pl, 0, sizeof *pl);
    /* every wire string (+ NUL, + '-' for a login argv[0]), passwd fields and defaults */
    pl->cap = rq->user.n + rq->cwd.n + 512 + (rq->argc ? rq->argv[0].n + 2 : 0);
    for (uint32_t i = 0; i < rq->argc; i++)
        pl->cap += rq->argv[i].n + 2;
    for (uint32_t i = 0; i < rq->envc; i++)
        pl->cap += rq->env[i].n + 1;

    struct passwd *pw;
    if (rq->user.n) {
        char name[PROTO_MAX_STR + 1];
        memcpy(name, rq->user.s, rq->user.n);
        name[rq->user.n] = 0;
        errno = 0;
        pw = getpwnam(name);
        if (!pw) {
            *code = PROTO_ESRCH;
            snprintf(text, tcap, "no such user in the VM: %s", name);
            return -1;
        }
        if (pw->pw_uid != geteuid()) {
            if (geteuid() != 0) {
                *code = PROTO_EPERM;
                snprintf(text, tcap, "cannot run as %s: the guest daemon is not root", name);
                return -1;
            }
            pl->switch_user = true;
        }
    } else {
        pw = getpwuid(geteuid());
    }
    const char *home = pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/";
    const char *uname = pw ? pw->pw_name : "root";
    const char *shell = pw && pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh";
    pl->cap += 3 * (strlen(home) + strlen(uname) + strlen(shell));
    pl->arena = malloc(pl->cap);
    pl->argv = calloc(rq->argc + 2, sizeof *pl->argv);
    if (!pl->arena || !pl->argv)
        goto nomem;
    pl->uid = pw ? pw->pw_uid : geteuid();
    pl->gid = pw ? pw->pw_gid : getegid();
    if (!(pl->user = plan_strn(pl, uname, strlen(uname))))
        goto nomem;
    if (!(home = plan_strn(pl, home, strlen(home))) ||
        !(shell = plan_strn(pl, shell, strlen(shell))))
        goto nomem;

    bool login = rq->flags & PROTO_EXEC_LOGIN;
    if (rq->argc == 0) { /* login shell of the user */
        const char *base = strrchr(shell, '/');
        pl->prog = (char *)shell;
        pl->argv[0] = plan_cat(pl, "-", base ? base + 1 : shell);
    } else {
        pl->prog = plan_strn(pl, rq->argv[0].s, rq->argv[0].n);
        if (!pl->prog)
            goto nomem;
        pl->argv[0] = login ? plan_cat(pl, "-", pl->prog) : pl->prog;
        for (uint32_t i = 1; i < rq->argc; i++)
            if (!(pl->argv[i] = plan_strn(pl, rq->argv[i].s, rq->argv[i].n)))
                goto nomem;
    }
    if (!pl->argv[0])
        goto nomem;
    pl->search = !(rq->flags & PROTO_EXEC_NOPATH) && !strchr(pl->prog, '/');
    if (build_env(pl, rq, home, uname, shell) < 0)
        goto nomem;
    pl->cwd_default = rq->cwd.n == 0;
    pl->cwd = rq->cwd.n ? plan_strn(pl, rq->cwd.s, rq->cwd.n) : (char *)home;
    if (!pl->cwd)
        goto nomem;
    return 0;
nomem:
    *code = PROTO_ENOMEM;
    snprintf(text, tcap, "out of memory starting the program");
    return -1;
}

static void child_fail(int efd, int stage)
{
    struct child_err ce = {stage, errno};
    ssize_t r = write(efd, &ce, sizeof ce);
    (void)r;
    _exit(127);
}

/* PATH search with the child's own PATH (execvp would use the daemon's). Like the shell:
 * EACCES on one candidate is remembered, other directories are still tried. */
static void exec_plan(const struct plan *pl)
{
    if (!pl->search) {
        execve(pl->prog, pl->argv, pl->envp);
        return;
    }
    const char *path = pl->path ? pl->path : DEFAULT_PATH;
    bool eacces = false;
    size_t pn = strlen(pl->prog);
    char buf[4096 + PROTO_MAX_STR + 2];
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        if (!end)
            end = p + strlen(p);
        size_t dn = (size_t)(end - p);
        if (dn + pn + 2 <= sizeof buf) {
            memcpy(buf, p, dn);
            size_t k = dn;
            if (k == 0)
                buf[k++] = '.';
            buf[k++] = '/';
            memcpy(buf + k, pl->prog, pn + 1);
            execve(buf, pl->argv, pl->envp);
            if (errno == EACCES)
                eacces = true;
            else if (errno != ENOENT && errno != ENOTDIR)
                return;
        }
        if (!*end)
            break;
        p = end;
    }
    errno = eacces ? EACCES : ENOENT;
}

static void child_main(const struct plan *pl, bool pty, int slave, const int in[2],
                       const int out[2], const int err[2], int efd)
{
    /* the daemon blocks SIGCHLD and ignores SIGPIPE: a program expects neither */
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int s = 1; s < 65; s++)
        signal(s, SIG_DFL);
    if (pty) {
        if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
            child_fail(efd, ST_SETUP);
        if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)
            child_fail(efd, ST_SETUP);
    } else {
        setpgid(0, 0);
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
            child_fail(efd, ST_SETUP);
    }
    if (pl->switch_user) {
        if (initgroups(pl->user, pl->gid) < 0 || setgid(pl->gid) < 0 || setuid(pl->uid) < 0)
            child_fail(efd, ST_USER);
    }
    if (chdir(pl->cwd) < 0) {
        if (!pl->cwd_default || chdir("/") < 0)
            child_fail(efd, ST_CHDIR);
    }
    exec_plan(pl);
    child_fail(efd, ST_EXEC);
}

static void describe(const struct plan *pl, const struct child_err *ce, uint32_t *code,
                     char *text, size_t tcap)
{
    /* Linux errno numbers are the wire's numbers (PROTOCOL.md, Errors). */
    *code = (uint32_t)ce->err;
    const char *name = pl->prog;
    switch (ce->stage) {
    case ST_EXEC:
        if (ce->err == ENOENT)
            snprintf(text, tcap, "no such program in the VM: %s", name);
        else if (ce->err == EACCES)
            snprintf(text, tcap, "not executable in the VM: %s", name);
        else
            snprintf(text, tcap, "cannot run %s in the VM: %s", name, strerror(ce->err));
        break;
    case ST_CHDIR:
        snprintf(text, tcap, "cannot change to directory %s in the VM: %s", pl->cwd,
                 strerror(ce->err));
        break;
    case ST_USER:
        snprintf(text, tcap, "cannot switch to user %s in the VM: %s", pl->user,
                 strerror(ce->err));
        break;
    default:
        snprintf(text, tcap, "cannot set up the program's terminal in the VM: %s",
                 strerror(ce->err));
        break;
    }
}

static int open_pty(const proto_exec_open *rq, const struct plan *pl, int *master, int *slave)
{
    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0)
        return -1;
    char name[128];
    if (grantpt(*master) < 0 || unlockpt(*master) < 0 ||
        ptsname_r(*master, name, sizeof name) != 0)
        goto fail;
    *slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*slave < 0)
        goto fail;
    if (pl->switch_user && fchown(*slave, pl->uid, (gid_t)-1) < 0) {
        close(*slave);
        goto fail;
    }
    struct winsize ws = {.ws_row = rq->rows ? rq->rows : 24, .ws_col = rq->cols ? rq->cols : 80};
    ioctl(*master, TIOCSWINSZ, &ws);
    return 0;
fail:
    close(*master);
    return -1;
}

static int nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void close_all(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
}

static int spawn(void *ctx, const proto_exec_open *rq, guest_spawned *out, uint32_t *code,
                 char *text, size_t tcap)
{
    (void)ctx;
    struct plan pl;
    if (make_plan(&pl, rq, code, text, tcap) < 0) {
        plan_free(&pl);
        return -1;
    }
    bool pty = rq->flags & PROTO_EXEC_PTY;
    /* fds: in[2], out[2], err[2], master, slave, e[2] */
    int fds[10] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    int *in = fds, *o = fds + 2, *e = fds + 4, *master = fds + 6, *slave = fds + 7, *ep = fds + 8;
    if (pty) {
        if (open_pty(rq, &pl, master, slave) < 0)
            goto sysfail;
    } else if (pipe2(in, O_CLOEXEC) < 0 || pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0) {
        goto sysfail;
    }
    if (!pty) {
        /* Bigger output pipes: under TCG every pipe wakeup is expensive, and with the default
         * 64 KiB a chatty program and the daemon ping-pong in small steps (measured in a VM:
         * 15-22 MiB/s with 64 KiB, 40-52 MiB/s with 1 MiB). Best effort: the limit is
         * /proc/sys/fs/pipe-max-size. */
        fcntl(o[0], F_SETPIPE_SZ, GUEST_PIPE_SIZE);
        fcntl(e[0], F_SETPIPE_SZ, GUEST_PIPE_SIZE);
    }
    if (pipe2(ep, O_CLOEXEC) < 0)
        goto sysfail;
    pid_t pid = fork();
    if (pid < 0)
        goto sysfail;
    if (pid == 0) {
        close(ep[0]);
        child_main(&pl, pty, *slave, in, o, e, ep[1]);
    }
    if (!pty)
        setpgid(pid, pid); /* also in the child: whichever runs first */
    close(ep[1]);
    ep[1] = -1;
    struct child_err ce;
    ssize_t r;
    do
        r = read(ep[0], &ce, sizeof ce);
    while (r < 0 && errno == EINTR);
    if (r == (ssize_t)sizeof ce) {
        /* exec failed: the child exits 127 at once; reap it here so no EXIT is reported */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        describe(&pl, &ce, code, text, tcap);
        close_all(fds, 10);
        plan_free(&pl);
        return -1;
    }
    /* parent keeps: pipes' parent ends, or the master (twice: stdin and output) */
    out->pid = pid;
    out->pty = pty;
    if (pty) {
        out->fd[1] = *master;
        out->fd[0] = fcntl(*master, F_DUPFD_CLOEXEC, 3);
        out->fd[2] = -1;
        *master = -1;
    } else {
        out->fd[0] = in[1];
        out->fd[1] = o[0];
        out->fd[2] = e[0];
        in[1] = o[0] = e[0] = -1;
    }
    close_all(fds, 10);
    plan_free(&pl);
    for (int i = 0; i < 3; i++)
        if (out->fd[i] >= 0)
            nonblock(out->fd[i]);
    if (pty && out->fd[0] < 0) {
        out->fd[0] = -1; /* stdin unavailable: the channel still works for output */
    }
    return 0;
sysfail:
    *code = errno == ENOMEM ? PROTO_ENOMEM : errno == EAGAIN ? PROTO_EAGAIN : PROTO_EIO;
    snprintf(text, tcap, "cannot start the program in the VM: %s", strerror(errno));
    close_all(fds, 10);
    plan_free(&pl);
    return -1;
}

static void sig_fwd(void *ctx, const guest_chan *c, int sig)
{
    (void)ctx;
    if (c->pty && c->fd[1] >= 0) {
        pid_t pg = tcgetpgrp(c->fd[1]);
        if (pg > 0 && kill(-pg, sig) == 0)
            return;
    }
    if (kill(-c->pid, sig) < 0)
        kill(c->pid, sig);
}

static void kill_group(void *ctx, pid_t pid, int sig)
{
    (void)ctx;
    kill(-pid, sig);
    kill(pid, sig);
}

static void set_winsize(void *ctx, const guest_chan *c, uint16_t rows, uint16_t cols)
{
    (void)ctx;
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    ioctl(c->fd[1], TIOCSWINSZ, &ws); /* the kernel sends SIGWINCH to the foreground group */
}

const guest_backend guest_spawn_backend = {
    .spawn = spawn, .signal = sig_fwd, .kill = kill_group, .winsize = set_winsize, .ctx = NULL};
