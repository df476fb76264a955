#!/usr/bin/env bash
# A misbehaving guest (bridge-fakeguest.py): truncated frames, oversized lengths, unknown
# types, data on closed channels, credit overflow, bad sequences. revm must answer as
# PROTOCOL.md says, report each fault in one clear line and never crash or hang; the
# multiplexer must survive the same guest and keep serving.
. "$(dirname "$0")/../lib.sh"

REVM=$BUILD/tests/bin/revm
[ -x "$REVM" ] || skip "$REVM not built (make -C bridge all)"
command -v python3 >/dev/null || skip "python3 missing"

python3 "$(dirname "$0")/bridge-fakeguest.py" "$T/fg.sock" "$T/fg.log" &
track_pid $!
wait_for 10 test -S "$T/fg.sock" || fail "fake guest did not start"

# case NAME EXPECTED_EXIT ERROR_TEXT [LOGGED_REPLY]: run revm NAME against the fake guest
# (directly when REVM_SOCKET is the guest, through the mux otherwise).
case_() {
  local name=$1 want=$2 text=$3 reply=${4:-}
  local rc=0 err
  : >"$T/fg.log"
  err=$(timeout 30 "$REVM" "$name" </dev/null 2>&1 >/dev/null) || rc=$?
  [ "$rc" -ne 124 ] || fail "$name: revm hung"
  [ "$rc" -eq "$want" ] || fail "$name: exit $rc, want $want ($err)"
  [[ "$err" == *"$text"* ]] || fail "$name: error '$err' lacks '$text'"
  if [ -n "$reply" ]; then
    wait_for 5 grep -q "^$reply\$" "$T/fg.log" || fail "$name: host did not answer $reply"
  fi
  echo "ok: $name -> exit $rc${err:+: $err}${reply:+ (answered $reply)}"
}

run_cases() {
  case_ ok 0 ""
  case_ truncated 255 "VM connection lost: bridge connection closed by the VM"
  case_ oversized 255 "above the limit of"
  case_ unknown-control 0 "" "got ERROR 38"
  case_ unknown-type 255 "protocol error from the VM" "got CH_ERROR 71"
  case_ closed-channel 0 "" "got CH_ERROR 9"
  case_ credit-overflow 255 "protocol error from the VM" "got CH_ERROR 71"
  case_ bad-exit 255 "protocol error from the VM" "got CH_ERROR 71"
  case_ data-before-open 255 "protocol error from the VM" "got CH_ERROR 71"
  case_ goodbye 255 "going away for a test"
  case_ btop 127 "no such program in the VM: btop"
}

export REVM_SOCKET=$T/fg.sock
echo "== revm directly against the fake guest"
run_cases
# DATA beyond the window while revm's own reader is stalled (a full pipe nobody reads).
: >"$T/fg.log"
rc=0
# shellcheck disable=SC2216 # sleep is the point: a reader that never reads
{ timeout 30 "$REVM" data-overflow </dev/null 2>"$T/ovf.err" || rc=$?; echo "$rc" >"$T/ovf.rc"; } | sleep 5
rc=$(cat "$T/ovf.rc")
if [ "$rc" -ne 255 ] || ! grep -q "beyond the credit" "$T/ovf.err"; then
  fail "data-overflow: exit $rc, $(cat "$T/ovf.err")"
fi
grep -q "^got CH_ERROR 71$" "$T/fg.log" || fail "data-overflow: no CH_ERROR EPROTO"
echo "ok: data-overflow -> exit $rc: $(cat "$T/ovf.err")"

echo "== through the multiplexer (one VM connection for every case)"
"$REVM" --socket "$T/fg.sock" mux --listen "$T/m.sock" >"$T/mux.log" 2>&1 &
muxpid=$!
track_pid $muxpid
wait_for 10 test -S "$T/m.sock" || fail "mux did not start"
export REVM_SOCKET=$T/m.sock
for c in ok unknown-type closed-channel credit-overflow bad-exit data-before-open btop ok; do
  case "$c" in
    ok|closed-channel) want=0 ;;
    btop) want=127 ;;
    *) want=255 ;;
  esac
  case_ "$c" "$want" ""
  kill -0 $muxpid || fail "mux died on $c: $(tail -n 3 "$T/mux.log")"
done
grep -q "VM protocol error" "$T/mux.log" || fail "mux did not report the VM's faults"
echo "mux log: $(grep -c . "$T/mux.log") lines, e.g. $(grep -m1 'VM protocol error' "$T/mux.log")"
# A fault that breaks the stream ends the VM connection; the mux reports why and its
# clients get a clear error, not a hang.
case_ oversized 255 "VM connection lost"
wait_for 10 sh -c "! kill -0 $muxpid 2>/dev/null" || fail "mux still runs without a VM connection"
grep -q "above the limit" "$T/mux.log" || fail "mux did not say why the VM connection ended"
ok "multiplexer survived every per-channel fault and reported the fatal one"
