/* Streaming extraction of a (compressed) rootfs tarball into a staging directory.
 *
 * The archive (tar; xz, zstd, gzip, bzip2 or uncompressed, detected from the data)
 * is decompressed and written in one pass with libarchive. Everything a root
 * filesystem needs survives: file type, mode with setuid/setgid/sticky, numeric
 * uid/gid (names are never looked up on the host), mtime, symlinks, hard links,
 * device nodes, FIFOs and xattrs such as security.capability. Owners, device nodes
 * and security.* xattrs need root, or fakeroot (see privilege.h).
 *
 * Every entry passes the tarpath.h rules first (no absolute paths, no "..", nothing
 * written through a symlink); libarchive's NODOTDOT/NOABSOLUTEPATHS are a second line.
 * The first bad entry, read error or write error (ENOSPC included) stops extraction
 * with one line naming the archive or entry. The caller owns dest_dir and removes it
 * on failure: a half-extracted tree is never reported as success. */
#ifndef MKIMAGE_EXTRACT_H
#define MKIMAGE_EXTRACT_H

#include <stdint.h>

#include "mkerr.h"

typedef struct extract_stats {
    uint64_t entries, files, dirs, symlinks, hardlinks, devices, fifos;
    uint64_t bytes; /* regular file data written */
} extract_stats;

/* dest_dir must exist and be empty (so that every symlink in it comes from the
 * archive and is known to the checks). st may be NULL. Shows a progress bar on a
 * TTY (compressed bytes consumed vs the archive's size). Returns 0 or -1 with err. */
int extract_archive(const char *archive, const char *dest_dir, extract_stats *st, mk_err *err);

#endif
