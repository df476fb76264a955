#!/usr/bin/env bash
# Boots the test kernel with an initramfs written by mkimage's initramfs code and
# the static revm-init, on a tiny busybox btrfs root, independently of the rest of
# the pipeline (the e2e tests cover the mkimage CLI path).
# Checks: the init loads virtio_pci/virtio_blk/virtio_console/btrfs (+ deps), mounts
# /dev/vda as btrfs, hands over to /sbin/init, which writes a marker to the
# virtio-serial port org.redox.probe.0 and powers off; and, with a root device that
# never appears, that the init prints one clear line and powers the VM off.
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"

kernel_tree=$FIXTURES/kernel/tree
[ -d "$kernel_tree" ] || "$TOP/scripts/fixtures/test-kernel.sh" || skip "test kernel unavailable"
for tool in qemu-system-x86_64 mkfs.btrfs socat zstd; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done
busybox=$(command -v busybox || true)
# The guest root has no libc: only a static busybox (ldd fails on static binaries).
if [ -z "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
  skip "busybox-static not installed"
fi

# The initramfs builder is the test_initramfs unit-test binary in REVM_INITRAMFS_OUT
# mode (it calls kernel_open, kmod_resolve and initramfs_write).
san=$BUILD/obj/san/mkimage
make -s -C "$TOP/mkimage" "$san/tests/test_initramfs" "$BUILD/lib/revm/revm-init" >/dev/null
REVM_INITRAMFS_OUT=$T/initramfs REVM_INITRAMFS_MODULES="virtio_pci virtio_blk virtio_console btrfs" \
  "$san/tests/test_initramfs" > "$T/modules.txt"
vmlinuz=$(awk '$1 == "vmlinuz" {print $2}' "$T/modules.txt")
[ -f "$vmlinuz" ] || fail "no kernel image reported"
ok "initramfs: $(grep -vc '^vmlinuz' "$T/modules.txt") modules, $(stat -c %s "$T/initramfs") bytes"

# Root filesystem: busybox and an init script that reports through the probe port.
root=$T/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,etc,tmp}
cp "$busybox" "$root/bin/busybox"
for applet in sh cat echo ls mount basename dirname poweroff sleep hostname; do
  ln -s busybox "$root/bin/$applet"
