/* The supervisor's side of one VM's bridge: connects to QEMU's bridge socket, says HELLO,
 * reports readiness, and serves revm clients on STATE/<vm>/client.sock by multiplexing them
 * onto the VM's one stream. Runs on its own thread so a slow or hostile guest can never block
 * the supervisor's control loop; it reports to that loop only through sup_link_event records
 * written to a pipe. */
#ifndef BRIDGE_REVMD_LINK_H
#define BRIDGE_REVMD_LINK_H

#include <stdint.h>

enum sup_link_event_kind {
    SUP_LINK_READY = 1, /* the guest answered HELLO; agent holds its self-description */
    SUP_LINK_DOWN = 2,  /* the bridge connection ended or failed; agent holds the reason */
};

typedef struct sup_link_event {
    uint32_t kind;
    uint32_t generation; /* which start of the VM this is about */
    char vm[32];         /* the VM's name */
    char agent[120];
} sup_link_event;

typedef struct sup_link sup_link;

/* Starts the link thread. It retries connecting to bridge_sock until stop or success, then
 * serves clients on client_sock until the connection ends. Events go to event_fd (a pipe). */
sup_link *sup_link_start(const char *vm, const char *bridge_sock, const char *client_sock,
                         int event_fd, uint32_t generation);

/* Stops the thread, closes every client and the bridge connection, and frees the link. */
void sup_link_stop(sup_link *l);

#endif
