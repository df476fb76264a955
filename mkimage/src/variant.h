/* Variant data files: what makes the driver, filesystem and app images differ.
 * A variant is an INI file (parsed with inih) in the variants directory, one per
 * variant, named NAME.ini. Nothing about a variant is hard-coded in C; see
 * mkimage/variants/README.md for the keys. The files are input the user may edit,
 * so the parser bounds every length and count and rejects unknown keys, and is
 * fuzzed (fuzz/fuzz_variant.c). */
#ifndef MKIMAGE_VARIANT_H
#define MKIMAGE_VARIANT_H

#include <stdbool.h>
#include <stddef.h>

#include "mkerr.h"

#define VARIANT_NAME_MAX 31        /* [a-z][a-z0-9_-]* */
#define VARIANT_FILE_MAX (64 * 1024)
#define VARIANT_LIST_MAX 512       /* items per list */
#define VARIANT_ITEM_MAX 255       /* bytes per list item */

typedef struct strlist {
    char **v;
    size_t n;
} strlist;

typedef struct variant {
    char name[VARIANT_NAME_MAX + 1];
    char hostname[64];
    char description[128];
    char console_tty[32];       /* serial getty device, "" for none */
    unsigned console_baud;
    bool lock_root;             /* replace root's password by "!" */
    strlist initramfs_modules;  /* module names the initramfs loads (plus deps) */
    strlist rootfs_modules;     /* module names or patterns under lib/modules/VER */
    strlist keep;               /* absolute glob patterns of rootfs paths to keep */
    strlist drop;               /* absolute glob patterns removed even if kept */
    strlist enable;             /* runit services to enable */
    strlist install;            /* "SRC:DEST[:MODE]", SRC relative to the variants dir */
} variant;

/* True when name is a valid variant name: [a-z][a-z0-9_-]{0,30}. */
bool variant_name_valid(const char *name);

/* Parses a variant file held in memory. origin names it in error messages
 * ("driver.ini"). On success out owns its lists (variant_free). On error out is
 * left freed and err says "variant ORIGIN:LINE: reason". */
int variant_parse(const char *text, size_t len, const char *origin, variant *out, mk_err *err);

/* Reads DIR/NAME.ini. NAME must be valid; a missing file is "variant NAME: unknown". */
int variant_load(const char *dir, const char *name, variant *out, mk_err *err);

void variant_free(variant *v);

/* Splits an install spec "SRC:DEST[:MODE]" (used by variant files and --install).
 * src/dest are copied into the given buffers; mode defaults to 0644. DEST must be
 * absolute without ".." components. */
int install_spec_parse(const char *spec, char *src, size_t src_sz, char *dest, size_t dest_sz,
                       unsigned *mode, mk_err *err);

#endif
