#!/usr/bin/env bash
# Display service acceptance on a real VM (QEMU, TCG here): the driver VM gets an emulated GPU
# (profile key display = bochs: QEMU's bochs-display, driven by Linux's bochs DRM driver;
# REVM_DISPLAY_GPU=virtio-gpu runs the same against virtio-gpu, which needs DIRTYFB), the
# display service drives it with KMS, and the host test program (tests/support/display_check.py)
# draws known patterns through revm-display. A QMP screendump of the VM must show exactly:
# the full pattern, a damaged rectangle changed and nothing else, the pattern at a new size
# after a mode change to another listed mode.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/support/vm-images.sh"
fixture=${REVM_FIXTURE:-small}
command -v python3 >/dev/null || skip "python3 is needed for the test program"

build_vm_images "$fixture" "$T/images" driver
export REVM_IMAGES=$T/images
# The shipped driver profile with the emulated GPU.
mkdir -p "$T/profiles"
gpu=${REVM_DISPLAY_GPU:-bochs}
sed "s/^display = none\$/display = $gpu/" "$BUILD/lib/revm/profiles/driver.ini" >"$T/profiles/driver.ini"
grep -q "^display = $gpu\$" "$T/profiles/driver.ini" || fail "driver profile has no display key to set"
export REVM_PROFILES=$T/profiles
start_revmd
revm start driver >"$T/start.log" 2>&1 || { cat "$T/start.log" "$T/revmd.log"; fail "revm start driver failed"; }
ok "driver VM ready with a $gpu GPU"

# The connector list through the CLI.
revm --vm driver displays >"$T/displays" 2>&1 || { cat "$T/displays"; fail "revm displays failed"; }
cat "$T/displays"
grep -q "connected" "$T/displays" || fail "revm displays lists no connected connector"

short_tmpdir sd
revm-display --vm driver --shm "$sd/fb" --control "$sd/ctl" >"$T/fe.out" 2>"$T/fe.err" &
fe=$!
track_pid $fe
wait_for 120 grep -q "ready" "$T/fe.out" || { cat "$T/fe.out" "$T/fe.err"; fail "revm-display did not come up"; }
ok "front end: $(cat "$T/fe.out")"

python3 "$TOP/tests/support/display_check.py" --control "$sd/ctl" --shm "$sd/fb" \
  --qmp "$REVM_STATE_DIR/driver/qmp.sock" --tmp "$T/screen.ppm" ||
  { cat "$T/fe.err"; fail "the screen does not show what the host drew"; }
ok "screendumps match: full frame, partial update, mode change"
