/* The multiplexer: many client connections (each speaking this same protocol, e.g. `revm`
 * processes on a unix socket) over ONE VM connection.
 *
 * - Towards the VM the mux is the host (RB_HOST): it says HELLO (repeated every second until
 *   answered: virtio-serial drops bytes written before the guest daemon opens its port), keeps
 *   the connection alive with PINGs and is the only peer the VM sees.
 * - Towards each client it plays the guest (RB_ANSWER): it answers the client's HELLO locally
 *   from the VM's negotiated parameters (version, features, max_frame, the VM's window and
 *   agent), answers PINGs, and never forwards control-channel traffic.
 * - Channels are renumbered (client ids -> mux-allocated VM ids), so clients never collide.
 * - Flow control stays end to end: stdin credit comes from the VM and is passed to the client;
 *   the VM's output is passed on only within the client's credit and the VM gets its credit
 *   back only when the client returns it. A client that stops reading stalls only its own
 *   channels; memory per channel stays bounded by the window.
 * - A client that disconnects has its channels closed towards the VM (CLOSE: the guest hangs
 *   its processes up). When the VM connection drops, every client gets CH_ERROR EIO on its
 *   channels, then GOODBYE, and is disconnected.
 * - The VM is untrusted: its frames are checked against each channel's state and credit like
 *   rb_client does (CH_ERROR EPROTO / EBADF per PROTOCOL.md); clients are checked too.
 *
 * Two ways to run it:
 *   1. Blocking, e.g. on a thread: rb_mux_run(vm_fd, listen_fd, &opts, why, sizeof why)
 *      returns when the VM connection ends or opts.stop_fd becomes readable.
 *   2. In the caller's event loop (one mux per VM):
 *        rb_mux *m = rb_mux_new(vm_fd, listen_fd, &opts, err, errlen);
 *        loop: n = rb_mux_pollfds(m, fds, cap, &timeout);   (cap >= rb_mux_pollfd_count(m))
 *              ...add your own fds after fds[n], poll()...
 *              if (rb_mux_step(m, fds, n) == RB_MUX_DOWN) { rb_mux_why(m); rb_mux_free(m); }
 *      opts.on_ready fires once when the VM's HELLO arrives (bridge ready; not at all when
 *      opts.vm_params says the handshake was done already), opts.on_down once when the VM
 *      connection ends (with the reason; not when the caller stops the mux). Both run inside
 *      rb_mux_step.
 * The mux owns vm_fd and listen_fd from rb_mux_new on (closed by rb_mux_free); it does not
 * unlink the listening socket's path. Clients are not accepted before the VM is ready.
 * Limits: PROTO_MAX_CHANNELS channels on the VM link, a quarter of them per client,
 * max_clients clients; a VM that stops reading while its queue passes 256 MiB is cut off. */
#ifndef BRIDGE_LIBREVM_RB_MUX_H
#define BRIDGE_LIBREVM_RB_MUX_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "rb_conn.h"

typedef struct rb_mux rb_mux;

typedef struct rb_mux_opts {
    const char *agent;   /* our HELLO agent towards the VM; NULL = "revm mux 0.1" */
    uint32_t window;     /* credit we grant the VM per channel stream; 0 = default */
    uint32_t max_frame;  /* largest frame we accept from the VM; 0 = default */
    int handshake_timeout_ms; /* 0 = wait forever for the VM's HELLO */
    int stop_fd;         /* rb_mux_run only: returns when readable; -1 = none */
    size_t max_clients;  /* 0 = 256 */
    /* The VM said HELLO: version, features and agent are in params. */
    void (*on_ready)(void *ctx, const rb_params *params);
    /* The VM connection ended (once). */
    void (*on_down)(void *ctx, const char *why);
    /* Faults of the VM or of clients that did not end the VM connection. */
    void (*log)(void *ctx, const char *msg);
    void *ctx;
    /* Already-done handshake: when non-NULL the mux does not send HELLO itself and takes
     * these parameters (e.g. after rb_conn_handshake on the same fd, for a supervisor that
     * waits for readiness first). */
    const rb_params *vm_params;
} rb_mux_opts;

enum rb_mux_state { RB_MUX_HANDSHAKE = 0, RB_MUX_READY = 1, RB_MUX_DOWN = 2 };

rb_mux *rb_mux_new(int vm_fd, int listen_fd, const rb_mux_opts *o, char *err, size_t errlen);
void rb_mux_free(rb_mux *m);
/* Upper bound on the fds rb_mux_pollfds fills right now. */
size_t rb_mux_pollfd_count(const rb_mux *m);
size_t rb_mux_pollfds(rb_mux *m, struct pollfd *fds, size_t cap, int *timeout_ms);
int rb_mux_step(rb_mux *m, const struct pollfd *fds, size_t n); /* enum rb_mux_state */
/* Adds a client connected some other way than listen_fd (listen_fd may then be -1), e.g. a
 * socketpair or a Redox scheme handle. Takes the fd; -1 (fd closed) before the VM is ready
 * or at max_clients. */
int rb_mux_add_client(rb_mux *m, int fd);
enum rb_mux_state rb_mux_state(const rb_mux *m);
const char *rb_mux_why(const rb_mux *m); /* why it went down, "" while up */
size_t rb_mux_clients(const rb_mux *m);
size_t rb_mux_channels(const rb_mux *m);

/* Blocking loop (see above). Returns 0 when stopped through stop_fd, -1 when the VM
 * connection ended or failed (why filled either way). */
int rb_mux_run(int vm_fd, int listen_fd, const rb_mux_opts *o, char *why, size_t why_cap);

#endif
