#!/usr/bin/env bash
# The filesystem service through real VMs (QEMU, TCG here):
# - the filesystem VM, booted with ext4 and btrfs disks made here with mkfs (plus a read-only
#   ext4 disk, a tiny ext4 disk and a disk that holds no filesystem), lists and serves them;
# - a FUSE mount of each writable volume passes the conformance suite
#   (tests/support/fs_conformance.py) and an fsx run with data verification (FS_FSX_OPS,
#   default 100000, on both volumes at once);
# - EROFS on the read-only volume, ENOSPC on the full one, clear errors for an unknown volume
#   and a busy unmount; e2fsck -n / btrfs check clean after revm stop filesystem;
# - the app VM's root mounted on the host: ls, cat, find, cp -a out and back byte-exact, a file
#   written on either side seen on the other; revm cp both ways, keeping modes and times.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/support/vm-images.sh"
fixture=${REVM_FIXTURE:-small}
FSX_OPS=${FS_FSX_OPS:-100000}

[ -x "$BUILD/bin/revm-fuse" ] || skip "revm-fuse not built (libfuse3-dev missing)"
[ -c /dev/fuse ] || skip "no /dev/fuse"
[ "$(id -u)" = 0 ] || skip "needs root (FUSE allow_other and the permission cases)"
command -v mkfs.btrfs >/dev/null && command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 / mkfs.btrfs missing"

build_vm_images "$fixture" "$T/images" filesystem app
export REVM_IMAGES=$T/images

# Disks: made as plain files, no root needed for the images themselves.
D=$T/disks
mkdir -p "$D" "$T/seed/docs"
echo "read-only content" >"$T/seed/docs/readme.txt"
truncate -s 256M "$D/data.img" && mkfs.ext4 -q -L data "$D/data.img"
truncate -s 256M "$D/btrfs.img" && mkfs.btrfs -q "$D/btrfs.img" >/dev/null
truncate -s 32M "$D/ro.img" && mkfs.ext4 -q -L ro -d "$T/seed" "$D/ro.img"
truncate -s 8M "$D/tiny.img" && mkfs.ext4 -q -L tiny "$D/tiny.img"
head -c 4M /dev/urandom >"$D/junk.img"

