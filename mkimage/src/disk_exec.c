#include "disk_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Keep the last part of stderr: error lines come last, and a tool that floods its
 * stderr must not make us allocate without bound. */
#define STDERR_KEEP 16384 /* > the 4096-byte read chunk */

static bool is_noise(const char *line, size_t len)
{
    /* btrfs-progs prints a NOTE banner about changed defaults (with indented
     * continuation lines) even with -q; e2fsprogs and qemu-img print no banners. */
    static const char *const prefixes[] = {"NOTE:", "WARNING: libudev", "See ", "mke2fs 1."};
    if (len == 0 || line[0] == ' ' || line[0] == '\t')
        return true;
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t n = strlen(prefixes[i]);
        if (len >= n && memcmp(line, prefixes[i], n) == 0)
            return true;
    }
    return false;
}

static void copy_line(const char *line, size_t len, char *out, size_t out_size)
{
    static const char error_prefix[] = "ERROR: ";
    if (len >= sizeof error_prefix - 1 && memcmp(line, error_prefix, sizeof error_prefix - 1) == 0) {
        line += sizeof error_prefix - 1;
        len -= sizeof error_prefix - 1;
    }
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len >= out_size)
        len = out_size - 1;
    for (size_t i = 0; i < len; i++)
        out[i] = (unsigned char)line[i] < 0x20 || line[i] == 0x7f ? '?' : line[i];
    out[len] = '\0';
}

int disk_summarize_stderr(const char *text, size_t len, char *out, size_t out_size)
{
    const char *best = NULL, *first_error = NULL;
    size_t best_len = 0, first_error_len = 0;
    if (!out_size)
        return 0;
    out[0] = '\0';
    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n && line[n - 1] == '\r')
            n--;
        if (!first_error && n > 6 && memcmp(line, "ERROR:", 6) == 0) {
            first_error = line;
            first_error_len = n;
        }
        if (!is_noise(line, n)) {
            best = line;
            best_len = n;
        }
    }
    if (first_error) {
        best = first_error;
        best_len = first_error_len;
    }
    if (!best)
        return 0;
    copy_line(best, best_len, out, out_size);
    return out[0] != '\0';
}

/* Builds the child's environment before fork: environ minus the names being set,
 * plus the new entries. */
static char **child_environ(const char *const *add)
{
    size_t n_env = 0, n_add = 0;
    while (environ[n_env])
        n_env++;
    while (add && add[n_add])
        n_add++;
    char **envp = calloc(n_env + n_add + 1, sizeof *envp);
    if (!envp)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t name_len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool replaced = false;
        for (size_t j = 0; j < n_add && !replaced; j++)
            replaced = strncmp(add[j], environ[i], name_len) == 0 && add[j][name_len] == '=';
        if (!replaced)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < n_add; j++)
        envp[k++] = (char *)add[j];
    return envp;
}

/* Finds a program the way execvp would, but also in /usr/sbin and /sbin: the
 * filesystem tools live there, and an ordinary user's PATH on Debian lacks them. */
