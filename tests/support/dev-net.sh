# shellcheck shell=bash
# The network setup of the device service's NIC tests (tests/e2e/dev-net.sh, the benchmark
# tests/bench/dev-net.sh), sourced after tests/lib.sh and tests/support/vm-images.sh, so that
# the test and the benchmark measure the one same wiring:
#
#   namespace A: rdtap0 (DEVNET_HOST_IP) <- revm-devices <- bridge -> driver VM -> e1000
#     -> QEMU's UDP socket netdev on 127.0.0.1 -> dev-net-peer.py -> rdpeer<pid> (DEVNET_PEER_IP)
#   in namespace B.
#
# No traffic leaves the machine: both namespaces are private and the netdev is loopback UDP.
# Every process started here is tracked (track_pid) and the namespaces are deleted at exit
# (on_exit), pass or fail. Call the steps in this order:
#   devnet_prereqs; devnet_namespaces; devnet_driver_profile; devnet_start_peer;
#   devnet_start_driver; [the VM's own stack may use the NIC here]; devnet_attach
DEVNET_HOST_IP=10.77.0.1
DEVNET_PEER_IP=10.77.0.2

# devnet_prereqs: skips (exit 77) unless namespaces and TAPs can be made here.
devnet_prereqs() {
  [ "$(id -u)" = 0 ] || skip "needs root (network namespaces, TAP)"
  [ -c /dev/net/tun ] || skip "no /dev/net/tun"
  [ -x "$BUILD/bin/revm-devices" ] || skip "revm-devices not built"
}

# devnet_namespaces: namespaces DEVNET_NSA (the host's side) and DEVNET_NSB (the peer's).
devnet_namespaces() {
  DEVNET_NSA=revmdev-a-$$ DEVNET_NSB=revmdev-b-$$
  ip netns add "$DEVNET_NSA" || skip "cannot create network namespaces here"
  on_exit "ip netns del $DEVNET_NSA 2>/dev/null"
  ip netns add "$DEVNET_NSB"
  on_exit "ip netns del $DEVNET_NSB 2>/dev/null"
}

# devnet_driver_profile: driver images (REVM_DEV_IMAGES, or built from REVM_FIXTURE, default
# small) and a driver profile whose emulated e1000 is wired to the peer's UDP port; exports
# REVM_IMAGES and REVM_PROFILES.
devnet_driver_profile() {
  if [ -n "${REVM_DEV_IMAGES:-}" ]; then
    export REVM_IMAGES=$REVM_DEV_IMAGES
  else
    build_vm_images "${REVM_FIXTURE:-small}" "$T/images" driver
    export REVM_IMAGES=$T/images
  fi
  DEVNET_QPORT=$(( 20000 + RANDOM % 20000 )) DEVNET_PPORT=$(( DEVNET_QPORT + 1 ))
  mkdir -p "$T/profiles"
  cp "$BUILD/lib/revm/profiles/driver.ini" "$T/profiles/"
  echo "emulated_nic = e1000:$DEVNET_QPORT:$DEVNET_PPORT" >>"$T/profiles/driver.ini"
  export REVM_PROFILES=$T/profiles
}

# devnet_start_peer: the peer (QEMU's UDP frames <-> TAP DEVNET_PEER_TAP), its TAP moved into
# namespace B with DEVNET_PEER_IP/24.
devnet_start_peer() {
  DEVNET_PEER_TAP=rdpeer$$
  python3 "$TOP/tests/support/dev-net-peer.py" "$DEVNET_PEER_TAP" "$DEVNET_PPORT" "$DEVNET_QPORT" >"$T/peer.log" 2>&1 &
  track_pid $!
  wait_for 10 grep -q ready "$T/peer.log" || { cat "$T/peer.log"; fail "peer did not start"; }
  ip link set "$DEVNET_PEER_TAP" netns "$DEVNET_NSB"
  ip -n "$DEVNET_NSB" addr add "$DEVNET_PEER_IP/24" dev "$DEVNET_PEER_TAP"
  ip -n "$DEVNET_NSB" link set "$DEVNET_PEER_TAP" up
  ip -n "$DEVNET_NSB" link set lo up
}

_devnet_has_nic() { revm devices >"$T/devices.txt" 2>&1 && grep -q '^net ' "$T/devices.txt"; }
_devnet_link_up() { ip -n "$DEVNET_NSA" link show rdtap0 | grep -q 'LOWER_UP'; }

# devnet_start_driver: a supervisor and the driver VM, until `revm devices` lists a NIC;
# sets DEVNET_NIC (the guest's interface name), the listing stays in $T/devices.txt.
devnet_start_driver() {
  start_revmd
  revm start driver >"$T/start.log" 2>&1 || { cat "$T/start.log" "$T/revmd.log"; fail "driver VM did not start"; }
  wait_for 120 _devnet_has_nic || { cat "$T/devices.txt"; fail "revm devices lists no NIC"; }
  DEVNET_NIC=$(awk '$1 == "net" {print $2; exit}' "$T/devices.txt")
}

# devnet_attach: revm-devices in namespace A offers the NIC as TAP rdtap0 with DEVNET_HOST_IP/24
# (log in $T/devices.log, pid in DEVNET_DEVICES_PID); returns once rdtap0 has carrier.
devnet_attach() {
  ip netns exec "$DEVNET_NSA" "$BUILD/bin/revm-devices" --vm driver --net "$DEVNET_NIC=rdtap0" >"$T/devices.log" 2>&1 &
  DEVNET_DEVICES_PID=$!
  track_pid "$DEVNET_DEVICES_PID"
  wait_for 60 grep -q "rdtap0 mac" "$T/devices.log" || { cat "$T/devices.log"; fail "NIC channel did not open"; }
  ip -n "$DEVNET_NSA" addr add "$DEVNET_HOST_IP/24" dev rdtap0
  ip -n "$DEVNET_NSA" link set lo up
  wait_for 30 _devnet_link_up || { ip -n "$DEVNET_NSA" link show rdtap0; fail "rdtap0 has no carrier"; }
}
