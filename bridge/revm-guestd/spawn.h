/* The real exec backend: fork/exec with pipes or a PTY, user switch, PATH search, and exec
 * failures reported through a close-on-exec pipe (so "no such program" is a CH_ERROR, not
 * a bogus exit code). */
#ifndef BRIDGE_REVM_GUESTD_SPAWN_H
#define BRIDGE_REVM_GUESTD_SPAWN_H

#include "guestd.h"

extern const guest_backend guest_spawn_backend;

#endif
