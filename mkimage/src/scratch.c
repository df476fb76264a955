#include "scratch.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "outfile.h"

static char staging_dir[PATH_MAX]; /* OUT/.mkimage-PID: outputs before their final rename */
static char work_dir[PATH_MAX];    /* staged trees */
static struct sigaction prev_action[NSIG];

/* Removes a tree even when it holds read-only directories (a rootfs has some). */
void scratch_rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d && errno == EACCES && chmod(path, 0700) == 0)
        d = opendir(path);
    if (d) {
        struct dirent *de;
        bool chmodded = false;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char p[PATH_MAX];
            if (snprintf(p, sizeof p, "%s/%s", path, de->d_name) >= (int)sizeof p)
                continue;
            if (!chmodded && access(path, W_OK) != 0) {
                chmod(path, 0700);
                chmodded = true;
            }
            scratch_rm_tree(p);
        }
        closedir(d);
    }
    rmdir(path);
}

/* Signal path: recursive removal is not async-signal-safe, fork+exec of rm is.
 * The environment is dropped so rm runs outside fakeroot (the files belong to the
 * real user, and faked may already be gone). */
static void rm_from_handler(const char *dir)
{
    if (!dir[0])
        return;
    pid_t pid = fork();
    if (pid == 0) {
        char *const argv[] = {"rm", "-rf", "--", (char *)dir, NULL};
        char *const envp[] = {NULL};
        execve("/bin/rm", argv, envp);
        execve("/usr/bin/rm", argv, envp);
        _exit(127);
    }
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
}

static void on_signal(int sig)
{
    rm_from_handler(work_dir);
    rm_from_handler(staging_dir);
    /* outfile's handler unlinks registered temporary files and re-raises. */
    sigaction(sig, &prev_action[sig], NULL);
    raise(sig);
}

void scratch_install_signal_handlers(void)
{
    outfile_install_signal_handlers();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaction(sigs[i], &sa, &prev_action[sigs[i]]);
}

void scratch_remove(void)
{
    if (work_dir[0])
        scratch_rm_tree(work_dir);
    if (staging_dir[0])
        scratch_rm_tree(staging_dir);
    work_dir[0] = staging_dir[0] = 0;
}

/* Scratch directories of runs that died (SIGKILL) are named after their PID. */
static void remove_stale_dirs(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    size_t pl = strlen(prefix);
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, prefix, pl) != 0)
            continue;
        char *end;
        long pid = strtol(de->d_name + pl, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 ||
            errno == EPERM)
            continue;
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) < (int)sizeof p)
            scratch_rm_tree(p);
    }
    closedir(d);
}

int scratch_mkdir_p(const char *path, mk_err *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return mk_fail(err, "%s: path too long", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return mk_fail_errno(err, errno, "%s: cannot create", tmp);
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return mk_fail_errno(err, errno, "%s: cannot create", tmp);
    return 0;
}

const char *scratch_staging_dir(void)
{
    return staging_dir;
}

const char *scratch_work_dir(void)
{
    return work_dir;
}

int scratch_create(const char *out, const char *work_parent, mk_err *err)
{
    if (scratch_mkdir_p(out, err) < 0)
        return -1;
    outfile_remove_stale(out);
    remove_stale_dirs(out, ".mkimage-");
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/.mkimage-%ld", out, (long)getpid()) >= (int)sizeof dir)
        return mk_fail(err, "%s: path too long", out);
    if (mkdir(dir, 0700) < 0)
        return mk_fail_errno(err, errno, "%s: cannot create", dir);
    strcpy(staging_dir, dir);
    int n;
    if (work_parent) {
        if (scratch_mkdir_p(work_parent, err) < 0)
            return -1;
        remove_stale_dirs(work_parent, "mkimage-");
        n = snprintf(dir, sizeof dir, "%s/mkimage-%ld", work_parent, (long)getpid());
    } else {
        n = snprintf(dir, sizeof dir, "%s/work", staging_dir);
    }
    if (n < 0 || n >= (int)sizeof dir)
        return mk_fail(err, "%s: path too long", work_parent ? work_parent : out);
    if (mkdir(dir, 0700) < 0)
        return mk_fail_errno(err, errno, "%s: cannot create", dir);
    strcpy(work_dir, dir);
    return 0;
}
