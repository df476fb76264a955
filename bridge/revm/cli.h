/* The revm command line: options shared by every command, and the command table. */
#ifndef BRIDGE_REVM_CLI_H
#define BRIDGE_REVM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CLI_MAX_ENV 64

enum cli_pty { CLI_PTY_AUTO, CLI_PTY_FORCE, CLI_PTY_NO };

typedef struct cli_opts {
    const char *vm;     /* --vm NAME, default "app" */
    const char *socket; /* --socket PATH or $REVM_SOCKET: talk to this bridge directly */
    enum cli_pty pty;   /* -t / -T */
    const char *cwd, *user;
    const char *env[CLI_MAX_ENV];
    size_t envc;
    bool verbose;       /* -v or $REVM_DEBUG: report every protocol fault */
} cli_opts;

/* Parses the global options before the command; returns the index of the first argument
 * that is not an option (the command or program), or -1 after printing a usage error.
 * Returns argc for --help (after printing help). */
int cli_parse(int argc, char **argv, cli_opts *o, bool *help);
void cli_usage(FILE *out);

/* Runs argv[0..argc) in the VM (login shell when login and argc == 0). Exit code. */
int cli_exec(const cli_opts *o, int argc, char **argv, bool login);

/* A connected stream to the bridge of o->vm: --socket / $REVM_SOCKET, else the supervisor's
 * client socket for the VM (starting the VM when needed). -1 after printing why. Record
 * services hand it to rb_svc_open (librevm/rb_svc.h). */
int cli_connect_bridge(const cli_opts *o);

/* out = NAME in the folder of revm's own executable (just NAME when that is unknown). */
void cli_sibling(const char *name, char *out, size_t cap);

/* Front ends of the record services: `revm devices` (dev_cmd.c), `revm gui` (gui_cmd.c),
 * `revm displays` (disp_cmd.c); the filesystem commands are in fs_cmd.h. */
int cli_cmd_devices(const cli_opts *o, int argc, char **argv);
int cli_cmd_gui(const cli_opts *o, int argc, char **argv);
int cli_cmd_displays(const cli_opts *o, int argc, char **argv);

/* `revm mux --listen PATH` (mux_cmd.c). */
int cli_cmd_mux(const cli_opts *o, int argc, char **argv);

/* Runs argv in the VM without a terminal, stdin empty, stderr discarded, and captures up to
 * cap-1 bytes of its stdout into out (NUL-terminated; *outlen bytes). For small probes (e.g.
 * reading /etc/os-release). Returns the program's exit code, or -1 with err when it could not
 * be run (bridge unreachable, no such program, ...). */
int cli_capture(const cli_opts *o, const char *const *argv, size_t argc, char *out, size_t cap,
                size_t *outlen, char *err, size_t errlen);

/* Dispatch: argv[0] is a command name or a program. Exit code. */
int cli_dispatch(const cli_opts *o, int argc, char **argv);

#endif
