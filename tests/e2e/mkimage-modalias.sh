#!/usr/bin/env bash
# The modules index mkimage writes into images (depmod's, the one source: see
# mkimage/src/kmod_install.c) works in a booted driver VM: modprobe finds a module
# that is installed but not loaded by its modalias (what udev does for a device)
# and by name, with its dependencies, and the indexes depmod writes are all there.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/support/vm-images.sh"
fixture=${REVM_FIXTURE:-small}

build_vm_images "$fixture" "$T/images" driver
export REVM_IMAGES=$T/images
start_revmd
revm start driver >"$T/start.log" 2>&1 || { cat "$T/start.log" "$T/revmd.log"; fail "revm start driver failed"; }
ok "driver VM ready"

ver=$(revm --vm driver uname -r)
for f in modules.dep modules.dep.bin modules.alias modules.alias.bin modules.symbols.bin; do
  revm --vm driver test -s "/lib/modules/$ver/$f" || fail "image lacks /lib/modules/$ver/$f"
done
ok "depmod's indexes are in the image"

# virtio_balloon: installed (kernel/drivers/virtio/), no balloon device, so not loaded.
revm --vm driver test ! -e /sys/module/virtio_balloon || fail "virtio_balloon already loaded"
revm --vm driver modprobe 'virtio:d00000005v00001AF4' >"$T/alias.log" 2>&1 ||
  { cat "$T/alias.log"; fail "modprobe by modalias failed"; }
revm --vm driver test -e /sys/module/virtio_balloon || fail "modprobe by modalias did not load virtio_balloon"
ok "modprobe virtio:d00000005v00001AF4 loaded virtio_balloon"

# By name, with dependencies that are not loaded yet: igb needs dca and i2c-algo-bit.
revm --vm driver test ! -e /sys/module/dca || skip "dca already loaded: no dependency to check"
revm --vm driver modprobe igb >"$T/name.log" 2>&1 || { cat "$T/name.log"; fail "modprobe igb failed"; }
revm --vm driver test -e /sys/module/igb -a -e /sys/module/dca -a -e /sys/module/i2c_algo_bit ||
  fail "modprobe igb did not load it, dca and i2c_algo_bit"
ok "modprobe igb loaded it and its dependencies dca, i2c_algo_bit"
