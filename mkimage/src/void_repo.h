/* The default kernel: the newest package of a kernel series (linux6.12) from Void's
 * signed package repository, verified with nothing pinned but the rootfs release key:
 *
 *   1. REPO/ARCH-repodata (cached by URL): index.plist and index-meta.plist;
 *   2. the repository key named by index-meta.plist must be one the rootfs trusts:
 *      ROOTFS/var/db/xbps/keys/<fingerprint>.plist, a file of the tarball whose digest
 *      the minisign-signed checksum list covers; that file's key is the one used;
 *   3. the newest SERIES entry for ARCH; its signature REPO/PKGVER.ARCH.xbps.sig2
 *      (small, cached by URL) first, so a missing one costs no package download;
 *   4. REPO/PKGVER.ARCH.xbps, fetched like the rootfs (cache keyed by the index's
 *      filename-sha256, resume, progress) and checked against that digest;
 *   5. the signature must be the key's RSA signature of the package (xbps_sig.h).
 * The index itself carries no signature in xbps 0.59 (only the packages do): a mirror
 * can offer an older signed build, never an unsigned or foreign one.
 * A cached index is reused (no request, offline builds); when the package it names is
 * gone from the mirror (Void keeps only the newest build), the index is fetched again
 * once. A package whose signature fails is removed from the cache; a cached signature
 * that fails is fetched again once.
 * Note: xbps's development branch adds minisign (Ed25519) signatures; Void's mirrors
 * still publish RSA .sig2 (the scheme xbps 0.59 verifies). */
#ifndef MKIMAGE_VOID_REPO_H
#define MKIMAGE_VOID_REPO_H

#include <limits.h>

#include "fetch.h"
#include "mkerr.h"
#include "xbps_index.h"
#include "xbps_sig.h"

typedef struct void_repo_request {
    const char *repo;        /* base URL (http(s), file:// or a path), no trailing '/' needed */
    const char *arch;        /* "x86_64-musl" */
    const char *series;      /* package name, "linux6.12" */
    const char *rootfs_tree; /* the extracted, verified rootfs */
    const fetch_request *net; /* cache directory and network settings (url unused) */
} void_repo_request;

typedef struct void_repo_kernel {
    xbps_pkg pkg;
    char url[PATH_MAX];
    char key_fp[XBPS_FP_LEN + 1];
    fetch_result file; /* the verified package: path, sha256, blake3, size */
} void_repo_kernel;

int void_repo_fetch_kernel(const void_repo_request *rq, void_repo_kernel *out, mk_err *err);

#endif
