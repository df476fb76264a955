/* The supervisor's per-VM lock. The state directory's layout, which revm and the service
 * front ends share, is in the host library: librevm/rb_state.h. */
#ifndef BRIDGE_REVMD_STATE_H
#define BRIDGE_REVMD_STATE_H

#include <stddef.h>

/* Creates STATE/<vm> and takes its lock (flock on STATE/<vm>/lock, held while fd stays open).
 * Fails with "VM NAME is locked by another supervisor (pid N)". Returns the lock fd or -1. */
int sup_vm_lock(const char *state, const char *vm, char *err, size_t errlen);

#endif
