/* The Redox-only part of the scheme layer: creating the scheme socket (compiled only with
 * __redox__). Serving it is scheme_loop.h. See scheme/README.md for what is verified. */
#ifndef BRIDGE_SCHEME_SCHEME_REDOX_H
#define BRIDGE_SCHEME_SCHEME_REDOX_H

/* Creates the scheme socket for `name` (":name" with O_CREAT|O_FSYNC|O_EXLOCK, as
 * redox-scheme's Socket::create does; needs uid 0): the kernel then lists /scheme/name and
 * sends its requests on the returned fd. Returns the fd or -errno. */
int scheme_redox_create(const char *name);

#endif
