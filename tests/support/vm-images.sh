# Builds VM images from a rootfs fixture for e2e tests (sourced after tests/lib.sh).
# build_vm_images FIXTURE OUT [VARIANT...]: FIXTURE is small or debian; images get the
# static guest daemon as their bridge. Kernel: the test kernel fixture.
build_vm_images() {
  local fixture=$1 out=$2; shift 2
  "$TOP/scripts/fixtures/build-all.sh" >/dev/null
  local tarball
  tarball=$(ls "$FIXTURES/$fixture"/*.tar.xz | head -n 1)
  local args=()
  local v
  for v in "${@:-all}"; do args+=(--variant "$v"); done
  mkimage "${args[@]}" --rootfs "$tarball" --sha256sums "$FIXTURES/$fixture/sha256sum.txt" \
    --kernel "$FIXTURES/kernel/tree" --bridge "$BUILD/lib/revm/revm-guestd" \
    --work "$T/mkimage-work" --out "$out" --quiet
}

# start_revmd: a supervisor for this test, on the images in $REVM_IMAGES, tracked for cleanup.
start_revmd() {
  if [ -z "${REVM_STATE_DIR:-}" ]; then
    local short
    short_tmpdir short
    export REVM_STATE_DIR=$short/st
  fi
  export REVM_PROFILES=${REVM_PROFILES:-$BUILD/lib/revm/profiles}
  export REVM_NET_RESTRICT=1
  # Launcher entries of this test's VMs stay in the test's folder, never the user's.
  export REVM_LAUNCHER_DIR=${REVM_LAUNCHER_DIR:-$T/launcher}
  revmd "$@" >>"$T/revmd.log" 2>&1 &
  REVMD_PID=$!
  track_pid "$REVMD_PID"
  wait_for 10 test -S "$REVM_STATE_DIR/control.sock" || { cat "$T/revmd.log"; fail "revmd did not start"; }
}

# qemu_pid_of VM: the QEMU pid revm status reports.
qemu_pid_of() {
  revm status "$1" | sed -n 's/.* pid=\([0-9]*\) .*/\1/p'
}
