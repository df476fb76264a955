# shellcheck shell=bash
# The one description of how revm's VM images are built: the pinned Void Linux inputs,
# how to override them, and the mkimage command line. Sourced (never run) by the
# variant recipes (recipes/revm/revm-image-*/recipe.toml) and by scripts/regen-images.sh,
# so the cookbook and a plain checkout build byte-for-byte the same images.
#
# Inputs, each overridable from the environment:
#   REVM_ROOTFS_URL         rootfs tarball: http(s)://, file:// or a path.
#                           Default: Void's x86_64 musl ROOTFS of the 20250202 release.
#   REVM_ROOTFS_SHA256      its SHA-256 (pinned for the default URL)
#   REVM_ROOTFS_SHA256SUMS  checksum list to look it up in (BSD or GNU format)
#   REVM_ROOTFS_SIG         minisign signature of that list
#   REVM_ROOTFS_PUBKEY      minisign public key (string or file)
#                           When REVM_ROOTFS_URL is overridden, none of the defaults of
#                           the four above apply: give the ones that fit your tarball.
#   REVM_KERNEL             kernel: a directory (boot/vmlinuz-VER, lib/modules/VER), a
#                           .deb/.xbps file, or an http(s):// URL of a package.
#                           Default: none given, mkimage takes the newest package of
#                           REVM_KERNEL_SERIES from REVM_KERNEL_REPO and verifies it
#                           with the repository key the (verified) rootfs trusts
#                           (/var/db/xbps/keys): nothing to pin, nothing to bump.
#   REVM_KERNEL_SHA256      SHA-256 of the package named by a REVM_KERNEL URL
#   REVM_KERNEL_REPO        xbps repository of the default kernel (Void's musl repo)
#   REVM_KERNEL_SERIES      its package name (linux6.12)
#   REVM_CACHE              download cache shared with mkimage
#                           (default ~/.cache/revm/mkimage, mkimage's own default)
#   REVM_IMAGE_SIZE         virtual disk size (default 5G); REVM_IMAGE_FS (btrfs)
#   REVM_VARIANTS_DIR       variant definitions (default: mkimage's own,
#                           <prefix>/lib/revm/variants)
#   COOKBOOK_OFFLINE        non-empty: use the cache only, fail clearly when it lacks
#                           an input
#
# Functions (each fails with one line "revm-images: THING: reason" on stderr):
#   revm_images_resolve           settle the inputs above (call first)
#   revm_kernel_fetch             fetch/verify a kernel URL into the cache; sets
#                                 REVM_KERNEL_PATH (a local path for mkimage)
#   revm_offline_check            with COOKBOOK_OFFLINE: every remote input is cached
#   revm_mkimage_args VARIANT OUT BRIDGE
#                                 sets the array MKIMAGE_ARGS
#   revm_image_inputs_digest VARIANT MKIMAGE BRIDGE
#                                 sets REVM_INPUTS_DIGEST: one SHA-256 over everything an image is
#                                 made from: inputs, mkimage and its data files
#                                 (<prefix>/lib/revm/{variants,revm-init,...})

# --- pins ----------------------------------------------------------------------------
# The rootfs pin is the same as mkimage's built-in default (mkimage/src/void_default.h).
REVM_VOID_RELEASE_URL=https://repo-default.voidlinux.org/live/20250202
REVM_VOID_ROOTFS_NAME=void-x86_64-musl-ROOTFS-20250202.tar.xz
REVM_VOID_ROOTFS_SHA256=27b2945ea7e2ca2a6ab123ce6f284b255adea2182820da25483d700ffe16e7c2
REVM_VOID_RELEASE_PUBKEY=RWT5+SoQD+dWTeOdNuc4Q/jq2+3+jpql7+JJp4WukkxTdpsZlk2EGuPj
# The kernel is not pinned: Void's repository keeps only the newest build of a package.
# mkimage resolves it from the signed repository (mkimage/src/void_repo.h); the trust
# anchor is the release key above, through the rootfs's /var/db/xbps/keys.
REVM_VOID_KERNEL_REPO=https://repo-default.voidlinux.org/current/musl
REVM_VOID_KERNEL_SERIES=linux6.12
REVM_VOID_KERNEL_ARCH=x86_64-musl

