#!/usr/bin/env bash
# The README's main job (`make demo`): build the driver, filesystem and app VM images
# with mkimage from the embedded offline default, then boot the app VM and show
# that it came up.
#
# The offline default: the real Void ROOTFS cannot be downloaded on these machines,
# so the demo uses the small Void-layout fixture (busybox + runit), built locally
# from Debian packages by scripts/fixtures/build-all.sh, verified against its own
# sha256sum.txt like a Void release.
# Output: images in build/demo/; the app VM's console log in build/demo/app.console.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
export BUILD
FIXTURES=$BUILD/fixtures
OUT=$BUILD/demo
MKIMAGE=$BUILD/bin/mkimage

say() { printf '%s\n' "demo: $*"; }
die() { printf '%s\n' "demo: $*" >&2; exit 1; }

[ -x "$MKIMAGE" ] || die "$MKIMAGE missing: run 'make' first"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: run 'make deps' as root"

if ! "$TOP/scripts/fixtures/build-all.sh" kernel small >"$BUILD/demo-fixtures.log" 2>&1; then
  tail -n 5 "$BUILD/demo-fixtures.log" >&2
  die "could not build the offline rootfs and kernel (needs root once; log: $BUILD/demo-fixtures.log)"
fi
tarball=$(ls "$FIXTURES"/small/*.tar.xz)

mkdir -p "$OUT"
bridge=()
[ -x "$BUILD/lib/revm/revm-guestd" ] && bridge=(--bridge "$BUILD/lib/revm/revm-guestd")
say "building the driver, filesystem and app images from $(basename "$tarball")"
"$MKIMAGE" --variant all --rootfs "$tarball" --sha256sums "$FIXTURES/small/sha256sum.txt" \
  --kernel "$FIXTURES/kernel/tree" "${bridge[@]}" \
  --out "$OUT" --quiet

# KVM when it really runs a guest here (nested virtualisation often does not), else TCG.
accel=${REVM_ACCEL:-tcg}
if [ -z "${REVM_ACCEL:-}" ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  probe_log=$(mktemp)
  timeout 5 qemu-system-x86_64 -accel kvm -M q35 -m 64 -nodefaults -display none \
    -chardev "file,id=dbg,path=$probe_log" -device isa-debugcon,iobase=0x402,chardev=dbg \
    >/dev/null 2>&1 </dev/null || true
  grep -q 'No bootable device' "$probe_log" 2>/dev/null && accel=kvm
  rm -f "$probe_log"
fi

# boot_app ACCEL SECONDS: boots the app VM; returns 0 once its probe marker is in.
# The VM keeps running (stopped at exit) so its console can be shown.
qemu=
trap 'if [ -n "$qemu" ]; then kill "$qemu" 2>/dev/null || true; wait "$qemu" 2>/dev/null || true; fi' EXIT
boot_app() {
  local accel=$1 secs=$2
  : >"$OUT/app.probe"
  qemu-system-x86_64 -accel "$accel" -M q35 -m 512 -nodefaults -display none \
    -kernel "$OUT/app.vmlinuz" -initrd "$OUT/app.initramfs" \
    -append 'console=ttyS0 root=/dev/vda rootfstype=btrfs rw' \
    -drive "file=$OUT/app.qcow2,if=virtio,format=qcow2,snapshot=on" \
    -device virtio-serial-pci \
    -chardev "file,id=probe,path=$OUT/app.probe" \
    -device virtserialport,chardev=probe,name=org.redox.probe.0 \
    -serial "file:$OUT/app.console" </dev/null >"$OUT/app.qemu.log" 2>&1 &
  qemu=$!
  local start=$SECONDS deadline=$((SECONDS + secs))
  until grep -q 'revm-probe: ready' "$OUT/app.probe"; do
    # A guest that printed nothing at all after 15 s is not running (broken KVM).
    if ! kill -0 "$qemu" 2>/dev/null || [ $SECONDS -ge $deadline ] ||
      { [ $((SECONDS - start)) -ge 15 ] && [ ! -s "$OUT/app.console" ]; }; then
      kill "$qemu" 2>/dev/null || true
      wait "$qemu" 2>/dev/null || true
      qemu=
      return 1
    fi
    sleep 0.5
  done
}

say "booting the app VM ($accel)"
secs=180
[ "$accel" != kvm ] || secs=60
if ! boot_app "$accel" "$secs"; then
  [ "$accel" = kvm ] || die "the app VM did not come up in 180 s; console: $OUT/app.console"
  say "KVM did not run the guest (nested virtualisation?); booting with TCG instead"
  boot_app tcg 180 || die "the app VM did not come up in 180 s; console: $OUT/app.console"
fi
say "app VM is up: $(head -n 1 "$OUT/app.probe")"
say "its console (last lines of $OUT/app.console):"
grep -a -E 'runit|revm|login' "$OUT/app.console" | tr -d '\r' | tail -n 6 | sed 's/^/    /'
say "done; images in $OUT"
