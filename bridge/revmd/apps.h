/* VM applications in the host launcher. Per VM, once its bridge is ready, a thread
 * connects to the VM's client socket like any revm client, opens the desktop service
 * (PROTOCOL.md, Desktop service) and applies the guest's application events to the launcher
 * folder with sup_launcher_*. Everything in those events is untrusted: the id and the desktop
 * text are validated and re-parsed here, names come from sanitized ids only, and the entries
 * always run revm (never the guest's Exec as a host command).
 *
 * Launcher folder: $REVM_LAUNCHER_DIR, else $XDG_DATA_HOME/applications (default
 * ~/.local/share/applications) on Linux, /ui/apps on Redox. REVM_LAUNCHER_DIR=none turns the
 * feature off. Format: XDG .desktop on Linux, the /ui/apps manifest on Redox. */
#ifndef BRIDGE_REVMD_APPS_H
#define BRIDGE_REVMD_APPS_H

#include <stdbool.h>
#include <stddef.h>

#include "launcher.h"
#include "proto.h"

#define SUP_APPS_MAX 4096 /* applications remembered per VM (for the sweep at SYNC_DONE) */

/* Fills the launcher settings from the environment and revm's path (beside revmd).
 * Returns 0, or -1 when the feature is off (REVM_LAUNCHER_DIR=none, no home). */
int sup_apps_launcher(sup_launcher *l);

/* Event handling, separate from the connection so it can be tested with hostile input. */
typedef struct sup_apps_state {
    sup_launcher l;
    char vm[32];
    char (*ids)[96]; /* sanitized ids of the entries written in this session */
    size_t n;
    bool synced;
} sup_apps_state;

int sup_apps_state_init(sup_apps_state *st, const sup_launcher *l, const char *vm);
void sup_apps_state_fini(sup_apps_state *st);
/* Applies one decoded record. Returns 0, or -1 with a one-line reason in err (the application
 * was refused and has no entry; the session continues). */
int sup_apps_apply(sup_apps_state *st, const proto_app_event *ev, char *err, size_t errlen);

/* Removes every launcher entry of vm (stale entries when the supervisor starts). */
void sup_apps_clear_stale(const char *vm);

typedef struct sup_apps sup_apps;
/* Starts the thread for one VM; it reconnects with a back-off while it runs. NULL when the
 * feature is off or the thread cannot start. */
sup_apps *sup_apps_start(const char *vm, const char *client_sock);
void sup_apps_stop(sup_apps *a); /* NULL is fine */

#endif
