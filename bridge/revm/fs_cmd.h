/* revm's filesystem commands: mount, umount, volumes (fs_cmd.c) and cp (fs_cp.c). */
#ifndef BRIDGE_REVM_FS_CMD_H
#define BRIDGE_REVM_FS_CMD_H

#include "cli.h"

struct fsc;
struct rb_svc;
/* Opens volume ("" = the volume list) of o->vm through the filesystem service, or NULL after
 * printing why. */
struct fsc *cli_fs_open(const cli_opts *o, const char *volume, struct rb_svc **svc);

int cli_cmd_mount(const cli_opts *o, int argc, char **argv);
int cli_cmd_umount(const cli_opts *o, int argc, char **argv);
int cli_cmd_volumes(const cli_opts *o, int argc, char **argv);
int cli_cmd_cp(const cli_opts *o, int argc, char **argv);

#endif
