/* XDG desktop entries (.desktop files, Desktop Entry Specification 1.5), parsed in the guest
 * to list applications and again on the host before it writes launcher entries. A .desktop
 * file comes from a package inside an untrusted VM: sizes are bounded, the Exec line is split
 * into an argv (never given to a shell), and names that become file names are sanitized. */
#ifndef BRIDGE_DESKTOP_ENTRY_H
#define BRIDGE_DESKTOP_ENTRY_H

#include <stdbool.h>
#include <stddef.h>

#define DESKTOP_MAX_BYTES (64 * 1024)
#define DESKTOP_FIELD_MAX 512
#define DESKTOP_ARGV_MAX 32

typedef struct desktop_entry {
    char name[DESKTOP_FIELD_MAX];       /* localized Name, falling back to Name */
    char generic_name[DESKTOP_FIELD_MAX];
    char comment[DESKTOP_FIELD_MAX];
    char icon[DESKTOP_FIELD_MAX];       /* icon name or absolute path, as written */
    char try_exec[DESKTOP_FIELD_MAX];
    char categories[DESKTOP_FIELD_MAX];
    char only_show_in[DESKTOP_FIELD_MAX];
    char not_show_in[DESKTOP_FIELD_MAX];
    char exec_argv_buf[DESKTOP_FIELD_MAX * 2];
    const char *exec_argv[DESKTOP_ARGV_MAX + 1]; /* Exec split per the spec, field codes removed */
    size_t exec_argc;
    bool terminal, no_display, hidden, is_application;
} desktop_entry;

/* Parses text (not NUL-terminated, at most DESKTOP_MAX_BYTES). locale is like "de_DE.UTF-8"
 * or NULL. Returns 0, or -1 with a one-line reason in err ("line 7: Exec: unterminated quote"). */
int desktop_entry_parse(const char *text, size_t len, const char *locale, desktop_entry *e,
                        char *err, size_t errlen);

/* Whether a launcher should show the entry on desktop `desktop` (e.g. "Redox"): an
 * Application, not NoDisplay or Hidden, with an Exec, passing OnlyShowIn/NotShowIn. TryExec is
 * checked by the guest, where the program lives. */
bool desktop_entry_visible(const desktop_entry *e, const char *desktop);

/* Turns an untrusted id (desktop file id like "org.gnome.Foo.desktop") into a safe file name
 * part: [A-Za-z0-9._-] only, no leading '.', at most cap-1 bytes. Returns false when nothing
 * usable remains. */
bool desktop_safe_id(const char *id, char *out, size_t cap);

#endif
