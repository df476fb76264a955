/* The index of a kernel tree's modules: every module file under modules_dir (found
 * by walking it), their dependencies (from modules.dep when the tree has one,
 * otherwise from each module's own .modinfo "depends=", the way depmod derives
 * them), soft dependencies, the built-in list (modules.builtin) and module aliases
 * (modules.alias, or every module's .modinfo "alias=" when there is none).
 *
 * An explicit object: open it once per kernel tree and pass it to the resolver
 * (kmod_resolve.h); nothing is cached behind the caller's back. Per-module metadata
 * and the aliases are read lazily, on first need, so resolving a few modules in a
 * tree of thousands stays cheap. Not thread-safe (mkimage is single-threaded). */
#ifndef MKIMAGE_KMOD_INDEX_H
#define MKIMAGE_KMOD_INDEX_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "kernel.h"
#include "mkerr.h"

/* Longer names are not module names: they are skipped, never truncated. */
#define KMOD_NAME_LEN 256

typedef struct kmod_strvec {
    char **v;
    size_t n, cap;
} kmod_strvec;

typedef struct kmod_mod {
    char *name; /* normalised: '-' -> '_' */
    char *path; /* relative to modules_dir */
    bool info_loaded, deps_from_file;
    kmod_strvec deps, pre, post; /* module names: hard, soft "pre:" and soft "post:" */
} kmod_mod;

typedef struct kmod_alias {
    char *alias, *mod; /* both normalised */
} kmod_alias;

typedef struct kmod_index {
    char dir[PATH_MAX];
    char version[128];
    kmod_mod *mods; /* sorted by name; same name twice: the one modprobe prefers first */
    size_t n;
    kmod_strvec builtin; /* sorted */
    kmod_alias *aliases; /* sorted by alias, then module; see kmod_index_load_aliases */
    size_t naliases, cap_aliases;
    bool aliases_loaded;
} kmod_index;

/* Walks k->modules_dir and reads modules.builtin and modules.dep. NULL with err set
 * on failure. */
kmod_index *kmod_index_open(const kernel_tree *k, mk_err *err);
void kmod_index_free(kmod_index *ix);

/* The module modprobe would load for a normalised name, or NULL. */
kmod_mod *kmod_index_find(const kmod_index *ix, const char *name);

/* Whether a normalised name is built into the kernel (modules.builtin). */
bool kmod_index_is_builtin(const kmod_index *ix, const char *name);

/* Reads m's .modinfo once: its dependencies (unless modules.dep gave them) and
 * soft dependencies. */
int kmod_index_load_info(kmod_index *ix, kmod_mod *m, mk_err *err);

/* Fills ix->aliases once (literal aliases only: "fs-btrfs", "crypto-crc32c"). */
int kmod_index_load_aliases(kmod_index *ix, mk_err *err);

/* '-' -> '_', as modprobe compares names. */
void kmod_name_normalise(char *s);

#endif