# A profile set whose filesystem VM has these disks.
mkdir -p "$T/profiles"
cp "$BUILD"/lib/revm/profiles/*.ini "$T/profiles/"
python3 - "$T/profiles/filesystem.ini" "$D" <<'PY'
import sys
p, d = sys.argv[1], sys.argv[2]
lines = open(p).read().split("\n")
i = next(k for k, l in enumerate(lines) if l.startswith("image ="))
extra = [f"extra = {d}/data.img", f"extra = {d}/btrfs.img", f"extra_readonly = {d}/ro.img",
         f"extra = {d}/tiny.img", f"extra = {d}/junk.img"]
open(p, "w").write("\n".join(lines[:i + 1] + extra + lines[i + 1:]))
PY
export REVM_PROFILES=$T/profiles
start_revmd

short_tmpdir M
chmod 755 "$M"
mounts=()
on_exit 'for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null; done'

revm start filesystem >/dev/null || { tail -n 30 "$T/revmd.log"; fail "revm start filesystem"; }
revm --vm filesystem volumes 2>/dev/null | tee "$T/volumes"
for v in ext4.data btrfs.0 ext4.ro ext4.tiny; do
  grep -q "^$v " "$T/volumes" || fail "volume $v is not listed"
done
grep -q "^ext4.ro .* yes " "$T/volumes" || fail "ext4.ro is not read-only in the list"
[ "$(grep -c '^btrfs\|^ext4' "$T/volumes")" = 4 ] || fail "the disk without a filesystem became a volume"
ok "the filesystem VM lists ext4.data, btrfs.0, ext4.ro (read-only), ext4.tiny; not the junk disk"

mount_vol() { # VOLUME DIR [VM]
  mkdir -p "$2"
  revm --vm "${3:-filesystem}" mount "$1" "$2" >/dev/null || fail "revm mount $1"
  mounts+=("$2")
  grep -q " $2 fuse.revm " /proc/self/mounts || fail "no FUSE mount for $1 on $2"
}

for v in ext4.data btrfs.0; do
  mount_vol "$v" "$M/$v"
  python3 "$TOP/tests/support/fs_conformance.py" "$M/$v" || fail "conformance suite on $v"
  ok "$v: conformance suite passes"
done
# fsx on both volumes at once: each operation is a few bridge round trips to a one-CPU VM
# under TCG, so the two runs overlap their waits.
fsx_pids=()
for v in ext4.data btrfs.0; do
  "$BUILD/tests/bin/fsx" -N "$FSX_OPS" -l 1048576 -o 131072 "$M/$v/fsx.file" >"$T/fsx-$v.log" 2>&1 &
  fsx_pids+=($!)
  track_pid $!
done
for i in 0 1; do
  v=$([ $i = 0 ] && echo ext4.data || echo btrfs.0)
  wait "${fsx_pids[$i]}" || { tail -n 30 "$T/fsx-$v.log"; fail "fsx on $v"; }
  ok "$v: $FSX_OPS fsx operations with data verification pass"
done
grep -q "revm:filesystem:ext4.data" /proc/self/mounts || fail "mount not named revm:filesystem:ext4.data"
revm --vm filesystem volumes | grep -q "^ext4.data .* $M/ext4.data$" || fail "revm volumes does not say where ext4.data is mounted"

# Read-only and full volumes.
mount_vol ext4.ro "$M/ro"
[ "$(cat "$M/ro/docs/readme.txt")" = "read-only content" ] || fail "ext4.ro content"
out=$( (echo x >"$M/ro/new") 2>&1 || true)
case $out in *"Read-only file system"*) ok "write to ext4.ro: $out";; *) fail "write to a read-only volume: $out";; esac
mount_vol ext4.tiny "$M/tiny"
out=$(dd if=/dev/zero of="$M/tiny/fill" bs=1M count=64 2>&1 || true)
case $out in *"No space left on device"*) ok "filling ext4.tiny: ENOSPC";; *) fail "full volume: $out";; esac

expect_fail "mount of an unknown volume" revm --vm filesystem mount no.such "$M"
(cd "$M/ext4.data" && sleep 5) & busy=$!
sleep 1
expect_fail "busy unmount" revm umount "$M/ext4.data"
wait $busy

# Writes acknowledged by fsync survive `revm restart filesystem` under write load.
python3 - "$M/ext4.data/load" "$T/acked" <<'PY' &
import os, sys
d, ack = sys.argv[1], sys.argv[2]
os.makedirs(d, exist_ok=True)
with open(ack, "w") as a:
    for i in range(1000000):
        try:
            fd = os.open("%s/f%d" % (d, i), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
            os.write(fd, b"%d\n" % i * 100)
            os.fsync(fd)
            os.close(fd)
        except OSError:
            break
        a.write("%d\n" % i)
        a.flush()
PY
writer=$!
track_pid $writer
wait_for 60 test -s "$T/acked" || fail "the writer made no progress"
sleep 3
revm restart filesystem >/dev/null || fail "revm restart filesystem"
wait $writer || true
wait_for 60 bash -c "! grep -q ' $M/ext4.data fuse' /proc/self/mounts" || fail "the mount outlived the restarted service"
mounts=()
for m in ro tiny; do umount -l "$M/$m" 2>/dev/null || true; done
mount_vol ext4.data "$M/ext4.data"
acked=$(wc -l <"$T/acked")
while read -r i; do
  [ "$(head -c 2 "$M/ext4.data/load/f$i" 2>/dev/null)" = "$(printf '%d\n' "$i" | head -c 2)" ] &&
    [ "$(stat -c %s "$M/ext4.data/load/f$i")" = "$(( (${#i} + 1) * 100 ))" ] ||
    fail "file $i was acknowledged by fsync but is not intact after the restart"
done <"$T/acked"
ok "revm restart filesystem under write load: all $acked fsync-acknowledged files intact"
mount_vol ext4.ro "$M/ro"
mount_vol ext4.tiny "$M/tiny"

# Clean stop with a mount still up: the host mount ends when the service does, then the
# guest unmounts its disks; the disks check clean and fsync'ed data is there.
echo "acknowledged" >"$M/ext4.data/synced" && sync "$M/ext4.data/synced"
for m in "${mounts[@]}"; do [ "$m" = "$M/ext4.data" ] || revm umount "$m" || fail "revm umount $m"; done
mounts=("$M/ext4.data")
revm stop filesystem >/dev/null || fail "revm stop filesystem"
wait_for 60 bash -c "! grep -q ' $M/ext4.data fuse' /proc/self/mounts" || fail "the host mount outlived the VM"
mounts=()
e2fsck -fn "$D/data.img" >"$T/e2fsck.log" 2>&1 || { cat "$T/e2fsck.log"; fail "e2fsck -n of data.img"; }
btrfs check "$D/btrfs.img" >"$T/btrfs-check.log" 2>&1 || { cat "$T/btrfs-check.log"; fail "btrfs check of btrfs.img"; }
debugfs -R "cat /synced" "$D/data.img" 2>/dev/null | grep -q acknowledged || fail "a synced file is not on the disk"
ok "revm stop filesystem ends the host mount; e2fsck -n and btrfs check are clean, the synced file is on disk"

# The app VM's root.
revm start app >/dev/null || fail "revm start app"
mount_vol root "$M/app" app
ls "$M/app/usr/bin" >/dev/null || fail "ls of the app root"
grep -q . "$M/app/etc/os-release" || fail "cat /etc/os-release through the mount"
[ "$(find "$M/app/etc" | wc -l)" = "$(revm find /etc | wc -l)" ] || fail "find /etc differs from the VM's"
mkdir -p "$T/tree"
cp -a "$TOP/bridge/proto" "$TOP/bridge/fs" "$T/tree/"
ln -s proto "$T/tree/link"
head -c 2000000 /dev/urandom >"$T/tree/random.bin"
cp -a "$T/tree" "$M/app/root/tree"
cp -a "$M/app/root/tree" "$T/back"
diff -r --no-dereference "$T/tree" "$T/back" || fail "cp -a out and back differs"
[ "$(revm sha256sum /root/tree/random.bin | cut -d' ' -f1)" = "$(sha256sum "$T/tree/random.bin" | cut -d' ' -f1)" ] ||
  fail "the VM sees different bytes"
revm sh -c 'echo from-vm >/root/vm-file'
[ "$(cat "$M/app/root/vm-file")" = from-vm ] || fail "a file written in the VM is not seen on the host"
echo from-host >"$M/app/root/host-file"
[ "$(revm cat /root/host-file)" = from-host ] || fail "a file written on the host is not seen in the VM"
ok "app root: ls, cat, find, cp -a out and back byte-exact, writes seen both ways"
revm umount "$M/app" && mounts=()

# revm cp both ways.
mkdir -p "$T/cp"
revm cp app:/etc/os-release "$T/cp/" || fail "revm cp app:/etc/os-release"
cmp "$T/cp/os-release" <(revm cat /etc/os-release) || fail "revm cp of a file differs"
touch -d '2001-02-03 04:05:06' "$T/tree/random.bin"
chmod 0640 "$T/tree/random.bin"
revm cp -r "$T/tree" app:/root/cp-tree || fail "revm cp -r to the VM"
revm cp -r app:/root/cp-tree "$T/cp/" || fail "revm cp -r from the VM"
diff -r --no-dereference "$T/tree" "$T/cp/cp-tree" || fail "revm cp -r round trip differs"
[ "$(stat -c '%a %Y' "$T/cp/cp-tree/random.bin")" = "$(stat -c '%a %Y' "$T/tree/random.bin")" ] ||
  fail "revm cp lost the mode or the time"
expect_fail "revm cp of a missing file" revm cp app:/no/such/file "$T/cp/"
ok "revm cp both ways keeps bytes, modes and times"
echo "fs-vm: all passed"
