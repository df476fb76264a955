/* The local terminal and signals of revm (POSIX termios; Redox provides the same calls).
 * Everything changed here is put back on every way out: normal exit (atexit), the signals
 * revm handles (they go through the event loop and end in exit), and fatal signals (restored
 * in the handler, then re-raised). */
#ifndef BRIDGE_REVM_TERM_H
#define BRIDGE_REVM_TERM_H

#include <stdbool.h>
#include <stdint.h>

/* Raw mode on fd (a terminal), restored at exit. false when fd is not a terminal. */
bool cli_term_raw(int fd);
bool cli_term_is_raw(void);
/* Restores the terminal and file flags; async-signal-safe and idempotent. */
void cli_term_restore(void);
/* The size of the first of fds 0, 1, 2 that is a terminal; false when none is. */
bool cli_term_size(uint16_t *rows, uint16_t *cols);
/* Makes a non-terminal output fd non-blocking (so one stalled reader cannot block the event
 * loop), remembering its flags for cli_term_restore. */
void cli_nonblock(int fd);

/* Routes INT, TERM, HUP, QUIT and WINCH to a self-pipe; ignores SIGPIPE; restores the
 * terminal on fatal signals. Returns the pipe's read end, or -1. */
int cli_signals_init(void);
/* Next pending signal number from the pipe, 0 when none. */
int cli_signals_next(int fd);

#endif
