/* The supervisor's control socket (STATE/control.sock): how `revm` asks revmd to start, stop
 * and report on VMs. Line-based text, one request per line:
 *   start VM | stop VM | restart VM | status [VM] | list | ping | shutdown
 * Replies: any number of "info: ..." or data lines, then one final "ok[ TEXT]" or
 * "error: TEXT". start and stop answer when the VM is ready / stopped (or failed).
 * Clients are authenticated by the socket's directory permissions (0700) and peer
 * credentials: only root and the supervisor's own user are served. */
#ifndef BRIDGE_REVMD_CONTROL_H
#define BRIDGE_REVMD_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include "vm.h"

#define SUP_MAX_VMS 16
#define SUP_MAX_CLIENTS 64
#define SUP_LINE_MAX 512

enum sup_wait { SUP_WAIT_NONE, SUP_WAIT_READY, SUP_WAIT_STOPPED, SUP_WAIT_RESTART };

typedef struct sup_client {
    int fd;
    char buf[SUP_LINE_MAX];
    size_t have;
    int vm;              /* index of the VM it waits on, -1 none */
    enum sup_wait wait;
} sup_client;

typedef struct sup_ctx {
    sup_vm vms[SUP_MAX_VMS];
    size_t n_vms;
    sup_client clients[SUP_MAX_CLIENTS];
    int listen_fd;
    int link_pipe[2];
    const char *qemu;
    bool quit;           /* shutdown requested: exit when every VM is stopped */
} sup_ctx;

int sup_control_listen(const char *path, char *err, size_t errlen);
void sup_control_accept(sup_ctx *c);
/* Reads and handles requests from client i; closes it on EOF or error. */
void sup_control_input(sup_ctx *c, size_t i);
/* Called after any VM state change: answers the clients waiting on that VM. */
void sup_control_vm_changed(sup_ctx *c, size_t vm);
/* Starts VM i (taking its lock); returns 0 or -1 with err. */
int sup_control_start_vm(sup_ctx *c, size_t i, char *err, size_t errlen);

#endif
