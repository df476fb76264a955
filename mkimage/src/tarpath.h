/* Safety rules for tar entry paths and link targets (pure: no I/O).
 *
 * A rootfs tarball is untrusted input that we extract as (fake)root. The rules:
 *  - an entry path must be relative and must not contain a ".." component;
 *  - it is normalized ("./a//b/" -> "a/b"; "./" -> "", the archive root) so that
 *    the same file is always named the same way by every later check;
 *  - no entry may be written through a symlink: once the archive has created a
 *    symlink "a", any entry "a/..." (or a hard link whose target is "a/...") is
 *    rejected, whatever the symlink points to. Writing through an in-tree symlink
 *    is never needed for a well-formed rootfs (tar stores real paths), and following
 *    it could leave the staging tree; refusing all of them keeps the rule simple.
 *  - a hard link target obeys the same rules as an entry path.
 * Symlink targets themselves are unrestricted ("/bin/busybox" is normal in a rootfs):
 * a symlink is only dangerous when something is written through it.
 * libarchive's own SECURE_* flags are applied as well; these checks come first so
 * the error names the entry and the exact reason. */
#ifndef MKIMAGE_TARPATH_H
#define MKIMAGE_TARPATH_H

#include <stdbool.h>
#include <stddef.h>

/* Longest normalized path we accept (bytes, excluding the NUL). Linux PATH_MAX is
 * 4096 including the staging directory prefix; this leaves room for it. */
#define TARPATH_MAX 3840

typedef enum tarpath_status {
    TARPATH_OK = 0,
    TARPATH_EMPTY,    /* "" (a "./" entry is fine: it normalizes to the root) */
    TARPATH_ABSOLUTE, /* starts with '/' */
    TARPATH_DOTDOT,   /* has a ".." component */
    TARPATH_TOO_LONG, /* longer than TARPATH_MAX, or a component over 255 bytes */
} tarpath_status;

/* One short phrase for an error message, e.g. "absolute path". */
const char *tarpath_reason(tarpath_status s);

/* Checks and normalizes an entry path or hard link target into out (outsz bytes,
 * at least TARPATH_MAX + 1). On TARPATH_OK out holds the normalized path, "" for
 * the archive root; otherwise out is an empty string. */
tarpath_status tarpath_normalize(const char *in, char *out, size_t outsz);

/* Entry names are untrusted: copies name into out (outsz >= 16) with control
 * characters, '"' and '\\' as \xHH, cut with "..." when long, so an error message
 * quoting it stays one readable line. NULL reads as "(unnamed)". Returns out. */
const char *tarpath_quote(const char *name, char *out, size_t outsz);

/* Whether a symlink stored at normalized path link_path with the given target,
 * resolved lexically from the link's directory, would point outside the tree.
 * Absolute targets count as outside: on the host they name the host's files.
 * Only used to word error messages; every write through a symlink is refused. */
bool tarpath_symlink_escapes(const char *link_path, const char *target);

/* The set of symlinks the archive has created so far (normalized paths). */
typedef struct tarpath_links {
    char **slots;  /* open addressing; NULL = empty, TOMBSTONE = deleted */
    size_t cap;    /* power of two */
    size_t used;   /* live + tombstones */
    size_t live;
} tarpath_links;

void tarpath_links_init(tarpath_links *s);
void tarpath_links_free(tarpath_links *s);
/* Returns 0, or -1 when out of memory. Adding an existing path is a no-op. */
int tarpath_links_add(tarpath_links *s, const char *path);
void tarpath_links_remove(tarpath_links *s, const char *path);
bool tarpath_links_has(const tarpath_links *s, const char *path);

/* If a proper prefix directory of normalized path (e.g. "a" or "a/b" for "a/b/c")
 * is a recorded symlink, copies the shortest such prefix into prefix (prefixsz
 * bytes) and returns true. */
bool tarpath_links_through(const tarpath_links *s, const char *path, char *prefix,
                           size_t prefixsz);

#endif
