#!/usr/bin/env bash
# Device service, block side, through a real driver VM: the driver VM gets an
# emulated NVMe disk and a virtio-scsi disk (profile keys emulated_disk), its Linux drives them,
# the device service offers them, and revm-devices exports them over NBD on the host. Checks:
# `revm devices` lists both; qemu-img compare of each export against its backing file; random
# extents written through NBD reach the backing file; fsx on an ext4 made on the SCSI export
# (through nbdfuse and a loop mount); `revm restart driver` during a write load:
# the NBD client keeps going and every flushed write is intact afterwards; a SCSI disk hot-added
# and removed through QMP appears and disappears in `revm devices --watch`.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/support/vm-images.sh"
NBDPY="$TOP/tests/support/dev-nbd.py"
command -v qemu-img >/dev/null || skip "qemu-img not installed"
[ -x "$BUILD/bin/revm-devices" ] || skip "revm-devices not built"
short_tmpdir S

if [ -n "${REVM_DEV_IMAGES:-}" ]; then
  export REVM_IMAGES=$REVM_DEV_IMAGES   # development: images built once
else
  build_vm_images "${REVM_FIXTURE:-small}" "$T/images" driver
  export REVM_IMAGES=$T/images
fi
head -c 32M /dev/urandom >"$T/nvme.img"; truncate -s 128M "$T/nvme.img"
head -c 32M /dev/urandom >"$T/scsi.img"; truncate -s 96M "$T/scsi.img"
mkdir -p "$T/profiles"
cp "$BUILD/lib/revm/profiles/driver.ini" "$T/profiles/"
cat >>"$T/profiles/driver.ini" <<EOT
emulated_disk = nvme:$T/nvme.img
emulated_disk = scsi:$T/scsi.img
EOT
export REVM_PROFILES=$T/profiles
start_revmd
revm start driver >"$T/start.log" 2>&1 || { cat "$T/start.log" "$T/revmd.log"; fail "driver VM did not start"; }
ok "driver VM up with an NVMe and a virtio-scsi disk"

# The disks appear once their drivers have probed; the inventory is what the host sees.
listed() { revm devices >"$T/devices.txt" 2>&1 && grep -q '^block nvme0n1 ' "$T/devices.txt" && grep -q '^block sda ' "$T/devices.txt"; }
wait_for 120 listed || { cat "$T/devices.txt"; fail "revm devices does not list nvme0n1 and sda"; }
cat "$T/devices.txt"
grep -q '^block nvme0n1 *nvme .*128.0 MiB' "$T/devices.txt" || fail "nvme0n1: wrong driver or size"
grep -q '^block sda *sd .*96.0 MiB' "$T/devices.txt" || fail "sda: wrong driver or size"
ok "revm devices lists the NVMe and SCSI disks with driver and size"

# Hot add and remove (QMP device_add/device_del on the VM's SCSI bus) show on the host.
revm devices --watch >"$T/watch.log" 2>&1 & wpid=$!
track_pid $wpid
truncate -s 16M "$T/hot.img"
qmp=$REVM_STATE_DIR/driver/qmp.sock
python3 "$TOP/tests/support/dev-qmp.py" "$qmp" \
  "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"drive_add 0 if=none,id=hot0,file=$T/hot.img,format=raw\"}}" \
  '{"execute":"device_add","arguments":{"driver":"scsi-hd","drive":"hot0","bus":"emuscsi.0","id":"hotdisk"}}' ||
  fail "QMP device_add failed"
wait_for 90 grep -q '^+ block sdb .*16.0 MiB' "$T/watch.log" || { cat "$T/watch.log"; fail "hot-added disk not reported"; }
python3 "$TOP/tests/support/dev-qmp.py" "$qmp" '{"execute":"device_del","arguments":{"id":"hotdisk"}}' ||
  fail "QMP device_del failed"
wait_for 90 grep -q '^- block sdb' "$T/watch.log" || { cat "$T/watch.log"; fail "hot-removed disk not reported"; }
kill $wpid
ok "hot add and remove of a SCSI disk appear in revm devices --watch"

revm-devices --vm driver --block "nvme0n1=$S/nvme.sock" --block "sda=$S/sda.sock" >"$T/devices.log" 2>&1 &
dpid=$!
track_pid $dpid
both_open() { [ "$(grep -c 'device channel open' "$T/devices.log")" -ge 2 ]; }
wait_for 60 both_open || { cat "$T/devices.log"; fail "device channels did not open"; }

