/* Writing into a staged root tree that came from an untrusted tarball.
 * Every path is resolved INSIDE the tree (openat2 RESOLVE_IN_ROOT): an image whose
 * /etc is a symlink to "/somewhere" gets the file at TREE/somewhere, never on the
 * host. Files are replaced by writing a temporary name and renaming, which also
 * breaks any hard link the tree shares with another tree. Created entries get owner
 * root:root and the tree's epoch as mtime (reproducible images); the mtime of a
 * directory whose entries change is restored, so untouched metadata stays equal to
 * the tarball's. Every path created, replaced or removed is recorded in a changelog
 * (the report lists it; the metadata check excludes it). */
#ifndef MKIMAGE_CUSTOMIZE_FSOPS_H
#define MKIMAGE_CUSTOMIZE_FSOPS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "mkerr.h"

typedef struct changelog {
    char **paths; /* absolute in-image paths, no duplicates, in order of change */
    size_t n;
} changelog;

void changelog_add(changelog *l, const char *path);
void changelog_free(changelog *l);

typedef struct tree {
    int rootfd;
    char root[PATH_MAX];
    time_t epoch;
    changelog *log;
} tree;

int tree_open(tree *t, const char *root, time_t epoch, changelog *log, mk_err *err);
void tree_close(tree *t);

/* lstat of an in-image path (its last component is not followed). 0, or -1 with errno. */
int tree_lstat(tree *t, const char *path, struct stat *st);

/* mkdir -p (0755 root:root for the directories it creates). */
int tree_mkdirs(tree *t, const char *dir, mk_err *err);

/* Reads a regular file of at most max bytes into a NUL-terminated malloc'd buffer.
 * Returns 1 (and *data NULL) when it does not exist. */
int tree_read(tree *t, const char *path, size_t max, char **data, size_t *len, mk_err *err);

/* Replaces (or creates) path with data; parents are created. */
int tree_write(tree *t, const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
               gid_t gid, mk_err *err);

/* Copies a host file into the tree as path, root:root with mode. */
int tree_install(tree *t, const char *host_src, const char *path, mode_t mode, mk_err *err);

/* Creates (or replaces) symlink path -> target. */
int tree_symlink(tree *t, const char *path, const char *target, mk_err *err);

#endif
