/* Kernel module lookup and dependency resolution over a kernel_tree.
 * Dependencies come from modules.dep when the tree has one, otherwise from each
 * module's own .modinfo section ("depends="), the way depmod derives them; the
 * index of the tree is built once and reused by later calls on the same tree.
 * Soft dependencies ("softdep=pre: crypto-crc32c", needed e.g. by btrfs, which
 * otherwise asks a modprobe that the initramfs does not have) are followed too,
 * through module aliases; a soft dependency that matches nothing is skipped. */
#ifndef MKIMAGE_KMOD_H
#define MKIMAGE_KMOD_H

#include <stddef.h>

#include "kernel.h"
#include "mkerr.h"

/* Paths relative to modules_dir ("kernel/fs/btrfs/btrfs.ko"), dependency order
 * (dependencies first), no duplicates. */
typedef struct kmod_list {
    char **paths;
    size_t n;
} kmod_list;

/* Resolves module names ('-' and '_' equivalent; aliases accepted; built-in
 * modules are satisfied without a file). A missing name fails with
 * "kernel module NAME: not found in VER". out is reset first. */
int kmod_resolve(const kernel_tree *k, const char *const *names, size_t n, kmod_list *out,
                 mk_err *err);

/* Every module whose path starts with one of the prefixes ("kernel/drivers/net/"),
 * in path order, plus their dependencies. A prefix matching nothing is an error. */
int kmod_glob(const kernel_tree *k, const char *const *prefixes, size_t n, kmod_list *out,
              mk_err *err);

void kmod_list_free(kmod_list *l);

/* Reads a module (path relative to modules_dir), decompressing .ko.xz/.ko.zst/.ko.gz,
 * into a malloc'ed buffer: what the guest loads with init_module/finit_module. */
int kmod_read(const kernel_tree *k, const char *relpath, unsigned char **data, size_t *len,
              mk_err *err);

/* The name a module has once decompressed: relpath without ".xz"/".zst"/".gz". */
void kmod_plain_path(const char *relpath, char *out, size_t outsz);

/* Copies the modules (as shipped, compressed or not) into
 * ROOTFS/lib/modules/VER/ and writes modules.dep for them so that modprobe works
 * in the guest; when the host has depmod it is then run on the tree to add the
 * alias and symbol indexes. A usr-merged rootfs (lib -> usr/lib, relative or
 * absolute link) is followed inside the tree, never out of it. */
int kmod_install(const kernel_tree *k, const kmod_list *mods, const char *rootfs_dir,
                 mk_err *err);

/* The hard dependencies (transitive, load order, without the module itself) of
 * one module given by its path relative to modules_dir: what modules.dep lists. */
int kmod_deps_of(const kernel_tree *k, const char *relpath, kmod_list *out, mk_err *err);

/* Drops the cached index (tests; or after the tree changed on disk). */
void kmod_index_reset(void);

#endif
