/* What makes an image a function of its inputs: the seed of a variant's disk (a
 * digest of every input, from which the filesystem's UUIDs and the like derive, so
 * identical inputs give a bit-identical image and any change gives new UUIDs), and
 * the epoch, the time stamp customization gives the files it writes. */
#ifndef MKIMAGE_SEED_H
#define MKIMAGE_SEED_H

#include <time.h>

#include "cli.h"
#include "kernel.h"
#include "mkerr.h"
#include "variant.h"

/* SHA-256 (hex) over mkimage's version, the rootfs digest, the variant file and the
 * files it installs, --install files, the bridge, the kernel (version and image),
 * the filesystem type and the disk size. */
int seed_compute(const cli_opts *o, const char *variants_dir, const variant *v,
                 const char *rootfs_sha256, const kernel_tree *k, char out[65], mk_err *err);

/* SOURCE_DATE_EPOCH when set, else the mtime of the extracted tarball's /etc
 * (deterministic for a given tarball), else 0. */
time_t seed_epoch(const char *base_tree);

#endif
