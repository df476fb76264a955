/* The initramfs of an image: a cpio newc archive (written by cpio.h) holding the
 * static revm-init as /init, the directories it mounts on, /dev/console, the
 * variant's modules (decompressed, at lib/modules/VER/...) and /etc/revm-init.modules,
 * the list of modules in load order that /init reads. */
#ifndef MKIMAGE_INITRAMFS_H
#define MKIMAGE_INITRAMFS_H

#include "kernel.h"
#include "kmod_resolve.h"
#include "mkerr.h"

/* The module list file inside the initramfs: one absolute path per line. */
#define INITRAMFS_MODULES_LIST "etc/revm-init.modules"

/* Writes out_path through outfile.h (complete or absent). Identical inputs give
 * identical bytes: every entry carries mtime SOURCE_DATE_EPOCH (0 when unset),
 * uid/gid 0 and sequential inode numbers. */
int initramfs_write(const kernel_tree *k, const kmod_list *mods, const char *init_binary,
                    const char *out_path, mk_err *err);

#endif
