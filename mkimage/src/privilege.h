/* Running as an ordinary user while still producing root-owned images.
 * See privilege.c for the mechanism (fakeroot re-exec) and why. */
#ifndef MKIMAGE_PRIVILEGE_H
#define MKIMAGE_PRIVILEGE_H

#include <stdbool.h>

#include "mkerr.h"

/* Call first thing in main, before any other work (and before starting threads).
 * Returns 0 when running as root or already inside a fakeroot session. Otherwise
 * runs `fakeroot -- <this executable> argv[1..]` as a child, waits for it and exits
 * with its status (never returns); an interruption of this process (SIGINT, SIGTERM,
 * SIGHUP, even SIGKILL) makes the child clean up and stop. Returns -1 with err when
 * fakeroot is missing or cannot be started. Install cleanup handlers for SIGTERM
 * after this call: the child is stopped with SIGTERM. */
int privilege_ensure(int argc, char **argv, mk_err *err);

/* True when running under fakeroot (FAKEROOTKEY set and euid 0). */
bool privilege_under_fakeroot(void);

#endif