done
echo revm-initramfs-test > "$root/etc/hostname"
cat > "$root/sbin/init" <<'INIT'
#!/bin/sh
# PID 1 of the test root: prove the handover worked, then power off.
hostname -F /etc/hostname
port=
for n in /sys/class/virtio-ports/*/name; do
  [ "$(cat "$n")" = org.redox.probe.0 ] && port=/dev/$(basename "$(dirname "$n")")
done
mounts=$(cat /proc/mounts | while read -r dev dir type rest; do [ "$dir" = / ] && echo "$dev $type"; done)
msg="revm-probe: ready $(hostname) root=$mounts pid=$$"
echo "$msg" > /dev/console
[ -n "$port" ] && echo "$msg" > "$port"
sleep 1
poweroff -f
INIT
chmod 755 "$root/sbin/init"
truncate -s 256M "$T/root.img"
mkfs.btrfs -q --rootdir "$root" "$T/root.img" >/dev/null

accel=$(revm_accel)
cpu=()
[ "$accel" = kvm ] && cpu=(-cpu host)

# boot NAME APPEND: runs QEMU until the guest powers off (or 180 s pass).
boot() {
  local name=$1 append=$2
  local sock=$T/$name.sock start end qpid
  start=$(date +%s%N)
  qemu-system-x86_64 -accel "$accel" "${cpu[@]}" -M q35 -m 512 -nodefaults -nographic \
    -kernel "$vmlinuz" -initrd "$T/initramfs" -append "$append" \
    -drive file="$T/root.img",if=virtio,format=raw \
    -device virtio-serial-pci \
    -chardev socket,id=p,path="$sock",server=on,wait=off \
    -device virtserialport,chardev=p,name=org.redox.probe.0 \
    -serial file:"$T/$name.console.log" -no-reboot </dev/null >"$T/$name.qemu.log" 2>&1 &
  qpid=$!
  track_pid "$qpid"
  wait_for 20 test -S "$sock" || fail "$name: QEMU did not create $sock: $(cat "$T/$name.qemu.log")"
  socat -u UNIX-CONNECT:"$sock" CREATE:"$T/$name.probe" 2>/dev/null &
  track_pid $!
  local waited=0
  while kill -0 "$qpid" 2>/dev/null; do
    [ $waited -lt 1800 ] || fail "$name: guest did not power off within 180 s; console: $(tail -n 5 "$T/$name.console.log")"
    sleep 0.1
    waited=$((waited + 1))
  done
  wait "$qpid" || true
  end=$(date +%s%N)
  echo "  $name: $accel boot to power-off in $(( (end - start) / 1000000 )) ms"
}

boot good 'console=ttyS0 root=/dev/vda rootfstype=btrfs rw'
grep -q 'revm-probe: ready revm-initramfs-test root=/dev/vda btrfs' "$T/good.probe" 2>/dev/null \
  || fail "no marker on the probe port; console: $(tail -n 15 "$T/good.console.log")"
ok "probe port: $(head -n 1 "$T/good.probe")"
grep -q 'revm-init: fatal' "$T/good.console.log" && fail "init reported a fatal error"
grep -q 'Kernel panic' "$T/good.console.log" && fail "kernel panic"
ok "console log clean"

# Second initramfs, from a Void-style kernel package (.xbps: a zstd tar with
# usr/lib/modules/VER/ and .ko.zst modules) made from the same kernel: covers package
# unpacking and module decompression. Boot it with a root device that never
# appears: the modules must still load (vda is listed), then one clear line and
# the VM powers off.
ver=$(cat "$FIXTURES/kernel/version")
pkg=$T/xbps
mkdir -p "$pkg/boot" "$pkg/usr/lib/modules/$ver"
cp "$vmlinuz" "$pkg/boot/vmlinuz-$ver"
# Its config too, as Void's packages have it: it decides whether module signatures stay.
cp "$kernel_tree/boot/config-$ver" "$pkg/boot/"
cp "$kernel_tree/lib/modules/$ver/modules.builtin" "$pkg/usr/lib/modules/$ver/"
grep -v '^vmlinuz ' "$T/modules.txt" | while read -r m; do
  mkdir -p "$pkg/usr/lib/modules/$ver/$(dirname "$m")"
  zstd -q -c "$kernel_tree/lib/modules/$ver/$m" > "$pkg/usr/lib/modules/$ver/$m.zst"
done
tar --zstd -cf "$T/linux.xbps" -C "$pkg" .
cp "$T/initramfs" "$T/initramfs-from-dir"
REVM_INITRAMFS_KERNEL=$T/linux.xbps REVM_INITRAMFS_OUT=$T/initramfs \
  REVM_INITRAMFS_MODULES="virtio_pci virtio_blk virtio_console btrfs" \
  "$san/tests/test_initramfs" > "$T/modules-xbps.txt"
grep -q 'virtio_blk.ko.zst$' "$T/modules-xbps.txt" || fail "xbps: modules not taken from the package"
# Same kernel, same modules: decompressed, they must give the very same bytes.
cmp -s "$T/initramfs" "$T/initramfs-from-dir" || fail "xbps: initramfs differs from the one built from the directory"
ok "initramfs from a .xbps package with .ko.zst modules: identical to the directory's"
boot noroot 'console=ttyS0 root=/dev/vdz rootfstype=btrfs rw revm.rootwait=3'
grep -q 'revm-init: fatal: root device /dev/vdz did not appear within 3 s (block devices: vda)' \
  "$T/noroot.console.log" || fail "missing-root message not found; console: $(tail -n 5 "$T/noroot.console.log")"
grep -q 'Kernel panic' "$T/noroot.console.log" && fail "kernel panic instead of power-off"
ok "missing root: $(grep -o 'revm-init: fatal.*' "$T/noroot.console.log")"
