/* Global options of revm. Parsing stops at the first non-option word so that the program's
 * own options pass through untouched: `revm ls -l /` runs `ls -l /`. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_usage(FILE *out)
{
    fputs("usage: revm [OPTIONS] PROGRAM [ARGS...]   run PROGRAM in a Linux VM\n"
          "       revm [OPTIONS] shell                 open the VM's login shell\n"
          "       revm start|stop|restart|status|list|console|logs [VM]\n"
          "       revm apt|pkg install|remove|update|upgrade|search|show|list [ARGS...]\n"
          "                                            packages, in the VM's own package manager\n"
          "       revm [--vm driver] displays          the VM's display connectors and their modes\n"
          "       revm devices [VM] [--watch]           disks and NICs the driver VM offers the host\n"
          "       revm devices attach --all DIR | [--block NAME=NBD_SOCKET]... [--net NAME=TAP]...\n"
          "                                            serve them as NBD exports and TAP interfaces\n"
          "       revm gui [--display :N] [PROGRAM [ARGS...]]\n"
          "                                            PROGRAM's windows as host windows\n"
          "       revm [--vm VM] volumes               the VM's filesystem volumes\n"
          "       revm [--vm VM] mount [--ro] [--nosymfollow] [VOLUME] [DIR]\n"
          "                                            a volume (default: root, the VM's /) as a\n"
          "                                            FUSE mount on DIR (default: STATE/mnt/VM/VOLUME)\n"
          "       revm umount DIR                      end such a mount\n"
          "       revm cp [-r] SRC... DST              copy between the host and a VM; VM:PATH\n"
          "                                            names a path in a VM (revm cp app:/etc/os-release .)\n"
          "\n"
          "PROGRAM runs in the VM with stdin, stdout and stderr streamed separately; revm\n"
          "exits with its exit status (128+N when it was killed by signal N). When stdin and\n"
          "stdout are terminals the program gets a pseudo-terminal in the VM (the local one\n"
          "in raw mode, window size changes passed on); otherwise Ctrl-C is sent as SIGINT.\n"
          "\n"
          "options:\n"
          "  --vm NAME         VM to use (default: app)\n"
          "  --socket PATH     talk to the bridge at PATH directly (also $REVM_SOCKET)\n"
          "  -t                always allocate a pseudo-terminal\n"
          "  -T                never allocate a pseudo-terminal\n"
          "  -e NAME=VALUE     add to the program's environment (repeatable)\n"
          "  -C, --cwd DIR     working directory in the VM (default: the user's home)\n"
          "  -u, --user NAME   run as this user in the VM\n"
          "  -v                report every protocol fault of the VM (also $REVM_DEBUG)\n"
          "  -h, --help        this help\n"
          "\n"
          "exit status: the program's; 126/127 when it cannot be run, 255 when the VM\n"
          "cannot be reached or the bridge fails.\n",
          out);
}

/* Value of an option that takes one: "--opt VALUE" or "--opt=VALUE". */
static const char *value(int argc, char **argv, int *i, const char *name)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (a[n] == '=')
        return a + n + 1;
    if (*i + 1 >= argc) {
        fprintf(stderr, "revm: option %s needs a value (see revm --help)\n", name);
        return NULL;
    }
    return argv[++*i];
}

/* The supervisor's rule for profile names (a VM name is also its state directory's name),
 * checked here too so that a bad --vm is reported as such, not as a VM that is missing. */
static bool vm_name_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 31 || v[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '-'))
            return false;
    return true;
}

static bool is(const char *a, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(a, name, n) && (a[n] == 0 || (a[n] == '=' && name[1] == '-'));
}

int cli_parse(int argc, char **argv, cli_opts *o, bool *help)
{
    *help = false;
    o->vm = "app";
    const char *env = getenv("REVM_SOCKET");
    o->socket = env && *env ? env : NULL;
    o->verbose = getenv("REVM_DEBUG") && *getenv("REVM_DEBUG");
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i], *v;
        if (a[0] != '-' || !strcmp(a, "-"))
            break;
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cli_usage(stdout);
            *help = true;
            return argc;
        } else if (!strcmp(a, "-t")) {
            o->pty = CLI_PTY_FORCE;
        } else if (!strcmp(a, "-T")) {
            o->pty = CLI_PTY_NO;
        } else if (!strcmp(a, "-v")) {
            o->verbose = true;
        } else if (is(a, "--vm")) {
            if (!(v = value(argc, argv, &i, "--vm")))
                return -1;
            if (!vm_name_ok(v)) {
                fprintf(stderr, "revm: --vm %s: not a VM name (a-z, 0-9 and '-', at most 31)\n",
                        v);
                return -1;
            }
            o->vm = v;
        } else if (is(a, "--socket")) {
            if (!(o->socket = value(argc, argv, &i, "--socket")))
                return -1;
        } else if (is(a, "-e") || is(a, "--env")) {
            if (!(v = value(argc, argv, &i, a[1] == '-' ? "--env" : "-e")))
                return -1;
            if (!strchr(v, '=') || v[0] == '=') {
                fprintf(stderr, "revm: -e %s: expected NAME=VALUE\n", v);
                return -1;
            }
            if (o->envc == CLI_MAX_ENV) {
                fprintf(stderr, "revm: too many -e options (at most %d)\n", CLI_MAX_ENV);
                return -1;
            }
            o->env[o->envc++] = v;
        } else if (is(a, "-C") || is(a, "--cwd")) {
            if (!(o->cwd = value(argc, argv, &i, a[1] == '-' ? "--cwd" : "-C")))
                return -1;
        } else if (is(a, "-u") || is(a, "--user")) {
            if (!(o->user = value(argc, argv, &i, a[1] == '-' ? "--user" : "-u")))
                return -1;
        } else {
            fprintf(stderr, "revm: unknown option %s (see revm --help)\n", a);
            return -1;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "revm: no program given (see revm --help)\n");
        return -1;
    }
    return i;
}
