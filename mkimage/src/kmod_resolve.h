/* Kernel module resolution over the index of a kernel tree (kmod_index.h): which
 * module files to load, in which order, for a list of names or directories.
 * Soft dependencies ("softdep=pre: crypto-crc32c", needed e.g. by btrfs, which
 * otherwise asks a modprobe that the initramfs does not have) are followed too,
 * through module aliases; a soft dependency that matches nothing is skipped. */
#ifndef MKIMAGE_KMOD_RESOLVE_H
#define MKIMAGE_KMOD_RESOLVE_H

#include <stddef.h>

#include "kmod_index.h"
#include "mkerr.h"

/* Paths relative to modules_dir ("kernel/fs/btrfs/btrfs.ko"), dependency order
 * (dependencies first), no duplicates. */
typedef struct kmod_list {
    char **paths;
    size_t n;
} kmod_list;

/* Resolves module names ('-' and '_' equivalent; aliases accepted; built-in
 * modules are satisfied without a file). A missing name fails with
 * "kernel module NAME: not found in VER". out is reset first. The index is
 * non-const: metadata it has not read yet is read on demand. */
int kmod_resolve(kmod_index *ix, const char *const *names, size_t n, kmod_list *out,
                 mk_err *err);

/* Every module whose path starts with one of the prefixes ("kernel/drivers/net/"),
 * in path order, plus their dependencies. A prefix matching nothing is an error. */
int kmod_glob(kmod_index *ix, const char *const *prefixes, size_t n, kmod_list *out,
              mk_err *err);

/* The hard dependencies (transitive, load order, without the module itself) of
 * one module given by its path relative to modules_dir: what modules.dep lists. */
int kmod_deps_of(kmod_index *ix, const char *relpath, kmod_list *out, mk_err *err);

/* Appends the items of b missing from a (lists stay in dependency order). */
int kmod_list_merge(kmod_list *a, const kmod_list *b, mk_err *err);

void kmod_list_free(kmod_list *l);

#endif
