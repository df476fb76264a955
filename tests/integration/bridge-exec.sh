#!/usr/bin/env bash
# revm against the guest daemon running on the host (unix socket): exit codes, separate
# stdout/stderr, end of input, clear errors, and a 1 GiB round trip through `sh -c cat`
# that must be byte-exact with constant memory on both sides.
. "$(dirname "$0")/../lib.sh"

SAN_REVM=$BUILD/tests/bin/revm
SAN_GUEST=$BUILD/tests/bin/revm-guestd
REL_REVM=$BUILD/bin/revm
REL_GUEST=$BUILD/lib/revm/revm-guestd
for b in "$SAN_REVM" "$SAN_GUEST"; do [ -x "$b" ] || skip "$b not built (make -C bridge all)"; done

# start_guest BINARY SOCKET: sets gpid (not a $(...): the daemon must be our own child).
start_guest() {
  "$1" --quiet --listen "unix:$2" >>"$T/guest.log" 2>&1 &
  gpid=$!
  track_pid "$gpid"
  wait_for 10 test -S "$2" || fail "guest daemon did not create $2"
}

start_guest "$SAN_GUEST" "$T/g.sock"
san_gpid=$gpid
export REVM_SOCKET=$T/g.sock
revm() { "$SAN_REVM" "$@"; }

# --- exit codes: 0, 1, 42, killed by SIGKILL (128+9) ---
for want in 0 1 42; do
  rc=0; revm sh -c "exit $want" </dev/null || rc=$?
  [ "$rc" -eq "$want" ] || fail "exit $want: revm exited $rc"
done
rc=0; revm sh -c 'kill -KILL $$' </dev/null || rc=$?
[ "$rc" -eq 137 ] || fail "SIGKILL: revm exited $rc, want 137"
rc=0; revm true </dev/null || rc=$?
[ "$rc" -eq 0 ] || fail "revm true exited $rc"
ok "exit codes 0 1 42 137"

# --- stdout and stderr stay separate ---
revm sh -c 'echo to-out; echo to-err >&2; echo more-out' </dev/null >"$T/out" 2>"$T/err"
[ "$(cat "$T/out")" = "$(printf 'to-out\nmore-out')" ] || fail "stdout was: $(cat "$T/out")"
[ "$(cat "$T/err")" = "to-err" ] || fail "stderr was: $(cat "$T/err")"
ok "stdout and stderr separated"

# --- end of input reaches the program ---
out=$(printf 'abc' | revm sh -c 'cat; echo "|eof"')
[ "$out" = "abc|eof" ] || fail "stdin EOF: got '$out'"
out=$(revm sh -c 'cat; echo eof-without-input' </dev/null)
[ "$out" = "eof-without-input" ] || fail "empty stdin: got '$out'"
ok "stdin EOF propagated"

# --- arguments arrive unchanged ---
out=$(revm printf '%s|' 'a b' '' 'c"d' "e'f" </dev/null)
[ "$out" = "a b||c\"d|e'f|" ] || fail "argv: got '$out'"
# shellcheck disable=SC2016 # expanded by the guest's shell
out=$(revm -e REVM_TEST_VAR=xyz sh -c 'echo $REVM_TEST_VAR' </dev/null)
[ "$out" = "xyz" ] || fail "-e: got '$out'"
ok "argv and environment"

# --- signals without a terminal: SIGINT/SIGTERM to revm reach the program ---
for sig in INT TERM; do
  : >"$T/sig.out"
  "$SAN_REVM" sh -c 'echo started; exec sleep 100' </dev/null >"$T/sig.out" 2>&1 &
  p=$!
  track_pid $p
  wait_for 10 grep -q started "$T/sig.out" || fail "SIG$sig: program did not start"
  kill -"$sig" $p
  rc=0; wait $p || rc=$?
  want=$((128 + $(kill -l "$sig")))
  [ "$rc" -eq "$want" ] || fail "SIG$sig: revm exited $rc, want $want"
done
ok "SIGINT and SIGTERM forwarded (exit 130, 143)"

# --- clear errors ---
rc=0; err=$(revm btop 2>&1 </dev/null >/dev/null) || rc=$?
if [ "$rc" -ne 127 ] || [ "$err" != "revm: no such program in the VM: btop" ]; then
  fail "missing program: exit $rc, '$err'"
fi
rc=0; err=$(REVM_SOCKET=$T/nothing.sock revm true 2>&1 </dev/null) || rc=$?
if [ "$rc" -ne 255 ] || [[ "$err" != "revm: VM app is not running"* ]]; then
  fail "no VM: exit $rc, '$err'"
fi
expect_fail "no program given" revm
out=$(revm --help) || fail "--help exited non-zero"
[[ "$out" == usage:* ]] || fail "--help printed no usage"
ok "errors: $err"

# --- 1 GiB round trip, byte-exact, constant memory on both sides ---
# Release binaries when built (their memory is what users get; ASan's shadow memory would
# dominate the numbers), else the sanitized ones.
if [ -x "$REL_REVM" ] && [ -x "$REL_GUEST" ]; then
  RT_REVM=$REL_REVM; start_guest "$REL_GUEST" "$T/g2.sock"; gpid2=$gpid; RT_SOCK=$T/g2.sock
else
  RT_REVM=$SAN_REVM; gpid2=$san_gpid; RT_SOCK=$T/g.sock
fi
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
g_before=$(hwm "$gpid2")
mkfifo "$T/tap"
sha256sum <"$T/tap" >"$T/in.sha" & sumpid=$!
track_pid $sumpid
size=$((1024 * 1024 * 1024))
start=$(date +%s.%N)
head -c "$size" /dev/urandom | tee "$T/tap" |
  REVM_SOCKET=$RT_SOCK /usr/bin/time -f '%M' -o "$T/revm.rss" "$RT_REVM" sh -c 'cat' |
  sha256sum >"$T/out.sha"
end=$(date +%s.%N)
wait "$sumpid"
[ "$(cut -d' ' -f1 "$T/in.sha")" = "$(cut -d' ' -f1 "$T/out.sha")" ] ||
  fail "1 GiB round trip: checksums differ ($(cat "$T/in.sha") vs $(cat "$T/out.sha"))"
g_after=$(hwm "$gpid2")
revm_kb=$(cat "$T/revm.rss")
secs=$(echo "$end - $start" | bc)
echo "1 GiB round trip in ${secs}s; revm max RSS ${revm_kb} KiB; guest daemon VmHWM ${g_before} -> ${g_after} KiB"
# Bounded by the flow-control window (1 MiB per stream) plus buffers, never by the data.
[ "$revm_kb" -lt 65536 ] || fail "revm used ${revm_kb} KiB for a 1 GiB stream"
[ $((g_after - g_before)) -lt 32768 ] || fail "guest daemon grew by $((g_after - g_before)) KiB"
ok "1 GiB round trip byte-exact, memory bounded"