_revm_die() { echo "revm-images: $*" >&2; return 1; }

# The cookbook sets COOKBOOK_OFFLINE=1 only when offline; treat 0/false as online too.
_revm_offline() { case ${COOKBOOK_OFFLINE:-} in '' | 0 | false | no) return 1 ;; *) return 0 ;; esac; }

_revm_is_remote() { case $1 in http://* | https://*) return 0 ;; *) return 1 ;; esac; }

revm_images_resolve() {
  if [ -z "${REVM_ROOTFS_URL:-}" ]; then
    REVM_ROOTFS_URL=$REVM_VOID_RELEASE_URL/$REVM_VOID_ROOTFS_NAME
    REVM_ROOTFS_SHA256=${REVM_ROOTFS_SHA256:-$REVM_VOID_ROOTFS_SHA256}
    REVM_ROOTFS_SHA256SUMS=${REVM_ROOTFS_SHA256SUMS:-$REVM_VOID_RELEASE_URL/sha256sum.txt}
    REVM_ROOTFS_SIG=${REVM_ROOTFS_SIG:-$REVM_VOID_RELEASE_URL/sha256sum.sig}
    REVM_ROOTFS_PUBKEY=${REVM_ROOTFS_PUBKEY:-$REVM_VOID_RELEASE_PUBKEY}
  fi
  REVM_ROOTFS_SHA256=${REVM_ROOTFS_SHA256:-}
  REVM_ROOTFS_SHA256SUMS=${REVM_ROOTFS_SHA256SUMS:-}
  REVM_ROOTFS_SIG=${REVM_ROOTFS_SIG:-}
  REVM_ROOTFS_PUBKEY=${REVM_ROOTFS_PUBKEY:-}
  REVM_KERNEL=${REVM_KERNEL:-}
  REVM_KERNEL_SHA256=${REVM_KERNEL_SHA256:-}
  REVM_KERNEL_REPO=${REVM_KERNEL_REPO:-$REVM_VOID_KERNEL_REPO}
  REVM_KERNEL_SERIES=${REVM_KERNEL_SERIES:-$REVM_VOID_KERNEL_SERIES}
  REVM_CACHE=${REVM_CACHE:-${HOME:-/root}/.cache/revm/mkimage}
  REVM_IMAGE_SIZE=${REVM_IMAGE_SIZE:-5G}
  REVM_IMAGE_FS=${REVM_IMAGE_FS:-btrfs}
  if _revm_is_remote "$REVM_ROOTFS_URL" && [ -z "$REVM_ROOTFS_SHA256$REVM_ROOTFS_SHA256SUMS" ]; then
    _revm_die "rootfs $REVM_ROOTFS_URL: no checksum (set REVM_ROOTFS_SHA256 or REVM_ROOTFS_SHA256SUMS)"
    return 1
  fi
}

# The cache layout is mkimage's (mkimage/src/fetch_cache.h): sha256/HEX for a verified
# download, url/SHA256-OF-URL for a small file such as a checksum list.
_revm_cached_sha() { [ -f "$REVM_CACHE/sha256/$1" ]; }
_revm_url_key() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
_revm_cached_url() { [ -f "$REVM_CACHE/url/$(_revm_url_key "$1")" ]; }
# The rootfs digest: the pin, else the tarball's line in the (cached or local) list.
_revm_rootfs_sha() {
  local list=${REVM_ROOTFS_SHA256SUMS#file://} name=${REVM_ROOTFS_URL##*/}
  if [ -n "$REVM_ROOTFS_SHA256" ]; then echo "$REVM_ROOTFS_SHA256"; return; fi
  [ -n "$list" ] || return 0
  _revm_is_remote "$list" && list=$REVM_CACHE/url/$(_revm_url_key "$list")
  [ -f "$list" ] || return 0
  awk -v n="$name" '$1 == "SHA256" && $2 == "(" n ")" { print $4; exit }
    $2 == n || $2 == "*" n { print $1; exit }' "$list"
}

revm_offline_check() {
  _revm_offline || return 0
  local u
  if _revm_is_remote "$REVM_ROOTFS_URL"; then
    u=$(_revm_rootfs_sha)
    [ -n "$u" ] && _revm_cached_sha "$u" ||
      _revm_die "rootfs $REVM_ROOTFS_URL: offline and not in the cache $REVM_CACHE (run once online, or set REVM_ROOTFS_URL to a local file)" || return 1
  fi
  for u in "$REVM_ROOTFS_SHA256SUMS" "$REVM_ROOTFS_SIG"; do
    if [ -n "$u" ] && _revm_is_remote "$u" && ! _revm_cached_url "$u"; then
      _revm_die "$u: offline and not in the cache $REVM_CACHE" || return 1
    fi
  done
  if _revm_is_remote "$REVM_KERNEL"; then
    [ -n "$REVM_KERNEL_SHA256" ] && _revm_cached_sha "$REVM_KERNEL_SHA256" ||
      _revm_die "kernel $REVM_KERNEL: offline and not in the cache $REVM_CACHE" || return 1
  fi
  # The repository kernel: its index must be cached (mkimage then finds the package
  # and its signature in the cache too, or says which one is missing).
  if [ -z "$REVM_KERNEL" ] && _revm_is_remote "$REVM_KERNEL_REPO" &&
    ! _revm_cached_url "$(_revm_kernel_index)"; then
    _revm_die "kernel repository index $(_revm_kernel_index): offline and not in the cache $REVM_CACHE" || return 1
  fi
}

_revm_kernel_index() { echo "${REVM_KERNEL_REPO%/}/$REVM_VOID_KERNEL_ARCH-repodata"; }

revm_kernel_fetch() {
  REVM_KERNEL_PATH=$REVM_KERNEL
  [ -n "$REVM_KERNEL" ] || return 0 # the repository kernel: mkimage fetches it
  _revm_is_remote "$REVM_KERNEL" || {
    REVM_KERNEL_PATH=${REVM_KERNEL#file://}
    [ -e "$REVM_KERNEL_PATH" ] || _revm_die "kernel $REVM_KERNEL_PATH: no such file or directory"
    return
  }
  [ -n "$REVM_KERNEL_SHA256" ] ||
    _revm_die "kernel $REVM_KERNEL: no pinned SHA-256 (set REVM_KERNEL_SHA256, or REVM_KERNEL to a local kernel)" || return 1
  local dest=$REVM_CACHE/sha256/$REVM_KERNEL_SHA256 got
  REVM_KERNEL_PATH=$dest
  [ -f "$dest" ] && return 0
  ! _revm_offline ||
    _revm_die "kernel $REVM_KERNEL: offline and not in the cache $REVM_CACHE" || return 1
  mkdir -p "$REVM_CACHE/sha256"
  curl -fsSL --retry 3 --connect-timeout 30 -C - -o "$dest.part" "$REVM_KERNEL" ||
    _revm_die "kernel $REVM_KERNEL: download failed" || return 1
  got=$(sha256sum < "$dest.part" | cut -d' ' -f1)
  if [ "$got" != "$REVM_KERNEL_SHA256" ]; then
    rm -f "$dest.part"
    _revm_die "kernel $REVM_KERNEL: SHA-256 $got, expected $REVM_KERNEL_SHA256" || return 1
  fi
  mv "$dest.part" "$dest"
}

# revm_mkimage_args VARIANT OUT BRIDGE: the mkimage command line (without the program).
revm_mkimage_args() {
  local variant=$1 out=$2 bridge=$3
  MKIMAGE_ARGS=(--variant "$variant" --rootfs "$REVM_ROOTFS_URL")
  [ -n "$REVM_ROOTFS_SHA256SUMS" ] && MKIMAGE_ARGS+=(--sha256sums "$REVM_ROOTFS_SHA256SUMS")
  [ -z "$REVM_ROOTFS_SHA256SUMS" ] && [ -n "$REVM_ROOTFS_SHA256" ] && MKIMAGE_ARGS+=(--sha256 "$REVM_ROOTFS_SHA256")
  [ -n "$REVM_ROOTFS_SIG" ] && [ -n "$REVM_ROOTFS_SHA256SUMS" ] &&
    MKIMAGE_ARGS+=(--signature "$REVM_ROOTFS_SIG" --pubkey "$REVM_ROOTFS_PUBKEY")
  if [ -n "$REVM_KERNEL_PATH" ]; then
    MKIMAGE_ARGS+=(--kernel "$REVM_KERNEL_PATH")
  else
    MKIMAGE_ARGS+=(--void-repo "$REVM_KERNEL_REPO" --kernel-series "$REVM_KERNEL_SERIES")
  fi
  MKIMAGE_ARGS+=(--bridge "$bridge"
    --cache "$REVM_CACHE" --fs "$REVM_IMAGE_FS" --size "$REVM_IMAGE_SIZE" --quiet --out "$out")
  [ -z "${REVM_VARIANTS_DIR:-}" ] || MKIMAGE_ARGS+=(--variants-dir "$REVM_VARIANTS_DIR")
}

# _revm_digest_uncached SRC: the content digest of a local file or directory, or the pinned
# digest / the URL itself for a remote input (a remote file is fixed by its pin).
declare -gA _REVM_DIGESTS=()
# _revm_digest_set SRC: _REVM_DIGESTS[SRC] = its digest, computed once per run (a
# kernel tree is thousands of files and every variant needs it). No subshell here,
# or the memo would be lost.
_revm_digest_set() {
  [ -n "${_REVM_DIGESTS[x$1]:-}" ] || _REVM_DIGESTS[x$1]=$(_revm_digest_uncached "$1")
}
_revm_digest_uncached() {
  local src=${1#file://}
  if [ -z "$1" ]; then echo none
  elif _revm_is_remote "$1"; then echo "$1"
  elif [ -d "$src" ]; then
    (cd "$src" && find . \( -type f -o -type l \) -print0 | LC_ALL=C sort -z |
      xargs -0r sha256sum -- 2>/dev/null) | sha256sum | cut -d' ' -f1
  elif [ -f "$src" ]; then sha256sum < "$src" | cut -d' ' -f1
  else echo "$1"
  fi
}

# revm_image_inputs_digest VARIANT MKIMAGE BRIDGE: sets REVM_INPUTS_DIGEST.
revm_image_inputs_digest() {
  local variant=$1 mkimage=$2 bridge=$3 lib src
  lib=$(cd "$(dirname "$mkimage")/../lib/revm" 2>/dev/null && pwd) || lib=/nonexistent
  # The repository kernel is whatever the (cached) index names: its content is the input.
  local kernel_src=$REVM_KERNEL
  if [ -z "$kernel_src" ]; then
    kernel_src=$(_revm_kernel_index)
    _revm_is_remote "$kernel_src" && _revm_cached_url "$kernel_src" &&
      kernel_src=$REVM_CACHE/url/$(_revm_url_key "$kernel_src")
  fi
  local srcs=("$REVM_ROOTFS_URL" "$REVM_ROOTFS_SHA256SUMS" "$REVM_ROOTFS_SIG" "$REVM_ROOTFS_PUBKEY"
    "$kernel_src" "$bridge" "$mkimage" "${REVM_VARIANTS_DIR:-$lib/variants}" "$lib/revm-init"
    "$lib/mkimage-repro.so")
  for src in "${srcs[@]}"; do _revm_digest_set "$src"; done
  REVM_INPUTS_DIGEST=$(
    echo "variant $variant fs $REVM_IMAGE_FS size $REVM_IMAGE_SIZE"
    echo "rootfs-sha256 $REVM_ROOTFS_SHA256 kernel-sha256 $REVM_KERNEL_SHA256"
    [ -n "$REVM_KERNEL" ] || echo "kernel-repo $REVM_KERNEL_REPO series $REVM_KERNEL_SERIES"
    for src in "${srcs[@]}"; do echo "${_REVM_DIGESTS[x$src]}"; done | sha256sum | cut -d' ' -f1
  )
  REVM_INPUTS_DIGEST=$(printf '%s\n' "$REVM_INPUTS_DIGEST" | sha256sum | cut -d' ' -f1)
}
