/* One supervised VM: its profile, its QEMU process and its lifecycle state machine.
 *   stopped --start--> starting --bridge HELLO--> ready --stop--> stopping --QEMU exit--> stopped
 * QEMU exiting on its own from starting/ready is a crash: reported, then restarted after a
 * back-off when the profile's restart policy says so (waiting), else the VM stays failed. */
#ifndef BRIDGE_REVMD_VM_H
#define BRIDGE_REVMD_VM_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "link.h"
#include "profile.h"

enum sup_vm_state { SUP_STOPPED, SUP_STARTING, SUP_READY, SUP_STOPPING, SUP_WAITING, SUP_FAILED };

typedef struct sup_vm {
    sup_profile prof;
    char state_dir[PATH_MAX]; /* STATE (shared), not STATE/<vm> */
    int lock_fd;
    enum sup_vm_state state;
    enum sup_accel accel;     /* resolved at start */
    const char *accel_why;
    pid_t qemu_pid;
    uint32_t generation;      /* bumped at every start, to ignore stale link events */
    long long started_ms, ready_ms, deadline_ms; /* deadline: ready, stop or restart timer */
    bool start_timed_out;     /* killed because the bridge never came up: ends failed */
    unsigned restarts;        /* consecutive unexpected exits, for the back-off */
    char agent[120];          /* guest daemon's HELLO text */
    char last_error[256];
    sup_link *link;
} sup_vm;

long long sup_now_ms(void);
const char *sup_vm_state_name(enum sup_vm_state s);

/* Starts QEMU and the bridge link. Returns 0, or -1 with err filled (state unchanged). */
int sup_vm_start(sup_vm *vm, const char *qemu, int link_event_fd, char *err, size_t errlen);
/* Asks the guest to power down (ACPI via QMP); the timer forces it after stop_timeout. */
void sup_vm_stop(sup_vm *vm);
/* Sends SIGKILL to QEMU (timeouts). */
void sup_vm_kill(sup_vm *vm);
/* QEMU exited with the given wait status; returns true when this was unexpected. */
bool sup_vm_exited(sup_vm *vm, int status);
/* A link event for this VM. */
void sup_vm_link_event(sup_vm *vm, const sup_link_event *ev);
/* Called when deadline_ms passed. Returns true when the VM should be (re)started now. */
bool sup_vm_timer(sup_vm *vm);

#endif
