#!/usr/bin/env bash
# Device service, network side, through a real driver VM: the driver VM gets an
# emulated e1000 whose wire is a UDP socket netdev on 127.0.0.1 to a userspace peer (a TAP in
# network namespace B); revm-devices, in network namespace A, offers the VM's NIC as TAP
# interface rdtap0. Through it: ping, and 64 MiB over TCP echoed back with a checksum. Then
# `revm restart driver`: the TAP stays, and ping works again afterwards. No traffic leaves the
# machine: both namespaces are private and the netdev is loopback UDP.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/support/vm-images.sh"
HERE=$TOP/tests/support
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, TAP)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
command -v ping >/dev/null || skip "ping not installed (iputils-ping)"
[ -x "$BUILD/bin/revm-devices" ] || skip "revm-devices not built"

nsa=revmdev-a-$$ nsb=revmdev-b-$$
ip netns add $nsa || skip "cannot create network namespaces here"
on_exit "ip netns del $nsa 2>/dev/null"
ip netns add $nsb
on_exit "ip netns del $nsb 2>/dev/null"

if [ -n "${REVM_DEV_IMAGES:-}" ]; then
  export REVM_IMAGES=$REVM_DEV_IMAGES
else
  build_vm_images "${REVM_FIXTURE:-small}" "$T/images" driver
  export REVM_IMAGES=$T/images
fi
qport=$(( 20000 + RANDOM % 20000 )) pport=$(( qport + 1 ))
mkdir -p "$T/profiles"
cp "$BUILD/lib/revm/profiles/driver.ini" "$T/profiles/"
echo "emulated_nic = e1000:$qport:$pport" >>"$T/profiles/driver.ini"
export REVM_PROFILES=$T/profiles

# The peer: QEMU's UDP frames <-> TAP rdpeer0, moved into namespace B.
python3 "$HERE/dev-net-peer.py" rdpeer$$ $pport $qport >"$T/peer.log" 2>&1 & ppid=$!
track_pid $ppid
wait_for 10 grep -q ready "$T/peer.log" || { cat "$T/peer.log"; fail "peer did not start"; }
ip link set rdpeer$$ netns $nsb
ip -n $nsb addr add 10.77.0.2/24 dev rdpeer$$
ip -n $nsb link set rdpeer$$ up
ip -n $nsb link set lo up

start_revmd
revm start driver >"$T/start.log" 2>&1 || { cat "$T/start.log" "$T/revmd.log"; fail "driver VM did not start"; }
has_nic() { revm devices >"$T/devices.txt" 2>&1 && grep -q '^net ' "$T/devices.txt"; }
wait_for 120 has_nic || { cat "$T/devices.txt"; fail "revm devices lists no NIC"; }
cat "$T/devices.txt"
nic=$(awk '$1 == "net" {print $2; exit}' "$T/devices.txt")
grep -q "^net *$nic *e1000 *52:54:00:be:ef:00 mtu 1500" "$T/devices.txt" || fail "NIC line lacks driver, MAC or MTU"
ok "revm devices lists $nic (e1000, MAC, MTU)"

ip netns exec $nsa "$BUILD/bin/revm-devices" --vm driver --net "$nic=rdtap0" >"$T/devices.log" 2>&1 &
dpid=$!
track_pid $dpid
wait_for 60 grep -q "rdtap0 mac" "$T/devices.log" || { cat "$T/devices.log"; fail "NIC channel did not open"; }
ip -n $nsa addr add 10.77.0.1/24 dev rdtap0
ip -n $nsa link set lo up
[ "$(ip -n $nsa -o link show rdtap0 | grep -o 'link/ether [0-9a-f:]*')" = "link/ether 52:54:00:be:ef:00" ] ||
  fail "rdtap0 does not carry the NIC's MAC"
ok "rdtap0 carries the VM NIC's MAC"

link_up() { ip -n $nsa link show rdtap0 | grep -q 'LOWER_UP'; }
wait_for 30 link_up || { ip -n $nsa link show rdtap0; fail "rdtap0 has no carrier"; }
ip netns exec $nsa ping -c 3 -W 10 10.77.0.2 >"$T/ping.log" 2>&1 || { cat "$T/ping.log" "$T/devices.log"; fail "ping through the driver VM's NIC failed"; }
ok "ping through the VM's NIC: $(grep -o '[0-9]* received' "$T/ping.log"), $(tail -n 1 "$T/ping.log")"

ip netns exec $nsb python3 "$HERE/dev-tcp.py" serve 10.77.0.2 5001 >"$T/serve.log" 2>&1 & spid=$!
track_pid $spid
wait_for 10 grep -q listening "$T/serve.log"
ip netns exec $nsa timeout 600 python3 "$HERE/dev-tcp.py" send 10.77.0.2 5001 64 >"$T/tcp.log" 2>&1 ||
  { cat "$T/tcp.log" "$T/devices.log"; fail "64 MiB TCP echo failed"; }
ok "TCP through the VM's NIC: $(cat "$T/tcp.log")"

# The host's interface survives a driver VM restart.
revm restart driver >"$T/restart.log" 2>&1 || { cat "$T/restart.log"; fail "revm restart driver failed"; }
ip -n $nsa link show rdtap0 >/dev/null || fail "rdtap0 disappeared with the restart"
ping_once() { ip netns exec $nsa ping -c 1 -W 3 10.77.0.2 >"$T/ping2.log" 2>&1; }
wait_for 180 ping_once || { cat "$T/ping2.log" "$T/devices.log"; fail "no ping after the restart"; }
grep -q "device channel open again" "$T/devices.log" || fail "no reconnect logged"
ok "after revm restart driver the same rdtap0 works again"
