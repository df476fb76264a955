/* `revm apt|pkg VERB ARGS...`: finds the guest's package manager with one probe through the
 * exec channel (os-release ID/ID_LIKE and which manager tools exist), translates the verb with
 * the table (pkg_table.c) and runs the command like `revm PROGRAM` does: output streamed live,
 * a PTY when the user is at a terminal, the manager's exit code returned. When the manager
 * fails, two follow-up probes turn the usual causes into one clear line each: a package name
 * the repositories do not know, and a VM without a network route. */
#include "pkg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define PROBE_OUT 4096

static const char probe_script[] =
    "for f in /etc/os-release /usr/lib/os-release; do [ -r \"$f\" ] && { . \"$f\"; break; }; done; "
    "echo \"ID=$ID\"; echo \"ID_LIKE=$ID_LIKE\"; "
    "for t in \"$@\"; do command -v \"$t\" >/dev/null 2>&1 && echo \"TOOL=$t\"; done; true";

/* "does the repository know NAME" per manager: exit 0 when it does. */
static const char *const exists_script[PKG_MANAGER_COUNT] = {
    [PKG_XBPS] = "xbps-query -R \"$1\" >/dev/null 2>&1",
    [PKG_APT] = "apt-cache show --no-all-versions \"$1\" >/dev/null 2>&1",
    [PKG_APK] = "apk search -e \"$1\" 2>/dev/null | grep -q .",
    [PKG_DNF] = "dnf -q info \"$1\" >/dev/null 2>&1",
    [PKG_PACMAN] = "pacman -Si \"$1\" >/dev/null 2>&1",
};

static void value_of(const char *out, const char *key, char *val, size_t cap)
{
    size_t kl = strlen(key);
    val[0] = 0;
    for (const char *l = out; *l;) {
        size_t n = strcspn(l, "\n");
        if (n > kl && !strncmp(l, key, kl) && l[kl] == '=') {
            snprintf(val, cap, "%.*s", (int)(n - kl - 1), l + kl + 1);
            return;
        }
        l += n + (l[n] == '\n');
    }
}

/* The guest's manager, or -1 after printing why. */
static int detect(const cli_opts *o)
{
    const char *argv[4 + PKG_MANAGER_COUNT] = {"sh", "-c", probe_script, "revm-pkg-probe"};
    size_t argc = 4;
    for (int m = 0; m < PKG_MANAGER_COUNT; m++)
        argv[argc++] = pkg_probe_tool((enum pkg_manager)m);
    char out[PROBE_OUT], err[512];
    size_t n;
    if (cli_capture(o, argv, argc, out, sizeof out, &n, err, sizeof err) != 0) {
        fprintf(stderr, "revm: cannot find the package manager of VM %s: %s\n", o->vm,
                err[0] ? err : "probe failed");
        return -1;
    }
    char id[128], like[256];
    value_of(out, "ID", id, sizeof id);
    value_of(out, "ID_LIKE", like, sizeof like);
    bool present[PKG_MANAGER_COUNT] = {0};
    for (int m = 0; m < PKG_MANAGER_COUNT; m++) {
        char line[64];
        snprintf(line, sizeof line, "TOOL=%s\n", pkg_probe_tool((enum pkg_manager)m));
        present[m] = strstr(out, line) != NULL;
    }
    int m = pkg_detect(id, like, present);
    if (m < 0)
        fprintf(stderr, "revm: VM %s has no known package manager (%s%s; looked for xbps, apt, "
                        "apk, dnf, pacman)\n", o->vm, id[0] ? "ID=" : "no os-release", id);
    return m;
}

static bool guest_ok(const cli_opts *o, const char *script, const char *arg)
{
    const char *argv[] = {"sh", "-c", script, "revm-pkg", arg};
    char out[256], err[256];
    size_t n;
    return cli_capture(o, argv, arg ? 5 : 4, out, sizeof out, &n, err, sizeof err) == 0;
}

/* After a failure: name the packages the repositories do not know, and say when the VM has no
 * route out (then downloads cannot work). */
static void diagnose(const cli_opts *o, enum pkg_manager m, enum pkg_verb v, char **args, size_t n)
{
    if (v == PKG_INSTALL || v == PKG_SHOW)
        for (size_t i = 0; i < n; i++)
            if (args[i][0] != '-' && !guest_ok(o, exists_script[m], args[i]))
                fprintf(stderr, "revm: package not found in the repositories of VM %s: %s\n",
                        o->vm, args[i]);
    if (v == PKG_INSTALL || v == PKG_UPDATE || v == PKG_UPGRADE) {
        /* a default route is a line of /proc/net/route whose destination is 00000000 */
        if (!guest_ok(o, "awk 'NR>1 && $2==\"00000000\"{f=1} END{exit !f}' /proc/net/route "
                         "2>/dev/null || grep -q '^[^ \t]*[ \t]00000000' /proc/net/route", NULL))
            fprintf(stderr, "revm: no network in VM %s: the package manager cannot reach "
                            "remote repositories (local ones still work)\n", o->vm);
    }
}

int cli_cmd_pkg(const cli_opts *o, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: revm %s install|remove|update|upgrade|search|show|list [-y] ARGS...\n"
                "Runs the VM's own package manager (xbps, apt, apk, dnf or pacman).\n",
                argc ? argv[0] : "pkg");
        return argc < 2 ? 2 : 0;
    }
    int v = pkg_verb_parse(argv[1]);
    if (v < 0) {
        fprintf(stderr, "revm: %s: unknown package command '%s' (install, remove, update, "
                        "upgrade, search, show, list)\n", argv[0], argv[1]);
        return 2;
    }
    int m = detect(o);
    if (m < 0)
        return 255;
    bool interactive = isatty(0) && isatty(1);
    pkg_command cmd;
    char err[256];
    if (pkg_translate((enum pkg_manager)m, (enum pkg_verb)v, (const char *const *)argv + 2,
                      (size_t)argc - 2, false, interactive, &cmd, err, sizeof err) < 0) {
        fprintf(stderr, "revm: %s %s: %s\n", argv[0], argv[1], err);
        return 2;
    }
    cli_opts run = *o;
    for (size_t i = 0; cmd.env[i] && run.envc < CLI_MAX_ENV; i++)
        run.env[run.envc++] = cmd.env[i];
    int rc = cli_exec(&run, (int)cmd.argc, (char **)cmd.argv, false);
    if (rc != 0 && rc < 128)
        diagnose(o, (enum pkg_manager)m, (enum pkg_verb)v, argv + 2, (size_t)argc - 2);
    return rc;
}
