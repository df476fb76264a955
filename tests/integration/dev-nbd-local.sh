#!/usr/bin/env bash
# Device service, block side, without a VM: revm-devices exports a
# disk that a locally run guest helper (`revm-guestd --service device block:FILE`, the ASan
# build) serves from a file, over NBD on a unix socket. Checks: qemu-img compare against the
# file; random unaligned extents (some split into several device requests) written pipelined
# and read back; trim; out-of-range and malformed NBD requests refused; the helper killed
# three times during a write load: the NBD client never notices and every flushed write is
# intact; option errors are one line; hostile guest helpers (bad tags, short reads, oversized
# records, garbage, floods) leave revm-devices (ASan build) running without reports; --all
# exports every disk the inventory offers and follows hot add and removal.
. "$(dirname "$0")/../lib.sh"
NBDPY="$TOP/tests/support/dev-nbd.py"
DEVICES=$BUILD/bin/revm-devices
GUESTD=$BUILD/tests/bin/revm-guestd
[ -x "$DEVICES" ] && [ -x "$GUESTD" ] || skip "revm-devices or revm-guestd not built (make -C bridge all)"
command -v qemu-img >/dev/null || skip "qemu-img not installed"
short_tmpdir S

expect_fail "no devices" "$DEVICES" --local "$GUESTD"
expect_fail "bad device spec" "$DEVICES" --block nosocket
expect_fail "unknown option" "$DEVICES" --bogus

head -c 64M /dev/urandom >"$T/disk.img"
cp "$T/disk.img" "$T/ref.img"
"$DEVICES" --local "$GUESTD" --block "$T/disk.img=$S/nbd.sock" >"$T/devices.log" 2>&1 &
dpid=$!
track_pid $dpid
wait_for 20 grep -q "device channel open" "$T/devices.log" || { cat "$T/devices.log"; fail "device channel did not open"; }
url="nbd+unix:///?socket=$S/nbd.sock"

qemu-img compare -f raw -F raw "$T/disk.img" "$url" || fail "qemu-img compare: export differs from the file"
ok "qemu-img compare: export identical to the backing file"

python3 "$NBDPY" "$S/nbd.sock" extents 1 40 "$T/ref.img" || fail "random extents"
cmp "$T/ref.img" "$T/disk.img" || fail "backing file differs from the expected contents"
ok "random extents written through NBD are in the backing file"

qemu-io -f raw "$url" -c "discard 1048576 65536" >/dev/null || fail "trim failed"
ok "trim accepted"

python3 "$NBDPY" "$S/nbd.sock" hostile || fail "hostile NBD clients"
ok "hostile NBD clients refused"

# Restart survival: the helper is the device channel; killing it is what a driver VM restart
# looks like from here.
truncate -s 0 "$T/flushed.log"
python3 "$NBDPY" "$S/nbd.sock" load 8 "$T/flushed.log" >"$T/load.out" 2>&1 & lpid=$!
track_pid $lpid
for i in 1 2 3; do
  sleep 2
  helper=$(pgrep -P $dpid | head -n 1)
  [ -n "$helper" ] && kill -KILL "$helper"
done
wait $lpid || { cat "$T/load.out"; fail "the NBD client failed while the channel restarted"; }
reopened() { [ "$(grep -c 'device channel open again' "$T/devices.log")" -ge 3 ]; }
wait_for 20 reopened || { cat "$T/devices.log"; fail "the channel was not reopened 3 times"; }
python3 "$NBDPY" "$S/nbd.sock" verify "$T/flushed.log" || fail "flushed writes lost"
ok "3 helper kills under write load: $(cat "$T/load.out"); all flushed writes intact"

kill -TERM $dpid
wait $dpid || true
[ ! -e "$S/nbd.sock" ] || fail "NBD socket left behind"
ok "clean stop"

