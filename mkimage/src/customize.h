/* Per-variant customization of a staged root tree, driven by the variant file:
 * installed files, runit services (created and enabled offline the Void way:
 * /etc/sv/NAME/run plus an absolute symlink in /etc/runit/runsvdir/default/),
 * hostname, fstab, locked root password and a serial-console getty.
 * Everything it changes is recorded in the changelog (see customize_fsops.h). */
#ifndef MKIMAGE_CUSTOMIZE_H
#define MKIMAGE_CUSTOMIZE_H

#include <stddef.h>
#include <time.h>

#include "customize_fsops.h"
#include "mkerr.h"
#include "variant.h"

/* Where the guest daemon and its service live in every image (guest conventions). */
#define GUESTD_IMAGE_PATH "/usr/libexec/revm/revm-guestd"
#define RUNSVDIR_DEFAULT "/etc/runit/runsvdir/default"

typedef struct customize_opts {
    const variant *v;
    const char *variants_dir;          /* install SRCs of the variant file are relative to it */
    const char *bridge;                /* host path of revm-guestd, or NULL */
    const char *const *installs;       /* --install SRC:DEST[:MODE] specs */
    size_t n_installs;
    const char *fs;                    /* root filesystem type for fstab */
    time_t epoch;                      /* mtime of created files */
} customize_opts;

int customize_tree(const char *root, const customize_opts *o, changelog *log, mk_err *err);

/* Pieces, exposed for the unit tests. */
int customize_hostname(tree *t, const char *hostname, mk_err *err);
int customize_fstab(tree *t, const char *fs, mk_err *err);
int customize_lock_root(tree *t, mk_err *err);
int customize_getty(tree *t, const char *tty, unsigned baud, mk_err *err);
int customize_enable_service(tree *t, const char *name, mk_err *err);

/* Pure text transforms used by the above. Each returns a malloc'd string or NULL. */
char *shadow_lock_root(const char *text, size_t len, int *found);
char *fstab_with_root(const char *text, size_t len, const char *fs);

#endif
