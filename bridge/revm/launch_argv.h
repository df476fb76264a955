/* Launcher entries on Redox (revmd/launcher.c) cannot carry arguments: each entry's binary
 * is a symlink "revm-<vm>-<id>" to revm beside "revm-<vm>-<id>.argv" (NUL-separated arguments).
 * When revm runs under such a name, the arguments come from that file. */
#ifndef BRIDGE_REVM_LAUNCH_ARGV_H
#define BRIDGE_REVM_LAUNCH_ARGV_H

/* Rewrites *argc and *argv to argv[0] + the file's arguments + the original arguments after
 * argv[0], when argv[0]'s basename starts with "revm-" and "<argv0>.argv" exists. Returns 0
 * (rewritten or nothing to do), or -1 after printing why (unreadable or malformed file). */
int cli_launch_argv(int *argc, char ***argv);

#endif
