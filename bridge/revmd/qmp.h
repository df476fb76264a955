/* A small QMP client: enough to power a VM down cleanly, quit it, and ask its status.
 * Replies are matched as text (one JSON object per line, QMP's framing); events in between
 * are skipped. Every read is bounded in size and time. */
#ifndef BRIDGE_REVMD_QMP_H
#define BRIDGE_REVMD_QMP_H

#include <stddef.h>

/* Connects to the QMP socket and negotiates capabilities. Returns an fd or -1. */
int sup_qmp_open(const char *path, int timeout_ms, char *err, size_t errlen);

/* Runs {"execute":"<command>"} and copies the reply line into reply (may be NULL).
 * Returns 0 on a "return" reply, -1 on an "error" reply, timeout or I/O error. */
int sup_qmp_execute(int fd, const char *command, char *reply, size_t cap, int timeout_ms);

#endif
