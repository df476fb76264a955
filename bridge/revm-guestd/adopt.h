/* --adopt: runit's bridge service standing in for a daemon started before runit
 * (see adopt.c). */
#ifndef BRIDGE_REVM_GUESTD_ADOPT_H
#define BRIDGE_REVM_GUESTD_ADOPT_H

/* Lives as long as the daemon the init started early, forwarding signals to it; exits when
 * it was told to stop. Returns when there is nothing (more) to adopt: the caller runs the
 * daemon. */
void guest_adopt(void);

#endif
