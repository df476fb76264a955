/* Launcher entries for VM applications on the host desktop.
 * Every entry is namespaced by VM: file names "revm-<vm>-<id>.*" and visible names
 * "<Name> (<vm> VM)", so they never collide with native applications or other VMs.
 *   xdg:   <dir>/revm-<vm>-<id>.desktop (Linux hosts; validated by desktop-file-validate)
 *   redox: <dir>/revm-<vm>-<id> in the /ui/apps manifest format (name=, binary=, icon=,
 *          category=); its binary is a launcher symlink to revm beside an .argv file, since
 *          manifests cannot carry arguments.
 * Icons are copied beside the entries as <dir>/icons/revm-<vm>-<id>.<png|svg>.
 * Everything is written to a temporary name and renamed, inside <dir> only: names come from
 * sanitized ids, never from paths the guest chose. */
#ifndef BRIDGE_REVMD_LAUNCHER_H
#define BRIDGE_REVMD_LAUNCHER_H

#include <stddef.h>
#include <stdint.h>

#include "desktop/desktop_entry.h"

enum sup_launcher_format { SUP_LAUNCHER_XDG, SUP_LAUNCHER_REDOX };

#define SUP_ICON_MAX_BYTES (1024 * 1024)

typedef struct sup_launcher {
    char dir[2048];
    enum sup_launcher_format format;
    char revm[2048]; /* the revm binary entries run */
} sup_launcher;

/* Writes (or replaces) the entry for application desktop_id of VM vm. icon may be NULL;
 * icon_ext is "png" or "svg". Returns 0, or -1 with err. */
int sup_launcher_write(const sup_launcher *l, const char *vm, const char *desktop_id,
                       const desktop_entry *e, const uint8_t *icon, size_t icon_len,
                       const char *icon_ext, char *err, size_t errlen);

/* Removes the entry (and icon) of desktop_id; absent entries are fine. */
void sup_launcher_remove(const sup_launcher *l, const char *vm, const char *desktop_id);

/* Removes every entry of VM vm (stale entries when the supervisor starts). */
void sup_launcher_clear_vm(const sup_launcher *l, const char *vm);

/* Quotes one argument for an XDG Exec value (spec quoting, then string escaping). */
size_t sup_launcher_quote_exec_arg(const char *arg, char *out, size_t cap);

#endif
