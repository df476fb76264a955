# Shared helpers for integration and e2e test scripts. Source it first:
#   . "$(dirname "$0")/../lib.sh"
# It sets strict mode, TOP and BUILD, a per-script temp dir ($T), and an EXIT trap
# that ends every process registered with track_pid (QEMU included), by pid,
# whether the script passes or fails.
set -euo pipefail
TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${BUILD:-$TOP/build}
FIXTURES=$BUILD/fixtures
export TOP BUILD FIXTURES PATH="$BUILD/bin:$PATH"
mkdir -p "$BUILD/tmp"
T=$(mktemp -d "$BUILD/tmp/$(basename "$0" .sh).XXXXXX")
_tracked_pids=()

track_pid() { _tracked_pids+=("$1"); }

_end_tracked() {
  local pid
  for pid in "${_tracked_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${_tracked_pids[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
_cleanup() {
  local rc=$?
  _end_tracked
  if [ $rc -eq 0 ] || [ -z "${KEEP_TMP:-}" ]; then rm -rf "$T" 2>/dev/null || chmod -R u+w "$T" && rm -rf "$T"; fi
  exit $rc
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

skip() { echo "skip: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
ok()   { echo "ok: $*"; }

# expect_fail DESCRIPTION COMMAND...: the command must exit non-zero with a one-line error.
expect_fail() {
  local what=$1; shift
  local out rc=0
  out=$("$@" 2>&1 >/dev/null) || rc=$?
  [ $rc -ne 0 ] || fail "$what: expected failure, got exit 0"
  [ -n "$out" ] || fail "$what: no error message"
  echo "ok: $what -> exit $rc: $(printf '%s' "$out" | tail -n 1)"
}

# wait_for SECONDS COMMAND...: poll until the command succeeds.
wait_for() {
  local secs=$1; shift
  local end=$(( $(date +%s) + secs ))
  until "$@"; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.1
  done
}

# revm_accel: "kvm" when KVM can run a guest here, else "tcg". REVM_ACCEL overrides.
# /dev/kvm may exist while nested virtualisation is broken, so this boots firmware
# under KVM and checks that it really ran (SeaBIOS writes to the debug console).
revm_accel() {
  if [ -n "${REVM_ACCEL:-}" ]; then echo "$REVM_ACCEL"; return; fi
  local log=$T/accel-probe.log
  if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    timeout 5 qemu-system-x86_64 -accel kvm -M q35 -m 64 -nodefaults -display none \
      -chardev file,id=dbg,path="$log" -device isa-debugcon,iobase=0x402,chardev=dbg \
      >/dev/null 2>&1 </dev/null || true
    if grep -q 'No bootable device' "$log" 2>/dev/null; then echo kvm; return; fi
  fi
  echo tcg
}
