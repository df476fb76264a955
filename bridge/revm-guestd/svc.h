/* Record services (PROTOCOL.md, Service channels): fs, device, window and display. Each runs
 * as a helper process that the daemon starts through the exec machinery when the host opens
 * the service, so a service channel has the exec channel's flow control, hang-up and reaping,
 * and the helper only reads records on stdin and writes records on stdout (stderr: log lines).
 * In-daemon services are `revm-guestd --service NAME ARG` (this static binary re-executed);
 * services that need libraries the daemon must not link (X11) are external programs. */
#ifndef BRIDGE_REVM_GUESTD_SVC_H
#define BRIDGE_REVM_GUESTD_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_SVC_ARG "--service"
#define GUEST_SVC_LIBEXEC "/usr/libexec/revm"

typedef struct guest_svc {
    uint16_t service;          /* PROTO_SVC_* */
    const char *name;          /* `--service NAME` */
    int (*main)(const char *arg, uint32_t flags); /* in-daemon helper, or NULL */
    const char *program;       /* external helper (absolute path), when main is NULL */
} guest_svc;

/* The table entry for a service number, or NULL when this guest does not offer it. */
const guest_svc *guest_svc_find(uint16_t service);
const guest_svc *guest_svc_by_name(const char *name);

/* The daemon's side: turns a service OPEN request (after the u16 service) into the exec
 * request that starts the helper. false when the request is malformed. */
struct proto_exec_open;
bool guest_svc_request(const guest_svc *s, const uint8_t *p, size_t n, struct proto_exec_open *req);

/* Entry point of `revm-guestd --service NAME [ARG]` (the helper child). Exit code. */
int guest_svc_main(int argc, char **argv);

#endif
