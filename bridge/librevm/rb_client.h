/* Host side of exec sessions (PROTOCOL.md, Exec service) over one RB_HOST connection: the
 * library behind `revm PROGRAM`. Each session pipes local fds to a guest process: in_fd is
 * read and sent as stdin (only as far as the guest's credit allows), stdout/stderr DATA is
 * written to out_fd/err_fd and credit is returned only once written, so memory stays bounded
 * by the window and a stalled local reader stalls only its own session.
 *
 * Everything from the guest is untrusted; protocol violations end the session concerned (or,
 * for framing faults, the connection) with a message, never a crash or unbounded buffering.
 *
 * Event loop: n = rb_client_pollfds(c, fds, cap, &timeout); add your own fds after them;
 * poll(); rb_client_step(c, fds, n). */
#ifndef BRIDGE_LIBREVM_RB_CLIENT_H
#define BRIDGE_LIBREVM_RB_CLIENT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rb_conn.h"

typedef struct rb_client rb_client;
typedef struct rb_exec rb_exec;

typedef struct rb_exec_req {
    const char *const *argv; /* argv[0] is the program; argc 0 with login = the user's shell */
    size_t argc;
    const char *const *env; /* NAME=value, added to the guest's default environment */
    size_t envc;
    const char *cwd;  /* NULL or "" = the user's home */
    const char *user; /* NULL or "" = the daemon's user */
    bool pty, login, nopath;
    uint16_t rows, cols;
} rb_exec_req;

enum rb_exec_state {
    RB_EXEC_OPENING, /* OPEN sent */
    RB_EXEC_RUNNING, /* OPEN_OK received */
    RB_EXEC_DONE,    /* ended: see rb_exec_status */
};

typedef struct rb_exec_status {
    enum rb_exec_state state;
    uint32_t pid;
    bool exited;    /* EXIT received */
    bool signaled;  /* ... and the process was killed by signal `value` */
    bool core_dumped;
    int value;      /* exit status or signal number */
    uint32_t error; /* != 0: the session failed (wire errno, e.g. PROTO_ENOENT) */
    char text[256]; /* why it failed (guest's text or a local description) */
    int exit_code;  /* what `revm` exits with: status, 128+signal, 127/126/255 on errors */
} rb_exec_status;

/* fd: connected stream to the guest (or a multiplexer). Takes ownership. cfg NULL = defaults
 * (host agent, keepalive on). NULL with err filled on failure. */
rb_client *rb_client_new(int fd, const rb_conn_cfg *cfg, char *err, size_t errlen);
void rb_client_free(rb_client *c);
/* Peer faults that did not end anything are reported through log (may be NULL: dropped). */
void rb_client_set_log(rb_client *c, void (*log)(void *ctx, const char *msg), void *ctx);
/* HELLO exchange; blocks up to timeout_ms. 0, or -1 with err. */
int rb_client_handshake(rb_client *c, int timeout_ms, char *err, size_t errlen);
const rb_params *rb_client_params(const rb_client *c);
rb_conn *rb_client_conn(rb_client *c);

/* Opens an exec session. in_fd -1 = empty stdin; out_fd/err_fd -1 = discard. The fds stay
 * owned by the caller. NULL with err when the request cannot be encoded. */
rb_exec *rb_exec_start(rb_client *c, const rb_exec_req *r, int in_fd, int out_fd, int err_fd,
                       char *err, size_t errlen);
/* Opens a record service (PROTOCOL.md, Service channels: fs, device, window, display) as a
 * session: in_fd's bytes go to the guest helper's stdin (stream 0), its stdout to out_fd and
 * its stderr (log lines) to err_fd, with the exec session's flow control and status. */
rb_exec *rb_service_start(rb_client *c, uint16_t service, uint32_t flags, const char *arg,
                          int in_fd, int out_fd, int err_fd, char *err, size_t errlen);
void rb_exec_winsize(rb_exec *e, uint16_t rows, uint16_t cols);
void rb_exec_signal(rb_exec *e, uint32_t signo); /* Linux signal numbers */
/* Aborts the session (CLOSE: the guest hangs up the process). */
void rb_exec_close(rb_exec *e);
const rb_exec_status *rb_exec_result(const rb_exec *e);
static inline bool rb_exec_done(const rb_exec *e) { return rb_exec_result(e)->state == RB_EXEC_DONE; }

/* Fills fds (up to cap) and the poll timeout. Returns the count used. */
size_t rb_client_pollfds(rb_client *c, struct pollfd *fds, size_t cap, int *timeout_ms);
/* Handles the results of poll for the first n fds from rb_client_pollfds. Returns -1 when the
 * connection is dead (every session is then DONE with the reason). */
int rb_client_step(rb_client *c, const struct pollfd *fds, size_t n);
/* The connection's failure, or "" */
const char *rb_client_error(const rb_client *c);

#endif
