/* mkimage's command line (the contract in the team briefing): parsing and checking
 * of every option before any work starts, so a typo costs nothing. */
#ifndef MKIMAGE_CLI_H
#define MKIMAGE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkerr.h"

#ifndef REVM_VERSION
#define REVM_VERSION "0.0.0"
#endif
#define MKIMAGE_VERSION REVM_VERSION
#define CLI_MAX_VARIANTS 16
#define CLI_MAX_INSTALLS 64

typedef struct cli_opts {
    const char *variants[CLI_MAX_VARIANTS]; /* "all" expanded, no duplicates */
    size_t n_variants;
    const char *rootfs, *sha256, *sums, *sig, *pubkey, *kernel, *bridge;
    /* The repository kernel, used when kernel is NULL (defaults: void_default.h). */
    const char *void_repo, *kernel_series, *void_arch;
    const char *installs[CLI_MAX_INSTALLS]; /* SRC:DEST[:MODE], syntax checked */
    size_t n_installs;
    const char *variants_dir, *cache, *work, *fs, *out;
    uint64_t size;
    long connect_timeout, stall_timeout; /* 0: fetch defaults */
    int retries;                         /* fetch_request convention: 0 default, < 0 none */
    bool quiet;
} cli_opts;

extern const char cli_usage[];

/* Fills o from argv (pointers into argv). Returns 0 to run, 1 when --help or
 * --version was printed, -1 with err for bad arguments. Without --rootfs, the
 * built-in Void default and its pinned SHA-256 are used; without --kernel, the
 * repository kernel (void_repo.h). */
int cli_parse(int argc, char **argv, cli_opts *o, mk_err *err);

/* "5G", "512M", "1GiB" -> bytes; -1 when malformed. */
int cli_parse_size(const char *s, uint64_t *out);

#endif
