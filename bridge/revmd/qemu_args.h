/* The one place where a launch profile becomes a QEMU command line. Pure: no I/O, so it is
 * unit-tested against a golden argument list per profile (bridge/tests/golden/). */
#ifndef BRIDGE_REVMD_QEMU_ARGS_H
#define BRIDGE_REVMD_QEMU_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "profile.h"

#define SUP_ARGV_MAX 128

typedef struct sup_argv {
    char *v[SUP_ARGV_MAX + 1]; /* NULL-terminated, for execvp */
    size_t n;
} sup_argv;

typedef struct sup_launch {
    const char *qemu;       /* binary, e.g. qemu-system-x86_64 */
    const char *state_dir;  /* per-VM runtime dir: qmp.sock, bridge.sock, console.* */
    enum sup_accel accel;   /* resolved: SUP_ACCEL_KVM or SUP_ACCEL_TCG, never AUTO */
    bool force_net_restrict;/* tests: user networking always with restrict=on */
    bool paused;            /* -S: validate the command line without running the guest */
} sup_launch;

/* Fills out (heap strings; free with sup_argv_free). Returns 0, or -1 with err filled. */
int sup_qemu_args(const sup_profile *p, const sup_launch *l, sup_argv *out, char *err,
                  size_t errlen);
void sup_argv_free(sup_argv *a);

#endif
