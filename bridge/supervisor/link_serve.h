/* The protocol half of a VM link, on top of the host library: the HELLO exchange that
 * defines "bridge ready", then multiplexing revm clients onto the VM's stream. */
#ifndef BRIDGE_SUPERVISOR_LINK_SERVE_H
#define BRIDGE_SUPERVISOR_LINK_SERVE_H

#include <stddef.h>

/* Sends HELLO on vm_fd and waits for the guest's (until stop_fd is readable). Fills agent with
 * the guest's self-description. Returns 0, or -1 with why filled. */
int sup_link_handshake(int vm_fd, int stop_fd, char *agent, size_t agent_cap, char *why,
                       size_t why_cap);

/* Listens on client_sock and multiplexes its clients onto vm_fd until the VM connection ends
 * or stop_fd becomes readable. Fills why with the reason it ended. */
void sup_link_serve(int vm_fd, const char *client_sock, int stop_fd, char *why, size_t why_cap);

#endif
