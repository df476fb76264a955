/* The built-in default rootfs: Void Linux's official x86_64 musl ROOTFS tarball of
 * the 20250202 live release, as published by the Void project.
 *
 * The dated directory is used rather than live/current/, which moves to the next
 * release (and then no longer holds this file).
 *
 * Verification data, any subset of which fetch_verified() checks (all that are given
 * must agree):
 * - VOID_DEFAULT_ROOTFS_SHA256: the file's SHA-256, pinned so that a run needs no
 *   checksum list and a cached copy is found with no request at all. Source: a
 *   proot-distro "Void Linux (musl)" plug-in in a public repository, which pins this
 *   file (live/current/ URL, release 20250202) with this digest. Only that one source
 *   was found and Void's own sha256sum.txt could not be read from here (no network),
 *   so the release's signed list stays the authority: passing the list, signature
 *   and key as well makes a wrong pin fail loudly ("the given SHA-256 ... differs
 *   from ... in .../sha256sum.txt") rather than go unnoticed.
 * - VOID_DEFAULT_SUMS_URL / VOID_DEFAULT_SIG_URL: the release's BSD-style
 *   sha256sum.txt and its minisign signature sha256sum.sig.
 * - VOID_DEFAULT_PUBKEY: the release key (void-release-keys, void-release-20250202.pub);
 *   equivalent check: minisign -Vm sha256sum.txt -x sha256sum.sig -P KEY. */
#ifndef MKIMAGE_VOID_DEFAULT_H
#define MKIMAGE_VOID_DEFAULT_H

#define VOID_DEFAULT_RELEASE "20250202"
#define VOID_DEFAULT_BASE_URL "https://repo-default.voidlinux.org/live/20250202"
#define VOID_DEFAULT_ROOTFS_NAME "void-x86_64-musl-ROOTFS-20250202.tar.xz"
#define VOID_DEFAULT_ROOTFS_URL VOID_DEFAULT_BASE_URL "/" VOID_DEFAULT_ROOTFS_NAME
#define VOID_DEFAULT_ROOTFS_SHA256 "27b2945ea7e2ca2a6ab123ce6f284b255adea2182820da25483d700ffe16e7c2"
#define VOID_DEFAULT_SUMS_URL VOID_DEFAULT_BASE_URL "/sha256sum.txt"
#define VOID_DEFAULT_SIG_URL VOID_DEFAULT_BASE_URL "/sha256sum.sig"
/* The kernel (void_repo.h): the newest package of this series in Void's musl
 * repository, verified with the repository key the rootfs carries. Nothing about it
 * is pinned: Void keeps only the newest build of a package. */
#define VOID_DEFAULT_REPO_URL "https://repo-default.voidlinux.org/current/musl"
#define VOID_DEFAULT_ARCH "x86_64-musl"
#define VOID_DEFAULT_KERNEL_SERIES "linux6.12"
#define VOID_DEFAULT_PUBKEY "RWT5+SoQD+dWTeOdNuc4Q/jq2+3+jpql7+JJp4WukkxTdpsZlk2EGuPj"

#endif
