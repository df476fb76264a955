/* The FUSE low-level operations of revm-fuse: each one turns into filesystem-service requests
 * through the portable client (fs/fsc.h). */
#ifndef REVM_FUSE_OPS_H
#define REVM_FUSE_OPS_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse_lowlevel.h>

#include "fsc.h"

typedef struct revm_fuse {
    fsc *c;
    uint64_t max_dir_entries; /* per open directory: beyond it READDIR fails with EIO */
} revm_fuse;

extern const struct fuse_lowlevel_ops revm_fuse_ops;

#endif
