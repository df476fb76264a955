/* Fuzzes extract_archive with arbitrary bytes as the archive (any compression, any
 * tar flavour), extracting into a fresh temporary directory that is removed after
 * each input. It must never crash, hang or write outside that directory: a marker
 * directory beside it is checked after every run. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract.h"
#include "progress.h"

static char g_base[256];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D) {
        chmod(path, 0700);
        rmdir(path);
        return 0;
    }
    unlink(path);
    return 0;
}

static void rm_tree(const char *dir)
{
    /* Directories may have been chmod-ed 0: make them traversable first. */
    chmod(dir, 0700);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Number of entries in dir other than "." and "..". */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void remove_base(void) { rm_tree(g_base); }

/* libFuzzer may end without running atexit handlers: work directories are named by
 * pid, and those of processes no longer running are removed at start. */
static void remove_stale(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        int pid;
        char path[512];
        if (sscanf(e->d_name, "fuzz_extract.%d", &pid) == 1 && pid > 0 && kill(pid, 0) < 0 &&
            errno == ESRCH) {
            snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
            rm_tree(path);
        }
    }
    closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_base[0]) {
        const char *tmp = getenv("TMPDIR");
        const char *parent =
            tmp && *tmp ? tmp : (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        remove_stale(parent);
        snprintf(g_base, sizeof g_base, "%s/fuzz_extract.%d", parent, (int)getpid());
        rm_tree(g_base);
        if (mkdir(g_base, 0700) < 0)
            abort();
        char outside[300];
        snprintf(outside, sizeof outside, "%s/outside", g_base);
        mkdir(outside, 0700);
        progress_set_quiet(true);
        atexit(remove_base);
    }
    int fd = memfd_create("archive", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    char archive[64], dest[300], outside[300];
    snprintf(archive, sizeof archive, "/proc/self/fd/%d", fd);
    snprintf(dest, sizeof dest, "%s/dest", g_base);
    snprintf(outside, sizeof outside, "%s/outside", g_base);
    if (mkdir(dest, 0755) < 0 && errno != EEXIST)
        abort();

    extract_stats st;
    mk_err err = {{0}};
    int rc = extract_archive(archive, dest, &st, &err);
    if (rc != 0 && (!err.msg[0] || strchr(err.msg, '\n')))
        abort(); /* every failure is exactly one line */
    close(fd);
    rm_tree(dest);
    /* Nothing may appear beside dest or in "outside" (the target of escape seeds). */
    if (count_entries(outside) != 0 || count_entries(g_base) != 1)
        abort();
    return 0;
}
