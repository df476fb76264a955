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
_cleanup_paths=()
_exit_hooks=()

track_pid() { _tracked_pids+=("$1"); }

# on_exit COMMAND: runs COMMAND (a shell string) at exit, after the tracked processes have
# ended (so an unmount is not busy), pass or fail. Use it instead of another EXIT trap:
# under set -e a trap that fails stops before the cleanup it was meant to chain to.
on_exit() { _exit_hooks+=("$1"); }

# short_tmpdir VAR: sets VAR to a private directory with a short path (unix socket paths are
# limited to 108 bytes, and a CI checkout may be deep), removed at exit like $T. Not usable
# in $(...), which would lose the registration.
short_tmpdir() {
  local d
  d=$(mktemp -d /tmp/revm-test.XXXXXX)
  _cleanup_paths+=("$d")
  printf -v "$1" '%s' "$d"
}

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
  set +e # every cleanup step runs, whatever fails
  _end_tracked
  local h
  for h in "${_exit_hooks[@]}"; do eval "$h"; done
  local p
  for p in "${_cleanup_paths[@]}"; do rm -rf "$p"; done
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

# revm_accel: "kvm" when QEMU can run a KVM guest here, else "tcg". REVM_ACCEL overrides.
# /dev/kvm may exist and even run firmware while QEMU cannot use it for a real guest (nested
# virtualisation here: QEMU aborts with -cpu host, and hangs silently with its default CPU),
# so the probe starts QEMU exactly as the VMs are started (-accel kvm -cpu host), paused,
# and asks it to quit. Same rule as bridge/revmd/accel.c.
revm_accel() {
  if [ -n "${REVM_ACCEL:-}" ]; then echo "$REVM_ACCEL"; return; fi
  # The subshell keeps bash's "Aborted" job report for a crashing QEMU out of the output.
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && (
       printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"quit"}' |
         timeout 10 qemu-system-x86_64 -accel kvm -cpu host -M q35 -m 64 -nodefaults \
           -no-user-config -display none -S -qmp stdio >/dev/null 2>&1) 2>/dev/null; then
    echo kvm
  else
    echo tcg
  fi
}

# qemu_accel_args: the -accel/-cpu pair matching revm_accel, for test boots.
qemu_accel_args() {
  if [ "$(revm_accel)" = kvm ]; then echo "-accel kvm -cpu host"; else echo "-accel tcg -cpu max"; fi
}
