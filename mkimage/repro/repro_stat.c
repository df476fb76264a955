/* lstat-family interposers: renumber inodes in first-seen order and pin atime/ctime.
 * mkfs.btrfs 6.2 (lstat) and mke2fs 1.47 (lstat64) read the tree only through
 * these. mtime is the tarball's value and stays, unless the entry was modified by
 * the current run (see REVM_REPRO_CLAMP_AFTER in repro.h). */
#include "repro.h"

#include <fcntl.h>
#include <sys/stat.h>

static void fix(struct stat *st)
{
    const repro_config *c = repro_get();
    if (!c->active || (c->tree_dev_set && st->st_dev != c->tree_dev))
        return;
    st->st_ino = repro_map_inode(st->st_dev, st->st_ino);
    if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
        repro_note_device(st->st_ino, st->st_rdev);
    st->st_atim.tv_sec = c->epoch;
    st->st_atim.tv_nsec = 0;
    st->st_ctim.tv_sec = c->epoch;
    st->st_ctim.tv_nsec = 0;
    if (c->clamp_after && st->st_mtime >= c->clamp_after) {
        st->st_mtim.tv_sec = c->epoch;
        st->st_mtim.tv_nsec = 0;
    }
}

int lstat(const char *restrict path, struct stat *restrict st)
{
    static int (*next)(const char *, struct stat *);
    if (!next)
        next = repro_next("lstat");
    int r = next(path, st);
    if (r == 0)
        fix(st);
    return r;
}

/* On 64-bit glibc struct stat64 and struct stat are the same layout. */
int lstat64(const char *restrict path, struct stat64 *restrict st)
{
    static int (*next)(const char *, struct stat64 *);
    if (!next)
        next = repro_next("lstat64");
    int r = next(path, st);
    if (r == 0)
        fix((struct stat *)st);
    return r;
}

int fstatat(int dirfd, const char *restrict path, struct stat *restrict st, int flags)
{
    static int (*next)(int, const char *, struct stat *, int);
    if (!next)
        next = repro_next("fstatat");
    int r = next(dirfd, path, st, flags);
    if (r == 0 && (flags & AT_SYMLINK_NOFOLLOW))
        fix(st);
    return r;
}

int fstatat64(int dirfd, const char *restrict path, struct stat64 *restrict st, int flags)
{
    static int (*next)(int, const char *, struct stat64 *, int);
    if (!next)
        next = repro_next("fstatat64");
    int r = next(dirfd, path, st, flags);
    if (r == 0 && (flags & AT_SYMLINK_NOFOLLOW))
        fix((struct stat *)st);
    return r;
}
