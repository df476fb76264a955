/* Decoders for kernel-module metadata found in kernel packages, which are untrusted
 * input: the ".modinfo" ELF section of a module (NUL-separated "key=value" strings:
 * depends=, softdep=, alias=, ...) and the text indexes depmod writes (modules.dep,
 * modules.alias, modules.builtin). Pure functions over memory buffers, so that the
 * fuzz target (fuzz/fuzz_modinfo.c) exercises exactly what kmod_index.c runs. */
#ifndef MKIMAGE_MODINFO_H
#define MKIMAGE_MODINFO_H

#include <stdbool.h>
#include <stddef.h>

/* Finds the .modinfo section of an ELF64 little-endian relocatable object.
 * Returns 0 and sets *sec and *sec_len (pointing into elf), or -1 when the buffer is
 * not such an object or has no .modinfo section (never reads out of bounds). */
int modinfo_section(const void *elf, size_t len, const char **sec, size_t *sec_len);

/* Calls fn for each "key=value" string of a .modinfo section. Strings without '='
 * are skipped. key/val are not NUL-terminated: use the lengths. fn returns non-zero
 * to stop early. */
typedef int (*modinfo_fn)(const char *key, size_t klen, const char *val, size_t vlen,
                          void *ctx);
void modinfo_each(const char *sec, size_t len, modinfo_fn fn, void *ctx);

/* Splits a list of module names separated by commas and/or whitespace and calls fn
 * for each non-empty one. Used for "depends=a,b". */
typedef int (*modname_fn)(const char *name, size_t len, void *ctx);
void modinfo_split(const char *s, size_t len, modname_fn fn, void *ctx);

/* Parses "softdep=pre: a b post: c d": calls fn(name, len, is_post, ctx). */
typedef int (*softdep_fn)(const char *name, size_t len, bool is_post, void *ctx);
void modinfo_softdeps(const char *s, size_t len, softdep_fn fn, void *ctx);

/* modules.dep: "kernel/x/a.ko: kernel/y/b.ko kernel/z/c.ko" per line. fn gets the
 * module path and its dependency list (the text after ':', to split with
 * modinfo_split). Malformed lines are skipped. */
typedef int (*moddep_fn)(const char *path, size_t plen, const char *deps, size_t dlen,
                         void *ctx);
void moddep_parse(const char *text, size_t len, moddep_fn fn, void *ctx);

/* modules.alias: "alias PATTERN MODNAME" per line; calls fn for the literal
 * patterns only (no shell wildcards), which is all that name lookups need. */
typedef int (*modalias_fn)(const char *alias, size_t alen, const char *mod, size_t mlen,
                           void *ctx);
void modalias_parse(const char *text, size_t len, modalias_fn fn, void *ctx);

/* modules.builtin: one module path per line ("kernel/fs/ext4/ext4.ko"); calls fn
 * with the module name (as modname_from_path makes it) of each line that names one. */
void modbuiltin_parse(const char *text, size_t len, modname_fn fn, void *ctx);

/* Module name from a path: basename without ".ko[.gz|.xz|.zst]", '-' -> '_'.
 * Returns the length written to out (NUL-terminated), or 0 when path does not
 * name a module or the name does not fit. */
size_t modname_from_path(const char *path, size_t plen, char *out, size_t outsz);

/* Length of the module suffix (".ko", ".ko.xz", ...) ending path, or 0. */
size_t modname_suffix_len(const char *path, size_t plen);

#endif