for d in nvme:nvme.img sda:scsi.img; do
  sock=$S/${d%%:*}.sock img=$T/${d#*:}
  qemu-img compare -U -f raw -F raw "$img" "nbd+unix:///?socket=$sock" || fail "${d%%:*}: export differs from the backing file"
  cp "$img" "$T/ref.img"
  python3 "$NBDPY" "$sock" extents 7 12 "$T/ref.img" || fail "${d%%:*}: random extents"
  cmp "$T/ref.img" "$img" || fail "${d%%:*}: backing file does not hold what was written through NBD"
  ok "${d%%:*}: qemu-img compare identical; random extents through NBD reached the emulated disk"
done

# A filesystem made on an export: the host kernel (no nbd module here) reaches the export as a
# file through nbdfuse, loop-mounts the ext4 made on it, and fsx runs on that with data
# verification; e2fsck is clean afterwards. The SCSI disk: the restart below loads the NVMe.
FSX=$BUILD/tests/bin/fsx
if [ "$(id -u)" = 0 ] && [ -c /dev/fuse ] && command -v nbdfuse >/dev/null && [ -x "$FSX" ]; then
  mkdir -p "$S/nf" "$T/ext4"
  nbdfuse -P "$T/nbdfuse.pid" "$S/nf/disk" --unix "$S/sda.sock" >"$T/nbdfuse.log" 2>&1 & nfpid=$!
  track_pid $nfpid
  on_exit "umount -l '$T/ext4' 2>/dev/null; fusermount3 -uz '$S/nf' 2>/dev/null"
  wait_for 30 test -s "$T/nbdfuse.pid" || { cat "$T/nbdfuse.log"; fail "nbdfuse did not serve the sda export"; }
  mkfs.ext4 -q -F "$S/nf/disk" || fail "mkfs.ext4 on the sda export"
  mount -o loop "$S/nf/disk" "$T/ext4" || fail "loop mount of the ext4 on the sda export"
  "$FSX" -N "${DEV_FSX_OPS:-3000}" -l 1048576 -o 131072 "$T/ext4/fsx.file" >"$T/fsx.log" 2>&1 ||
    { tail -n 30 "$T/fsx.log"; fail "fsx on the ext4 made on the sda export"; }
  umount "$T/ext4" || fail "unmounting the ext4 on the sda export"
  e2fsck -fn "$S/nf/disk" >"$T/e2fsck.log" 2>&1 || { cat "$T/e2fsck.log"; fail "e2fsck of the ext4 on the sda export"; }
  { fusermount3 -u "$S/nf" && wait $nfpid; } || fail "nbdfuse did not end cleanly"
  ok "sda: ext4 made on the NBD export passes fsx (${DEV_FSX_OPS:-3000} ops, verified) and e2fsck -fn"
else
  echo "skip: fsx on a filesystem on the export (needs root, /dev/fuse, nbdfuse and tests/bin/fsx)"
fi

# Restart during a write load.
truncate -s 0 "$T/flushed.log"
python3 "$NBDPY" "$S/nvme.sock" load 30 "$T/flushed.log" >"$T/load.out" 2>&1 & lpid=$!
track_pid $lpid
sleep 6
before=$(wc -l <"$T/flushed.log")
revm restart driver >"$T/restart.log" 2>&1 || { cat "$T/restart.log"; fail "revm restart driver failed"; }
wait $lpid || { cat "$T/load.out" "$T/devices.log"; fail "NBD client failed across the restart"; }
# revm restart returns when the bridge is ready; revm-devices reconnects each device on its own
# retry timer (1 s, later 5 s), so the load may have ended a little before both have.
both_again() { [ "$(grep -c 'device channel open again' "$T/devices.log")" -ge 2 ]; }
wait_for 30 both_again || { cat "$T/devices.log"; fail "not both devices reconnected after the restart"; }
python3 "$NBDPY" "$S/nvme.sock" verify "$T/flushed.log" || fail "flushed writes lost across the restart"
ok "revm restart driver under write load ($before flushed before the restart; $(cat "$T/load.out")): all flushed writes intact"
