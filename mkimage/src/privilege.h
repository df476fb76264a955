/* Running as an ordinary user while still producing root-owned images.
 * See privilege.c for the mechanism (fakeroot re-exec) and why. */
#ifndef MKIMAGE_PRIVILEGE_H
#define MKIMAGE_PRIVILEGE_H

#include <stdbool.h>

#include "mkerr.h"

/* Call first thing in main, before any other work. Returns 0 when running as root
 * or already inside a fakeroot session. Otherwise re-executes the program as
 * `fakeroot -- <this executable> argv[1..]` and does not return on success; returns
 * -1 with err when fakeroot is missing or cannot be started. */
int privilege_ensure(int argc, char **argv, mk_err *err);

/* True when running under fakeroot (FAKEROOTKEY set and euid 0). */
bool privilege_under_fakeroot(void);

#endif
