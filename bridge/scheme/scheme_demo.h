/* A small in-memory file scheme: the reference service for the scheme layer. It shows how an
 * adapter fills a scheme_ops table (permissions, positioned files, getdents with opaque
 * offsets, unlink of open files) and backs the unit tests and the fuzz target.
 *
 * Bounded: SCHEME_DEMO_MAX_NODES files and directories, SCHEME_DEMO_MAX_FILE bytes per file.
 * Initial content (owner uid/gid 0 unless said):
 *   hello.txt   0644  "hello, scheme\n"
 *   dir/        0755
 *   dir/a.txt   0644  "a\n"
 *   private     0600  owner uid 1000, gid 1000, "secret\n"
 *   pub/        0777  (anyone may create here) */
#ifndef BRIDGE_SCHEME_SCHEME_DEMO_H
#define BRIDGE_SCHEME_SCHEME_DEMO_H

#include <stddef.h>

#include "scheme_server.h"

#define SCHEME_DEMO_MAX_NODES 32
#define SCHEME_DEMO_MAX_FILE 65536

typedef struct scheme_demo scheme_demo;

scheme_demo *scheme_demo_new(void);
void scheme_demo_free(scheme_demo *d);
const scheme_ops *scheme_demo_ops(void);
/* Handles the service has given out and not yet seen closed (leak checks). */
size_t scheme_demo_live_handles(const scheme_demo *d);

/* Deferred answers, pipe style: with `on`, a read at or past the end of a file waits
 * (SCHEME_PENDING) until data is written there, instead of answering 0. At most
 * SCHEME_DEMO_MAX_WAITS reads wait; more answer EAGAIN. */
#define SCHEME_DEMO_MAX_WAITS 4
void scheme_demo_set_wait_for_data(scheme_demo *d, bool on);
/* Answers one waiting read whose file now has data (through scheme_server_complete). true and
 * *cqe to send, false when none is ready. Call after requests that may write. */
bool scheme_demo_poll(scheme_demo *d, scheme_server *s, scheme_cqe *cqe);
size_t scheme_demo_waiting(const scheme_demo *d);

#endif
