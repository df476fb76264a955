#!/usr/bin/env bash
# Every shipped launch profile is validated by QEMU itself: revmd prints the VM's command
# line, QEMU starts it paused (-S) and quits over QMP. The driver VM's vfio passthrough
# stanza cannot run here (no device bound to vfio-pci), so a profile with one must get past
# argument parsing and stop at the device itself.
. "$(dirname "$0")/../lib.sh"
[ -x "$BUILD/bin/revmd" ] || fail "revmd not built"
# The test kernel, built first when this script runs alone (a glob that matches nothing
# stays literal: no ls, whose failure would end the script under pipefail).
kernels=("$FIXTURES"/kernel/tree/boot/vmlinuz-*)
[ -e "${kernels[0]}" ] || "$TOP/scripts/fixtures/test-kernel.sh"
kernels=("$FIXTURES"/kernel/tree/boot/vmlinuz-*)
[ -e "${kernels[0]}" ] || fail "no test kernel in $FIXTURES/kernel/tree/boot"
kernel=${kernels[0]}

mkdir -p "$T/images" "$T/profiles"
chmod 700 "$T"
for vm in driver filesystem app; do
  cp "$kernel" "$T/images/$vm.vmlinuz"
  printf 'not used while paused\n' > "$T/images/$vm.initramfs"
  qemu-img create -q -f qcow2 "$T/images/$vm.qcow2" 64M
  cp "$TOP/bridge/profiles/$vm.ini" "$T/profiles/"
done
export REVM_STATE_DIR=$T/state REVM_IMAGES=$T/images REVM_PROFILES=$T/profiles REVM_NET_RESTRICT=1

# start_paused VM: runs the VM's QEMU command line with -S, asks QMP for its status, quits.
start_paused() {
  local vm=$1 args=()
  mapfile -t args < <(revmd --print-qemu "$vm")
  [ ${#args[@]} -gt 10 ] || fail "$vm: no command line"
  mkdir -p "$REVM_STATE_DIR/$vm"
  "${args[@]}" -S >"$T/$vm.qemu.log" 2>&1 &
  local pid=$!
  track_pid $pid
  wait_for 20 test -S "$REVM_STATE_DIR/$vm/qmp.sock" || { cat "$T/$vm.qemu.log"; return 1; }
  printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"query-status"}' '{"execute":"quit"}' |
    socat -t 5 - "UNIX-CONNECT:$REVM_STATE_DIR/$vm/qmp.sock" > "$T/$vm.qmp.log"
  grep -q '"status": "prelaunch"' "$T/$vm.qmp.log" || { cat "$T/$vm.qmp.log"; return 1; }
  wait $pid
}

for vm in driver filesystem app; do
  start_paused "$vm" || fail "$vm: QEMU rejected the profile's command line"
  ok "$vm profile starts under QEMU (paused)"
done

# Passthrough: QEMU must accept the syntax and fail only on the absent device.
printf 'vfio = 0000:00:1f.7\n' >> "$T/profiles/driver.ini"
mapfile -t args < <(revmd --print-qemu driver)
printf '%s\n' "${args[@]}" | grep -qx 'vfio-pci,host=0000:00:1f.7' || fail "vfio stanza missing"
rc=0
timeout 20 "${args[@]}" -S >"$T/vfio.log" 2>&1 </dev/null || rc=$?
[ $rc -ne 0 ] || fail "QEMU started a VM with a nonexistent passthrough device"
grep -q "vfio" "$T/vfio.log" || { cat "$T/vfio.log"; fail "QEMU failed before reaching the vfio device"; }
grep -qiE "invalid parameter|unknown option|Parameter .* expects" "$T/vfio.log" && fail "vfio stanza has a syntax error"
ok "driver passthrough stanza reaches the device: $(head -n 1 "$T/vfio.log")"
