/* revm-guestd core: the protocol state machine of the guest daemon, independent of where the
 * bytes come from and of how programs are started.
 *
 * The event loop (loop.c) feeds port bytes to guest_input(), child fd readiness to
 * guest_chan_event(), reaped children to guest_child_exited() and the clock to guest_tick(),
 * and writes g->out to the port. Programs are started through a guest_backend, so unit tests
 * and the fuzz target drive the whole dispatcher without fork (spawn.c is the real backend).
 *
 * Memory is bounded: per channel one stdin ring of GUEST_WINDOW bytes (the credit we grant,
 * allocated on first use), and one output queue whose producers stop at GUEST_OUTQ_SOFT. */
#ifndef BRIDGE_REVM_GUESTD_GUESTD_H
#define BRIDGE_REVM_GUESTD_GUESTD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "outq.h"
#include "proto.h"

#define GUEST_WINDOW (256u * 1024u)            /* stdin credit we grant per channel */
#define GUEST_MAX_FRAME PROTO_DEFAULT_MAX_FRAME /* largest frame we accept after HELLO */
#define GUEST_READ_CHUNK (256u * 1024u)         /* largest single read from a child */
#define GUEST_PIPE_SIZE (1024 * 1024)           /* size asked for a child's output pipes */
/* Above SOFT we stop reading children and the port; the hard cap leaves room for the control
 * frames one port read can still trigger (replies, CREDIT, EXIT/CLOSE of every channel). */
#define GUEST_OUTQ_SOFT (1u << 20)
#define GUEST_OUTQ_MAX (GUEST_OUTQ_SOFT + (4u << 20))
#define GUEST_MAX_SLOTS ((int)(2 * PROTO_MAX_CHANNELS)) /* open channels + ones still being killed */
#define GUEST_KILL_GRACE_MS 2000 /* SIGHUP, then SIGKILL this much later (PROTOCOL.md) */
/* After the program exits, output streams still held open by its descendants end at the
 * next empty read once this much time has passed, so `sh -c 'daemon &'` does not hang. */
#define GUEST_LINGER_MS 2000

enum guest_chan_state {
    GUEST_CH_RUNNING, /* open; the program may still run */
    GUEST_CH_CLOSING, /* we sent EXIT and CLOSE, waiting for the host's CLOSE */
    GUEST_CH_DETACHED /* id released; the process is being killed and reaped */
};

/* epoll tokens: kind << 32 | slot */
enum guest_token { GUEST_TK_PORT = 1, GUEST_TK_LISTEN, GUEST_TK_SIGNAL, GUEST_TK_IN,
                   GUEST_TK_OUT, GUEST_TK_ERR, GUEST_TK_POWER };

typedef struct guest_chan {
    uint32_t id;
    int state;
    int slot;
    pid_t pid;      /* > 0 until reaped */
    bool pty;
    int fd[3];      /* [0] child's stdin (or PTY master dup), [1] stdout/PTY master, [2] stderr */
    uint32_t ev[3]; /* epoll events registered for fd[i]; 0 = not registered */
    uint32_t credit[3]; /* output credit the host granted, streams 1 and 2 */
    bool eof_out[3];    /* output stream finished (EOF sent) */
    /* stdin: bytes from the host not yet written to the program */
    uint8_t *ring;
    uint32_t rhead, rlen;
    bool in_eof;     /* host sent EOF on stdin */
    bool in_discard; /* the program's stdin is gone: swallow data, return credit */
    bool in_last_nl; /* last byte written to a PTY was a newline (for VEOF) */
    bool exited;
    int status;
    int64_t linger_at; /* 0, or when lingering output streams may end */
    bool linger_expired;
    int64_t kill_at; /* 0, or when the detached process gets SIGKILL */
} guest_chan;

typedef struct guest_spawned {
    pid_t pid;
    int fd[3]; /* as in guest_chan; with a PTY fd[2] is -1 */
    bool pty;
} guest_spawned;

typedef struct guest_backend {
    /* Starts the program. 0 with *out filled, or -1 with *code (PROTO_E*) and a one-line text
     * for CH_ERROR. All returned fds must be non-blocking and close-on-exec. */
    int (*spawn)(void *ctx, const proto_exec_open *req, guest_spawned *out, uint32_t *code,
                 char *text, size_t tcap);
    /* SIGNAL from the host: the PTY's foreground process group, else the child's group. */
    void (*signal)(void *ctx, const guest_chan *c, int sig);
    /* Ending a channel: the process group (and the process) of pid. */
    void (*kill)(void *ctx, pid_t pid, int sig);
    void (*winsize)(void *ctx, const guest_chan *c, uint16_t rows, uint16_t cols);
    void *ctx;
} guest_backend;

typedef struct guestd {
    guest_backend be;
    int epfd; /* -1: do not register child fds (fuzzing) */
    const char *agent;
    int64_t now; /* monotonic ms, set by the caller before each call */
    /* connection */
    bool handshaken;
    uint32_t max_frame;   /* what we may send */
    uint32_t host_window; /* initial output credit per stream */
    uint32_t features;
    proto_reader rd;
    uint8_t *rdbuf;
    guest_outq out;
    bool paused; /* out queue above GUEST_OUTQ_SOFT: children are not read */
    bool overflow; /* the out queue hit its hard cap: the connection must be dropped */
    /* channels */
    guest_chan *slots[GUEST_MAX_SLOTS];
    int nslots; /* high-water mark of used slots */
    uint32_t nopen; /* channels holding an id (running or closing) */
} guestd;

int guest_init(guestd *g, const guest_backend *be, const char *agent, int epfd);
void guest_fini(guestd *g);
/* A new connection (or the old one is gone): end every channel, forget the handshake. */
void guest_conn_reset(guestd *g);
/* Port bytes. Returns -1 on a connection error (oversized frame, out queue overflow): the
 * caller closes the connection and calls guest_conn_reset. */
int guest_input(guestd *g, const uint8_t *p, size_t n);
void guest_chan_event(guestd *g, int kind, int slot, uint32_t events);
void guest_child_exited(guestd *g, pid_t pid, int status);
/* Runs due timers; returns ms until the next one, or -1 when none is pending. */
int64_t guest_tick(guestd *g);
/* Re-evaluates output pressure after the loop wrote to the port; true when the port should
 * not be read for now. */
bool guest_out_pressure(guestd *g);
/* Number of processes not yet reaped (for shutdown). */
int guest_live_children(const guestd *g);
/* Kills every child with sig (shutdown). */
void guest_kill_all(guestd *g, int sig);

/* internal: chan.c, called by session.c (which routes frames to channels) */
guest_chan *guest_chan_find(guestd *g, uint32_t id);
void guest_chan_open(guestd *g, uint32_t id, const uint8_t *p, size_t n);
void guest_chan_frame(guestd *g, guest_chan *c, const proto_hdr *h, const uint8_t *p);
void guest_chan_drop_all(guestd *g);
/* internal: send.c, used by session.c and chan.c. false when the frame could not be queued
 * (n == 0, or the connection is stuck and will be dropped). */
bool guest_send(guestd *g, const uint8_t *frame, size_t n);
void guest_send_error(guestd *g, uint8_t type, uint32_t chan, uint32_t code, const char *text);

/* log.c */
void guest_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool guest_log_quiet;

#endif
