/* Where the supervisor keeps runtime state, and the per-VM lock.
 * Layout: STATE/control.sock (revm <-> revmd), STATE/revmd.pid, and per VM STATE/<vm>/:
 * lock, qmp.sock, bridge.sock (QEMU's end of the bridge port), client.sock (revm clients,
 * multiplexed onto the bridge), console.sock, console.log, qemu.log. */
#ifndef BRIDGE_SUPERVISOR_STATE_H
#define BRIDGE_SUPERVISOR_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* STATE: $REVM_STATE_DIR, else /run/revm for the system instance (root with system=true),
 * else $XDG_RUNTIME_DIR/revm, else /tmp/revm-<uid>. Created 0700. */
int sup_state_dir(bool system, char out[PATH_MAX], char *err, size_t errlen);

/* Creates STATE/<vm> and takes its lock (flock on STATE/<vm>/lock, held while fd stays open).
 * Fails with "VM NAME is locked by another supervisor (pid N)". Returns the lock fd or -1. */
int sup_vm_lock(const char *state, const char *vm, char *err, size_t errlen);

/* Builds STATE/<vm>/<leaf>; false when it does not fit (unix socket paths are short). */
bool sup_vm_path(char *out, size_t cap, const char *state, const char *vm, const char *leaf);

#endif