# A hostile guest helper: completions for unknown and repeated tags, short reads, malformed
# and oversized records, garbage, floods. The host (the ASan build) must neither crash nor
# hang: NBD requests complete (with EIO where the guest lied) or wait, and the channel is
# reopened after each fault.
SAN_DEVICES=$BUILD/tests/bin/revm-devices
[ -x "$SAN_DEVICES" ] || SAN_DEVICES=$DEVICES
for mode in badtags huge garbage flood; do
  "$SAN_DEVICES" --local "$TOP/tests/support/dev-hostile-guest.py" --block "$mode=$S/h.sock" >"$T/h-$mode.log" 2>&1 &
  hpid=$!
  track_pid $hpid
  wait_for 20 test -S "$S/h.sock" || fail "$mode: no NBD socket"
  timeout 20 qemu-io -f raw "nbd+unix:///?socket=$S/h.sock" -c "read 0 4096" -c "read 4096 4096" \
    -c "write 0 512" -c "read 0 65536" >"$T/h-$mode.qemu-io" 2>&1 || true
  kill -0 $hpid 2>/dev/null || { cat "$T/h-$mode.log"; fail "$mode: revm-devices died"; }
  kill -TERM $hpid
  rc=0; wait $hpid || rc=$?
  [ $rc -eq 0 ] || { cat "$T/h-$mode.log"; fail "$mode: revm-devices exited with $rc"; }
  ! grep -q "ERROR: AddressSanitizer\|runtime error" "$T/h-$mode.log" || { cat "$T/h-$mode.log"; fail "$mode: sanitizer report"; }
  [ "$(wc -l <"$T/h-$mode.log")" -lt 200 ] || fail "$mode: log flooded ($(wc -l <"$T/h-$mode.log") lines)"
  echo "  $mode: $(grep -c 'ending the channel\|not in flight\|instead of' "$T/h-$mode.log") faults logged, $(grep -c 'open again' "$T/h-$mode.log") reconnects"
done
ok "hostile guest helpers: no crash, hang or sanitizer report in revm-devices"

# --all: every disk the inventory offers is exported, hot-added ones too. A fake sysfs and
# /dev (REVM_DEV_SYSFS, REVM_DEV_DIR: honoured by a helper run by hand) stand for the VM's.
mkdisk() { # NAME SIZE_KIB
  mkdir -p "$T/sys/block/$1/queue" "$T/devdir"
  echo 512 >"$T/sys/block/$1/queue/logical_block_size"; echo 0 >"$T/sys/block/$1/ro"
  head -c "$2K" /dev/urandom >"$T/devdir/$1"
  echo $(( $2 * 2 )) >"$T/sys/block/$1/size"
}
mkdisk fake0 1024
mkdir -p "$S/all"
REVM_DEV_SYSFS=$T/sys REVM_DEV_DIR=$T/devdir "$SAN_DEVICES" --local "$GUESTD" --all "$S/all" >"$T/all.log" 2>&1 &
apid=$!
track_pid $apid
wait_for 30 grep -q "fake0: device channel open" "$T/all.log" || { cat "$T/all.log"; fail "--all did not attach fake0"; }
qemu-img compare -f raw -F raw "$T/devdir/fake0" "nbd+unix:///?socket=$S/all/fake0.nbd" >/dev/null || fail "fake0 export differs"
mkdisk fake1 512
wait_for 30 grep -q "fake1: device channel open" "$T/all.log" || { cat "$T/all.log"; fail "hot-added fake1 not attached"; }
qemu-img compare -f raw -F raw "$T/devdir/fake1" "nbd+unix:///?socket=$S/all/fake1.nbd" >/dev/null || fail "fake1 export differs"
rm -rf "$T/sys/block/fake1"
wait_for 30 grep -q "fake1: removed from the VM" "$T/all.log" || { cat "$T/all.log"; fail "removal of fake1 not noticed"; }
kill -TERM $apid
wait $apid || fail "revm-devices --all did not end cleanly"
ok "--all exports every offered disk, follows hot add and removal"
