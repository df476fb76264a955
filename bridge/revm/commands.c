/* The revm command table. A first word that names a command runs it; anything else is a
 * program to run in the VM. The lifecycle commands live in lifecycle.c (the supervisor side
 * of revm); add new subcommands here. */
#include "cli.h"

#include <string.h>

#include "fs_cmd.h"
#include "lifecycle.h"
#include "pkg.h"

static int cmd_shell(const cli_opts *o, int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "revm: usage: revm shell (takes no arguments; use revm PROGRAM ARGS...)\n");
        return 2;
    }
    (void)argv;
    return cli_exec(o, 0, NULL, true);
}

static int cmd_lifecycle(const cli_opts *o, int argc, char **argv)
{
    (void)o;
    return cli_lifecycle_main(argc, argv);
}

static int cmd_help(const cli_opts *o, int argc, char **argv)
{
    (void)o, (void)argc, (void)argv;
    cli_usage(stdout);
    return 0;
}

static const struct cli_command {
    const char *name;
    int (*run)(const cli_opts *o, int argc, char **argv);
} commands[] = {
    {"shell", cmd_shell},
    {"mux", cli_cmd_mux},
    {"help", cmd_help},
    {"start", cmd_lifecycle},
    {"stop", cmd_lifecycle},
    {"restart", cmd_lifecycle},
    {"status", cmd_lifecycle},
    {"list", cmd_lifecycle},
    {"console", cmd_lifecycle},
    {"logs", cmd_lifecycle},
    {"apt", cli_cmd_pkg}, {"pkg", cli_cmd_pkg}, /* pkg_cmd.c */
    /* the record services' front ends */
    {"volumes", cli_cmd_volumes}, {"mount", cli_cmd_mount}, /* filesystems: fs_cmd.c */
    {"umount", cli_cmd_umount}, {"cp", cli_cmd_cp},         /* fs_cmd.c, fs_cp.c */
    {"devices", cli_cmd_devices},                           /* disks and NICs: dev_cmd.c */
    {"gui", cli_cmd_gui},                                   /* windows: gui_cmd.c */
    {"displays", cli_cmd_displays},                         /* displays: disp_cmd.c */
};

int cli_dispatch(const cli_opts *o, int argc, char **argv)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[0], commands[i].name))
            return commands[i].run(o, argc, argv);
    return cli_exec(o, argc, argv, false);
}
