/* Kernel source for an image: a directory laid out like a root filesystem
 * (boot/vmlinuz-VER and lib/modules/VER or usr/lib/modules/VER), or a distribution
 * kernel package (Debian .deb, Void .xbps or any compressed tar with that layout).
 * Packages are untrusted: only the kernel image, its config and the module tree are
 * extracted, with path checks, into a fresh directory under work_dir. */
#ifndef MKIMAGE_KERNEL_H
#define MKIMAGE_KERNEL_H

#include <limits.h>

#include "mkerr.h"

typedef struct kernel_tree {
    char root[PATH_MAX];        /* the directory (or extracted package) */
    char vmlinuz[PATH_MAX];     /* kernel image */
    char modules_dir[PATH_MAX]; /* .../lib/modules/VER */
    char version[128];          /* VER */
} kernel_tree;

/* When the source holds several kernels, the highest version (strverscmp) that has
 * both an image and a module directory wins. */
int kernel_open(const char *src, const char *work_dir, kernel_tree *out, mk_err *err);

/* Finds the kernel in an already unpacked tree (kernel_open on a directory). */
int kernel_find_in_tree(const char *root, const char *label, kernel_tree *out, mk_err *err);

/* Package entry paths are checked with this before anything is written: returns
 * the path with leading "./" removed, or NULL when it is absolute, contains ".."
 * or empty components, or is too long. Exposed for the unit tests. */
const char *kernel_pkg_path_ok(const char *path);

#endif
