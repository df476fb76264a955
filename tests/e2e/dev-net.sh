#!/usr/bin/env bash
# Device service, network side, through a real driver VM: the driver VM gets an
# emulated e1000 whose wire is a UDP socket netdev on 127.0.0.1 to a userspace peer (a TAP in
# network namespace B); revm-devices, in network namespace A, offers the VM's NIC as TAP
# interface rdtap0. Through it: ping, and 64 MiB over TCP echoed back with a checksum. Then
# `revm restart driver`: the TAP stays, and ping works again afterwards. No traffic leaves the
# machine: both namespaces are private and the netdev is loopback UDP.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/support/vm-images.sh"
. "$TOP/tests/support/dev-net.sh"
HERE=$TOP/tests/support
devnet_prereqs
command -v ping >/dev/null || skip "ping not installed (iputils-ping)"

devnet_namespaces
nsa=$DEVNET_NSA nsb=$DEVNET_NSB
devnet_driver_profile
devnet_start_peer
devnet_start_driver
cat "$T/devices.txt"
nic=$DEVNET_NIC
grep -q "^net *$nic *e1000 *52:54:00:be:ef:00 mtu 1500" "$T/devices.txt" || fail "NIC line lacks driver, MAC or MTU"
ok "revm devices lists $nic (e1000, MAC, MTU)"

devnet_attach
[ "$(ip -n $nsa -o link show rdtap0 | grep -o 'link/ether [0-9a-f:]*')" = "link/ether 52:54:00:be:ef:00" ] ||
  fail "rdtap0 does not carry the NIC's MAC"
ok "rdtap0 carries the VM NIC's MAC"

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
