#include "scratch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "outfile.h"

static char staging_dir[PATH_MAX]; /* OUT/.mkimage-PID: outputs before their final rename */
static char work_dir[PATH_MAX];    /* staged trees */

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

/* The janitor: a child started once the scratch directories exist. It blocks
 * reading a pipe whose write end only mkimage holds (close-on-exec, so mkfs and
 * other tools do not inherit it). However mkimage ends - success, error, SIGINT,
 * SIGKILL - the read then returns end-of-file and the janitor runs `rm -rf` on the
 * scratch directories (a no-op when mkimage already removed them).
 * Why not remove them in a signal handler: recursive removal is not
 * async-signal-safe, and even fork+exec of rm from a handler deadlocked under
 * fakeroot (the interrupted code held a lock that fork needs). The janitor starts
 * its own session and ignores SIGINT/SIGHUP/SIGTERM, so the Ctrl-C that stops
 * mkimage's process group does not stop it; rm runs with an empty environment,
 * i.e. outside fakeroot, whose daemon may be gone by then (the files belong to the
 * real user). */
static int start_janitor(mk_err *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return mk_fail_errno(err, errno, "scratch cleanup: cannot create pipe");
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return mk_fail_errno(err, e, "scratch cleanup: cannot fork");
    }
    if (pid == 0) {
        setsid();
        signal(SIGINT, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        /* Hold nothing of the caller's: a shell reading mkimage's output must see
         * end-of-file when mkimage exits, not when the janitor does. */
        int devnull = open("/dev/null", O_RDWR);
        for (int fd = 0; fd < 1024; fd++)
            if (fd != fds[0] && fd != devnull)
                close(fd);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        char c;
        while (read(fds[0], &c, 1) < 0 && errno == EINTR) {
        }
        char *const argv[] = {"rm", "-rf", "--", work_dir[0] ? work_dir : staging_dir,
                              staging_dir, NULL};
        char *const envp[] = {NULL};
        execve("/bin/rm", argv, envp);
        execve("/usr/bin/rm", argv, envp);
        _exit(127);
    }
    close(fds[0]); /* fds[1] stays open, unused, until this process ends */
    return 0;
}

void scratch_install_signal_handlers(void)
{
    /* Temporary output names are unlinked by outfile's handler; the directories
     * by the janitor once this process is gone. */
    outfile_install_signal_handlers();
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

/* Staged trees are written file by file, and on tmpfs that costs a fraction of what a
 * disk-backed filesystem does (measured on the Debian fixture: extraction 1.05x the
 * decompression floor on tmpfs, 3-5x on ext4; the whole three-variant build 5 s instead of
 * 14 s). So without --work the trees go to /dev/shm when it has room to spare: 4 GiB covers
 * a rootfs, its variant copies and an unpacked kernel package several times over. */
#define SCRATCH_TMPFS "/dev/shm"
#define SCRATCH_TMPFS_MIN_FREE (4ull << 30)

static const char *default_work_parent(void)
{
    struct statvfs vfs;
    if (statvfs(SCRATCH_TMPFS, &vfs) == 0 && access(SCRATCH_TMPFS, W_OK) == 0 &&
        (unsigned long long)vfs.f_bavail * vfs.f_frsize >= SCRATCH_TMPFS_MIN_FREE)
        return SCRATCH_TMPFS;
    return NULL; /* inside OUT */
}

int scratch_create(const char *out, const char *work_parent, mk_err *err)
{
    if (!work_parent)
        work_parent = default_work_parent();
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
    return start_janitor(err);
}
