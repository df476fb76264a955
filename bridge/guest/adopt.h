/* --adopt PIDFILE: runit's bridge service standing in for a daemon started before runit
 * (see adopt.c). */
#ifndef GUEST_ADOPT_H
#define GUEST_ADOPT_H

/* Lives as long as the daemon PIDFILE names, forwarding signals to it; exits when it was told
 * to stop. Returns when there is nothing (more) to adopt: the caller runs the daemon. */
void guest_adopt(const char *pidfile);

#endif
