/* Deriving a variant's staged tree from the base tree extracted once.
 * The variant's [rootfs] keep/drop patterns select paths (a pattern matching a
 * directory selects its subtree); the parents of selected paths, and the targets of
 * selected symlinks (followed inside the tree, e.g. /bin/sh -> dash, /lib -> usr/lib),
 * are selected too, so the result is a self-contained root.
 *
 * Why copies and not hard links: btrfs-progs 6.2 `mkfs --rootdir` stores the host's
 * link count, so a file hard-linked into another tree gets a wrong count in the image
 * (btrfs check: "link count wrong"). The base tree is therefore consumed by the LAST
 * variant (pruned in place and renamed: free for the app variant, which keeps
 * everything), and only the earlier, small variants are copied. Hard links inside
 * a copied subset stay hard links. Owners, modes, times, xattrs, devices and FIFOs
 * are copied through the same (fake)root session that extracted the base. */
#ifndef MKIMAGE_CUSTOMIZE_DERIVE_H
#define MKIMAGE_CUSTOMIZE_DERIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "mkerr.h"
#include "variant.h"

/* True when the variant keeps the whole tree (keep "/" and no drop): no walk needed. */
bool derive_keeps_all(const variant *v);

/* Builds dest (must not exist) from base. With consume, base itself is pruned and
 * renamed to dest; otherwise base is left untouched. */
int derive_tree(const char *base, const char *dest, const variant *v, bool consume, mk_err *err);

typedef struct tree_measure {
    uint64_t entries; /* every inode name below the root, the root excluded */
    uint64_t files;   /* regular files */
    uint64_t bytes;   /* sum of regular file sizes (hard links counted once) */
} tree_measure;

/* Under fakeroot, files keep their real on-disk mode while the recorded (faked) one
 * is reported by stat; a file created with mode 0000 (libarchive creates files with
 * their final mode) is then unreadable to the real user, and mkfs.btrfs, running as
 * that user, cannot copy it. This re-applies the recorded mode through fakeroot's
 * chmod, which keeps the real mode owner-readable, for every file the real user
 * cannot read. A no-op as real root. */
int tree_make_readable(const char *root, mk_err *err);

int tree_measure_dir(const char *root, tree_measure *m, mk_err *err);

#endif
