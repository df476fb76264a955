#!/usr/bin/env bash
# The README's main job (`make demo`): build the driver, filesystem and app VM images with
# mkimage from the embedded offline default, then use the app VM the way a Redox user would:
# `revm start app` (through the revmd supervisor), `revm ls /usr/bin`, `revm status`,
# `revm stop app`.
#
# The offline default: the real Void ROOTFS cannot be downloaded on these machines, so the
# demo uses the small Void-layout fixture (busybox + runit), built locally from Debian
# packages by scripts/fixtures/build-all.sh and verified against its own sha256sum.txt like a
# Void release. Output: images in build/demo/images, supervisor state in a private /tmp dir
# (its console log is copied to build/demo/app.console).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
export BUILD
FIXTURES=$BUILD/fixtures
OUT=$BUILD/demo
PATH=$BUILD/bin:$PATH

say() { printf '%s\n' "demo: $*"; }
die() { printf '%s\n' "demo: $*" >&2; exit 1; }

for b in mkimage revm revmd; do
  [ -x "$BUILD/bin/$b" ] || die "$BUILD/bin/$b missing: run 'make' first"
done
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: run 'make deps' as root"

if ! "$TOP/scripts/fixtures/build-all.sh" kernel small >"$BUILD/demo-fixtures.log" 2>&1; then
  tail -n 5 "$BUILD/demo-fixtures.log" >&2
  die "could not build the offline rootfs and kernel (needs root once; log: $BUILD/demo-fixtures.log)"
fi
tarball=$(ls "$FIXTURES"/small/*.tar.xz)

mkdir -p "$OUT"
say "building the driver, filesystem and app images from $(basename "$tarball")"
mkimage --variant all --rootfs "$tarball" --sha256sums "$FIXTURES/small/sha256sum.txt" \
  --kernel "$FIXTURES/kernel/tree" --bridge "$BUILD/lib/revm/revm-guestd" \
  --out "$OUT/images" --quiet

# A private supervisor for the demo: its own state dir (short path: unix sockets), the
# images just built, the shipped launch profiles; no guest traffic leaves the machine.
state=$(mktemp -d /tmp/revm-demo.XXXXXX)
export REVM_STATE_DIR=$state/st REVM_IMAGES=$OUT/images REVM_PROFILES=$BUILD/lib/revm/profiles
export REVM_NET_RESTRICT=1
revmd >"$OUT/revmd.log" 2>&1 &
revmd_pid=$!
finish() {
  revm stop app >/dev/null 2>&1 || true
  kill "$revmd_pid" 2>/dev/null || true
  wait "$revmd_pid" 2>/dev/null || true
  [ -f "$REVM_STATE_DIR/app/console.log" ] && cp "$REVM_STATE_DIR/app/console.log" "$OUT/app.console"
  rm -rf "$state"
}
trap finish EXIT

say "\$ revm start app"
revm start app
say "\$ revm ls /usr/bin | head"
revm ls /usr/bin | head
say "($(revm ls /usr/bin | wc -l) programs in the app VM's /usr/bin)"
say "\$ revm status app"
revm status app
say "\$ revm sh -c 'uname -sr; cat /etc/hostname'"
revm sh -c 'uname -sr; cat /etc/hostname'
say "\$ revm stop app"
revm stop app
say "done; images in $OUT/images, supervisor log $OUT/revmd.log, console $OUT/app.console"
