#!/usr/bin/env bash
# Device service benchmark, network side: TCP throughput from the host to a peer
# through the driver VM's NIC, against the peer reached directly through QEMU's own netdev.
# Prints measurements and their ratio; asserts nothing on time (it fails only when a transfer
# breaks: wrong byte count, a sender error, a hang past the timeout).
#
# The wiring is the e2e test's (tests/support/dev-net.sh): the driver VM's emulated e1000 has
# a loopback UDP socket netdev to a userspace peer (TAP in namespace B, 10.77.0.2), and
# revm-devices offers the VM's NIC to the host as TAP rdtap0 in namespace A (10.77.0.1).
#  - ours: host (namespace A) -> rdtap0 -> revm-devices -> bridge -> the guest's device helper
#    -> e1000 -> QEMU netdev -> peer -> receiver;
#  - baseline: the same transfer sent by the guest's own TCP stack on the same e1000 (the
#    helper not attached then), i.e. the peer reached directly through QEMU's netdev: what the
#    NIC and its emulation can carry at best, so the ratio is the device service's share.
# Both sides run the same static sender (vm/net-send.c, copied into the guest over the bridge:
# the driver image has no python, and busybox nc would need a data pipe that costs the guest
# CPU the host sender does not pay) and one receiver (vm/net-sink.py in namespace B)
# times every transfer from accept to EOF, so the clock and the far end are the same for both.
# Target: ours >= 50% of the baseline under TCG. For context it also prints the bridge's raw
# host -> guest throughput (not part of the ratio). No traffic leaves the machine.
# Knobs: BENCH_NET_MIB (default 128) MiB per transfer, BENCH_NET_RUNS (default 2) transfers
# per path, best one reported; REVM_DEV_IMAGES (prebuilt driver images), REVM_FIXTURE.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/support/vm-images.sh
. "$TOP/tests/support/vm-images.sh"
# shellcheck source=tests/support/dev-net.sh
. "$TOP/tests/support/dev-net.sh"
HERE=$TOP/tests/bench/vm
devnet_prereqs
for c in musl-gcc python3 bc; do command -v "$c" >/dev/null || skip "$c not installed"; done
MIB=${BENCH_NET_MIB:-128}
RUNS=${BENCH_NET_RUNS:-2}
PORT=5001
GUEST_IP=10.77.0.3 # the guest's own address on the NIC, for the baseline only
accel=$(revm_accel)

# Static, so that the one binary runs unchanged on the host and in the guest.
musl-gcc -static -O2 -o "$T/net-send" "$HERE/net-send.c" || fail "cannot build vm/net-send.c"

devnet_namespaces
nsa=$DEVNET_NSA nsb=$DEVNET_NSB
devnet_driver_profile
devnet_start_peer
ip netns exec "$nsb" python3 "$HERE/net-sink.py" "$DEVNET_PEER_IP" $PORT >"$T/sink.log" 2>&1 &
track_pid $!
wait_for 10 grep -q listening "$T/sink.log" || { cat "$T/sink.log"; fail "receiver did not start"; }
devnet_start_driver
nic=$DEVNET_NIC

sink_reported() { [ "$(grep -c . "$T/sink.log")" -gt "$1" ]; }
# transfer WHAT COMMAND...: runs one sender; prints the receiver's MB/s for that transfer.
# A transfer that does not complete in full is a failure, not a slow measurement.
transfer() {
  local what=$1; shift
  local before line bytes secs
  before=$(grep -c . "$T/sink.log" || true)
  timeout 900 "$@" >"$T/send.log" 2>&1 || { cat "$T/send.log" "$T/sink.log" >&2; fail "$what: sender failed"; }
  # The sender exits only after the receiver's close, which follows its report.
  wait_for 10 sink_reported "$before" || { cat "$T/sink.log" >&2; fail "$what: receiver reported nothing"; }
  line=$(tail -n 1 "$T/sink.log")
  read -r bytes secs <<<"$line"
  [ "$bytes" = $(( MIB << 20 )) ] || fail "$what: receiver got $bytes bytes of $(( MIB << 20 ))"
  echo "scale=1; $bytes / $secs / 1000000" | bc
}
best() { printf '%s\n' "$@" | sort -g | tail -n 1; } # highest rate: the least disturbed run

# ---- baseline: the guest's own stack on the e1000, before the device service takes the NIC ----
revm --vm driver sh -c 'cat >/tmp/net-send && chmod 755 /tmp/net-send' <"$T/net-send" ||
  fail "cannot copy the sender into the driver VM"
revm --vm driver sh -c "ip link set $nic up && ip addr add $GUEST_IP/24 dev $nic" ||
  fail "cannot give the guest's $nic an address"
guest_carrier() { [ "$(revm --vm driver cat "/sys/class/net/$nic/carrier" 2>/dev/null)" = 1 ]; }
wait_for 60 guest_carrier || fail "the guest's $nic has no carrier"
base=()
for _ in $(seq "$RUNS"); do
  base+=("$(transfer "guest stack" revm --vm driver /tmp/net-send "$DEVNET_PEER_IP" $PORT "$MIB")")
done
# The device service expects the VM's own stack to stay silent on the NIC it serves.
revm --vm driver ip addr flush dev "$nic" || fail "cannot remove the guest's address from $nic"

# ---- context: the bridge's raw host -> guest throughput, the transport ours rides on ----
# Not part of the ratio: it tells whether a low ratio is the transport's ceiling or the cost
# of moving frames through the device helper and the NIC.
t0=$(date +%s.%N)
head -c "${MIB}M" /dev/zero | revm --vm driver sh -c 'cat >/dev/null' || fail "raw bridge transfer failed"
raw=$(echo "scale=1; ($MIB * 1048576 / 1000000) / ($(date +%s.%N) - $t0)" | bc)

# ---- ours: from the host through rdtap0 and the device service ----
devnet_attach
ours=()
for _ in $(seq "$RUNS"); do
  ours+=("$(transfer "device service" ip netns exec "$nsa" "$T/net-send" "$DEVNET_PEER_IP" $PORT "$MIB")")
done
kill -0 "$DEVNET_DEVICES_PID" 2>/dev/null || { cat "$T/devices.log"; fail "revm-devices ended during the transfers"; }

o=$(best "${ours[@]}") b=$(best "${base[@]}")
printf 'driver VM e1000 (%s), TCP host -> peer %d MiB: through the device service %s MB/s, guest stack directly on QEMU netdev %s MB/s, ratio %.0f%% (target >= 50%% under TCG) [runs: %s | %s]\n' \
  "$accel" "$MIB" "$o" "$b" "$(echo "100 * $o / $b" | bc -l)" "${ours[*]}" "${base[*]}"
printf '  context: the bridge alone carries %s MB/s host -> guest (%d MiB through revm sh -c "cat >/dev/null")\n' "$raw" "$MIB"
