/* Installing kernel modules into a staged root filesystem, so that the guest's
 * modprobe and udev find them: by name, by dependency and by modalias. */
#ifndef MKIMAGE_KMOD_INSTALL_H
#define MKIMAGE_KMOD_INSTALL_H

#include "kernel.h"
#include "kmod_resolve.h"
#include "mkerr.h"

/* Copies the modules (as shipped, compressed or not) and the kernel's
 * modules.builtin, modules.builtin.modinfo and modules.order into
 * ROOTFS/lib/modules/VER/, then runs the host's depmod on that directory, which
 * writes every index the guest's kmod reads (modules.dep(.bin), modules.alias(.bin),
 * modules.softdep, modules.symbols(.bin), modules.builtin(.alias).bin...). depmod
 * is required: without it the guest could load no module by name or alias.
 * A usr-merged rootfs (lib -> usr/lib, relative or absolute link) is followed
 * inside the tree, never out of it. */
int kmod_install(const kernel_tree *k, const kmod_list *mods, const char *rootfs_dir,
                 mk_err *err);

#endif
