/* `revm apt|pkg VERB ARGS...`: one package vocabulary, translated to the guest's own package
 * manager (xbps on Void, apt on Debian/Ubuntu, apk, dnf, pacman). The translation is a data
 * table (pkg_table.c): one row per manager and verb, so adding a manager is adding rows. */
#ifndef BRIDGE_REVM_PKG_H
#define BRIDGE_REVM_PKG_H

#include <stdbool.h>
#include <stddef.h>

enum pkg_verb { PKG_INSTALL, PKG_REMOVE, PKG_UPDATE, PKG_UPGRADE, PKG_SEARCH, PKG_SHOW,
                PKG_LIST, PKG_VERB_COUNT };
enum pkg_manager { PKG_XBPS, PKG_APT, PKG_APK, PKG_DNF, PKG_PACMAN, PKG_MANAGER_COUNT };

#define PKG_ARGV_MAX 256

typedef struct pkg_command {
    const char *argv[PKG_ARGV_MAX + 1]; /* NULL-terminated; strings borrowed from the table
                                           and from the caller's arguments */
    size_t argc;
    const char *env[4];                 /* extra NAME=value for the guest, NULL-terminated */
} pkg_command;

/* "install" -> PKG_INSTALL, also the usual aliases (add, del, rm, info, ...); -1 unknown. */
int pkg_verb_parse(const char *word);
const char *pkg_verb_name(enum pkg_verb v);
const char *pkg_manager_name(enum pkg_manager m);

/* Chooses the manager from what the guest reported: its /etc/os-release ID and ID_LIKE
 * words and which manager tools exist. Tools decide (they are what will run); os-release
 * only breaks ties. Returns -1 when the guest has none of the known managers. */
int pkg_detect(const char *os_id, const char *os_id_like, const bool tool_present[PKG_MANAGER_COUNT]);

/* The tool whose presence identifies manager m (xbps-install, apt-get, apk, dnf, pacman). */
const char *pkg_probe_tool(enum pkg_manager m);

/* Builds the guest command for verb with the user's arguments (package names, search terms,
 * or options starting with '-' other than -y/--yes, passed through). assume_yes adds the
 * manager's own "yes" flag; interactive=false also adds it and sets the manager's
 * non-interactive environment. Returns 0, or -1 with err ("install needs a package name"). */
int pkg_translate(enum pkg_manager m, enum pkg_verb verb, const char *const *args, size_t nargs,
                  bool assume_yes, bool interactive, pkg_command *out, char *err, size_t errlen);

/* `revm apt|pkg VERB ARGS...` (pkg_cmd.c); argv[0] is "apt" or "pkg". Exit code. */
struct cli_opts;
int cli_cmd_pkg(const struct cli_opts *o, int argc, char **argv);

#endif