static bool resolve_program(const char *name, char *out, size_t size)
{
    if (strchr(name, '/')) {
        snprintf(out, size, "%s", name);
        return true;
    }
    const char *env_path = getenv("PATH");
    char search[8192];
    snprintf(search, sizeof search, "%s:/usr/sbin:/sbin", env_path && *env_path ? env_path : "/usr/bin:/bin");
    for (char *save = NULL, *dir = strtok_r(search, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        int n = snprintf(out, size, "%s/%s", *dir ? dir : ".", name);
        if (n > 0 && (size_t)n < size && access(out, X_OK) == 0)
            return true;
    }
    return false;
}

static void child_exec(const disk_command *cmd, const char *program, char **envp, int err_fd,
                       pid_t parent)
{
    /* The tool must not outlive mkimage: when mkimage dies (SIGKILL included) the
     * unnamed raw image must not be kept alive by it. If the parent died before
     * the request took effect, leave now. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(126);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0 ||
        dup2(err_fd, STDERR_FILENO) < 0)
        _exit(126);
    if (cmd->keep_fd >= 0) {
        int flags = fcntl(cmd->keep_fd, F_GETFD);
        if (flags < 0 || fcntl(cmd->keep_fd, F_SETFD, flags & ~FD_CLOEXEC) < 0)
            _exit(126);
    }
    execve(program, (char *const *)cmd->argv, envp);
    dprintf(STDERR_FILENO, "cannot run: %s\n", strerror(errno));
    _exit(127);
}

int disk_spawn(const disk_command *cmd, disk_child *child, mk_err *err)
{
    memset(child, 0, sizeof *child);
    child->pid = -1;
    child->err_fd = -1;
    const char *prog = cmd->argv[0];
    snprintf(child->name, sizeof child->name, "%s", prog);
    child->tick = cmd->tick;
    child->tick_ctx = cmd->tick_ctx;
    char program[PATH_MAX];
    if (!resolve_program(prog, program, sizeof program))
        return mk_fail(err, "%s: not found in PATH, /usr/sbin or /sbin (is it installed?)", prog);
    char **envp = child_environ(cmd->env);
    if (!envp)
        return mk_fail(err, "%s: out of memory", prog);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        int e = errno;
        free(envp);
        return mk_fail_errno(err, e, "%s: cannot create pipe", prog);
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        free(envp);
        return mk_fail_errno(err, e, "%s: cannot start", prog);
    }
    if (pid == 0)
        child_exec(cmd, program, envp, pipefd[1], parent);
    free(envp);
    close(pipefd[1]);
    child->pid = pid;
    child->err_fd = pipefd[0];
    return 0;
}

int disk_wait(disk_child *child, mk_err *err)
{
    const char *prog = child->name;
    char *buf = malloc(STDERR_KEEP);
    size_t used = 0;
    bool open_pipe = true;
    while (open_pipe) {
        struct pollfd p = {.fd = child->err_fd, .events = POLLIN};
        int r = poll(&p, 1, 100);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0) {
            char chunk[4096];
            ssize_t n = read(child->err_fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                open_pipe = false;
            } else if (buf) {
                size_t add = (size_t)n;
                if (used + add > STDERR_KEEP) { /* drop the oldest bytes; add <= KEEP */
                    size_t drop = used + add - STDERR_KEEP;
                    memmove(buf, buf + drop, used - drop);
                    used -= drop;
                }
                memcpy(buf + used, chunk, add);
                used += add;
            }
        }
        if (child->tick)
            child->tick(child->tick_ctx);
    }
    close(child->err_fd);
    child->err_fd = -1;
    int status;
    while (waitpid(child->pid, &status, 0) < 0) {
        if (errno != EINTR) {
            int e = errno;
            free(buf);
            child->pid = -1;
            return mk_fail_errno(err, e, "%s: cannot wait", prog);
        }
    }
    child->pid = -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        free(buf);
        return 0;
    }
    char line[512];
    bool have = buf && disk_summarize_stderr(buf, used, line, sizeof line);
    free(buf);
    if (have)
        return mk_fail(err, "%s: %s", prog, line);
    if (WIFSIGNALED(status))
        return mk_fail(err, "%s: killed by signal %d", prog, WTERMSIG(status));
    return mk_fail(err, "%s: failed with exit status %d", prog, WEXITSTATUS(status));
}

void disk_kill(disk_child *child)
{
    if (child->pid > 0) {
        kill(child->pid, SIGKILL);
        while (waitpid(child->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (child->err_fd >= 0)
        close(child->err_fd);
    child->pid = -1;
    child->err_fd = -1;
}

int disk_run(const disk_command *cmd, mk_err *err)
{
    disk_child child;
    if (disk_spawn(cmd, &child, err) < 0)
        return -1;
    return disk_wait(&child, err);
}
