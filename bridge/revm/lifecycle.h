/* VM lifecycle commands of the revm CLI, and the client side of revmd's control socket. */
#ifndef BRIDGE_REVM_LIFECYCLE_H
#define BRIDGE_REVM_LIFECYCLE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* argv[0] is one of start, stop, restart, status, list, console, logs; argv[1] an optional VM.
 * Returns the process exit code. */
int cli_lifecycle_main(int argc, char **argv);

/* Makes sure VM vm is ready, starting revmd and the VM when needed (saying so on stderr), and
 * gives the socket where its bridge serves clients. Returns 0, or -1 with a one-line err such
 * as "VM app failed to start: ...". */
int cli_vm_ready(const char *vm, char client_sock[PATH_MAX], char *err, size_t errlen);

/* Connects to revmd's control socket (spawning a per-user revmd when spawn is true); requests
 * then go through rb_ctl_request (librevm/rb_control.h). */
int cli_control_open(bool spawn, char *err, size_t errlen);

#endif
