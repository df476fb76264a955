/* Reading kernel modules as the guest loads them: a module file of a kernel tree
 * (plain .ko, or .ko.xz/.ko.zst/.ko.gz as distributions ship them), decompressed into
 * memory. Module files are untrusted input: sizes are bounded. */
#ifndef MKIMAGE_KMOD_READ_H
#define MKIMAGE_KMOD_READ_H

#include <stdbool.h>
#include <stddef.h>

#include "kernel.h"
#include "mkerr.h"

/* The largest module accepted, compressed or not (Linux's largest are a few tens of MB). */
#define KMOD_MAX_MODULE_BYTES (256u << 20)

/* Reads a module (path relative to modules_dir), decompressing .ko.xz/.ko.zst/.ko.gz,
 * into a malloc'ed buffer: what the guest loads with init_module/finit_module. */
int kmod_read(const kernel_tree *k, const char *relpath, unsigned char **data, size_t *len,
              mk_err *err);

/* The same for a module directory given by its path (the index knows only that). */
int kmod_read_in(const char *modules_dir, const char *relpath, unsigned char **data,
                 size_t *len, mk_err *err);

/* Whether relpath names a compressed module (".ko.xz", ".ko.zst", ".ko.gz"). */
bool kmod_is_compressed(const char *relpath);

/* The name a module has once decompressed: relpath without ".xz"/".zst"/".gz". */
void kmod_plain_path(const char *relpath, char *out, size_t outsz);

/* Reads a whole file of at most max bytes; *buf is NULL (and 0 returned) when it
 * does not exist. Shared by the module reader and the index (modules.dep...). */
int kmod_read_optional(const char *path, size_t max, char **buf, size_t *len, mk_err *err);

#endif
