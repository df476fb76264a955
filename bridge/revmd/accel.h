/* Choosing KVM or TCG for a VM (profile key accel = auto|kvm|tcg). */
#ifndef BRIDGE_REVMD_ACCEL_H
#define BRIDGE_REVMD_ACCEL_H

#include <stdbool.h>

#include "profile.h"

/* Resolves SUP_ACCEL_AUTO by probing KVM (and the QEMU binary qemu with it) once per process;
 * *why says why, for `revm status`. */
enum sup_accel sup_accel_resolve(enum sup_accel wanted, const char *qemu, const char **why);

#endif
