/* The runtime state directory that revmd and its clients (revm, service front ends) share,
 * and its layout: STATE/control.sock (revm <-> revmd, PROTOCOL.md "Control socket"),
 * STATE/revmd.pid, and per VM STATE/<vm>/: lock, qmp.sock, bridge.sock (QEMU's end of the
 * bridge port), client.sock (bridge clients, multiplexed onto the bridge), console.sock,
 * console.log, qemu.log. */
#ifndef BRIDGE_LIBREVM_RB_STATE_H
#define BRIDGE_LIBREVM_RB_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* STATE: $REVM_STATE_DIR, else /run/revm for the system instance (root with system=true),
 * else $XDG_RUNTIME_DIR/revm, else /tmp/revm-<uid>. Created 0700. */
int rb_state_dir(bool system, char out[PATH_MAX], char *err, size_t errlen);

/* Builds STATE/<vm>/<leaf> (STATE/<vm> when leaf is NULL); false when it does not fit (unix
 * socket paths are short). */
bool rb_state_vm_path(char *out, size_t cap, const char *state, const char *vm, const char *leaf);

/* Creates path 0700 if needed and checks it is a directory owned by us that nobody else can
 * enter: sockets in it are authenticated by that. 0, or -1 with err. */
int rb_state_private_dir(const char *path, char *err, size_t errlen);

#endif
