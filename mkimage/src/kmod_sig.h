/* Module signatures in the initramfs.
 *
 * A signed module ends with a PKCS#7 signature, a struct module_signature and the magic
 * "~Module signature appended~\n". The kernel verifies it at every load, hashing the whole
 * module: under TCG that is about 55 ms per MB (measured: ice.ko, 1.9 MB, 0.27 s signed,
 * 0.17 s without its signature), a few hundred ms of every boot for btrfs and its
 * dependencies. The initramfs is written by mkimage from a kernel package whose checksum
 * and signature it has checked, and booted by the same host: the in-guest check adds no
 * trust, so the initramfs carries the modules without their signatures, unless the kernel
 * is built to refuse unsigned modules (CONFIG_MODULE_SIG_FORCE=y) or its config cannot be
 * read. The kernel then marks itself tainted ('E'); the rootfs keeps signed modules. */
#ifndef MKIMAGE_KMOD_SIG_H
#define MKIMAGE_KMOD_SIG_H

#include <stdbool.h>
#include <stddef.h>

#include "kernel.h"

/* The length of the module without its appended signature: len itself when it has none
 * or the trailer is inconsistent (a module the kernel would refuse either way). */
size_t kmod_unsigned_len(const unsigned char *data, size_t len);

/* Whether the kernel of k loads unsigned modules: its boot/config-VER is readable and
 * does not set CONFIG_MODULE_SIG_FORCE=y. */
bool kmod_kernel_loads_unsigned(const kernel_tree *k);

#endif
