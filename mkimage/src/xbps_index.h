/* Reading a Void (xbps) repository index: the "<repo>/<arch>-repodata" archive (a
 * zstd- or xz-compressed tar holding index.plist and index-meta.plist), the package
 * entries in index.plist, and Void's version order. All of it comes from a mirror:
 * sizes are bounded, every field is checked before it is used in a URL or a path.
 *
 * index.plist: a dict, package name -> dict with "pkgver" ("NAME-VERSION_REVISION"),
 * "architecture", "filename-sha256" (of the .xbps file) and "filename-size".
 * index-meta.plist: a dict with "public-key" (data: the repository's RSA public key
 * in PEM), "signature-by", "signature-type", "public-key-size". */
#ifndef MKIMAGE_XBPS_INDEX_H
#define MKIMAGE_XBPS_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "mkerr.h"

#define XBPS_INDEX_MAX (256u << 20)   /* decompressed index.plist */
#define XBPS_META_MAX (64u << 10)     /* decompressed index-meta.plist */
#define XBPS_PUBKEY_MAX 8192          /* PEM of a 4096-bit key is ~800 bytes */

typedef struct xbps_pkg {
    char name[128];    /* the index key, = NAME of pkgver */
    char pkgver[256];  /* NAME-VERSION_REVISION */
    char arch[32];
    char sha256[65];   /* lowercase hex */
    uint64_t size;     /* 0 when the index does not give it */
} xbps_pkg;

/* Compares two Void versions ("6.12.11_1", or whole pkgvers "linux6.12-6.12.11_1":
 * the text after the last '-' is compared): dotted components, numeric ones as
 * numbers (leading zeros ignored), alphabetic ones ordered before numbers as xbps
 * does ("1.0rc1" < "1.0"), then the revision after the last '_' as a number.
 * Returns <0, 0, >0. */
int xbps_cmpver(const char *a, const char *b);

/* True when s is a safe package name ([A-Za-z0-9._+-], 1..127 bytes, not starting
 * with '.' or '-'). */
int xbps_name_ok(const char *s);

/* Finds the newest package named series for arch (or "noarch") in index.plist's
 * text (modified in place: see plist.h). Errors: "not in the index", malformed
 * entries (bad pkgver, digest, ...). */
int xbps_index_find(char *index, size_t len, const char *series, const char *arch,
                    xbps_pkg *out, mk_err *err);

/* index-meta.plist's "public-key": the PEM bytes copied into pem (NUL-terminated),
 * and its "signature-by" into signer (for messages; may be NULL). Errors when the
 * repository is unsigned (empty meta, no key). */
int xbps_meta_pubkey(char *meta, size_t len, char *pem, size_t pemcap, size_t *pemlen,
                     char *signer, size_t signer_cap, mk_err *err);

/* A key file (/var/db/xbps/keys/FP.plist): its "public-key" PEM, like above. */
int xbps_keyfile_pubkey(char *keyfile, size_t len, char *pem, size_t pemcap, size_t *pemlen,
                        mk_err *err);

/* Reads the repodata archive data[0..len) (named path in errors): index.plist and
 * index-meta.plist, each into a malloc'd NUL-terminated buffer (*meta NULL when the
 * archive has none: an unsigned repository). */
#define XBPS_REPODATA_MAX (64u << 20) /* the compressed archive; Void's is ~2 MiB */
int xbps_repodata_read(const void *data, size_t len, const char *path, char **index,
                       size_t *index_len, char **meta, size_t *meta_len, mk_err *err);

#endif
