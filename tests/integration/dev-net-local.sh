#!/usr/bin/env bash
# Device service, network side, without a VM: the guest helper (`revm-guestd
# --service device net:va`, ASan build) drives one end of a veth pair in namespace X as the
# VM's NIC would be driven; revm-devices, also in X, offers it as TAP interface tap0; the veth
# peer vb lives in namespace Y. Through tap0: ping, 64 MiB of TCP echoed back with a checksum,
# the NIC's MAC and MTU on tap0, and the helper killed: the same tap0 works again.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, TAP)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
for c in ping ethtool; do command -v $c >/dev/null || skip "$c not installed"; done
DEVICES=$BUILD/tests/bin/revm-devices
GUESTD=$BUILD/tests/bin/revm-guestd
[ -x "$DEVICES" ] && [ -x "$GUESTD" ] || skip "revm-devices or revm-guestd not built"
HERE=$TOP/tests/support

nsx=revmdevx-$$ nsy=revmdevy-$$
ip netns add $nsx || skip "cannot create network namespaces here"
on_exit "ip netns del $nsx 2>/dev/null"
ip netns add $nsy
on_exit "ip netns del $nsy 2>/dev/null"
ip -n $nsx link add va type veth peer name vb netns $nsy
ip -n $nsx link set va address 52:54:00:12:00:01 mtu 1400
ip -n $nsx link set va up
ip -n $nsx link set lo up
ip -n $nsy link set vb up
ip -n $nsy link set lo up
ip -n $nsy addr add 10.9.0.2/24 dev vb
# A NIC never hands its driver frames above the MTU or with checksums left to do: the veth
# peer must not either (segmentation and checksum offloads off).
ip netns exec $nsy ethtool -K vb tx off tso off gso off gro off >/dev/null 2>&1 || true

ip netns exec $nsx "$DEVICES" --local "$GUESTD" --net va=tap0 >"$T/devices.log" 2>&1 &
dpid=$!
track_pid $dpid
wait_for 20 grep -q "tap0 mac" "$T/devices.log" || { cat "$T/devices.log"; fail "NIC channel did not open"; }
ip -n $nsx addr add 10.9.0.1/24 dev tap0
ip -n $nsx -o link show tap0 | grep -q 'mtu 1400 .*link/ether 52:54:00:12:00:01' ||
  { ip -n $nsx -o link show tap0; fail "tap0 lacks the NIC's MTU or MAC"; }
ok "tap0 has the NIC's MAC and MTU"

ping_once() { ip netns exec $nsx ping -c 1 -W 2 10.9.0.2 >"$T/ping.log" 2>&1; }
wait_for 30 ping_once || { cat "$T/ping.log" "$T/devices.log"; fail "ping through the device service failed"; }
ip netns exec $nsx ping -c 5 -i 0.2 10.9.0.2 >"$T/ping.log" 2>&1 || { cat "$T/ping.log"; fail "ping lost packets"; }
ok "ping: $(tail -n 1 "$T/ping.log")"

ip netns exec $nsy python3 "$HERE/dev-tcp.py" serve 10.9.0.2 5001 >"$T/serve.log" 2>&1 & spid=$!
track_pid $spid
wait_for 10 grep -q listening "$T/serve.log"
ip netns exec $nsx timeout 300 python3 "$HERE/dev-tcp.py" send 10.9.0.2 5001 64 >"$T/tcp.log" 2>&1 ||
  { cat "$T/tcp.log" "$T/devices.log"; fail "64 MiB TCP echo failed"; }
ok "TCP: $(cat "$T/tcp.log")"

helper=$(pgrep -P $dpid | head -n 1)
kill -KILL "$helper"
wait_for 30 grep -q "device channel open again" "$T/devices.log" || { cat "$T/devices.log"; fail "no reconnect"; }
wait_for 30 ping_once || { cat "$T/ping.log" "$T/devices.log"; fail "no ping after the helper restarted"; }
ok "helper killed: the same tap0 works again"
kill -TERM $dpid
wait $dpid || fail "revm-devices did not end cleanly"
! grep -q "AddressSanitizer\|runtime error" "$T/devices.log" || fail "sanitizer report"
