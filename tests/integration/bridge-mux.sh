#!/usr/bin/env bash
# The multiplexer (`revm mux`, the same code the supervisor runs per VM): 64 concurrent revm
# sessions over one bridge connection, one with a stopped reader and one whose client is
# SIGSTOPped; all others finish; a client that goes away has its guest process ended.
. "$(dirname "$0")/../lib.sh"

REVM=$BUILD/tests/bin/revm
GUEST=$BUILD/tests/bin/revm-guestd
for b in "$REVM" "$GUEST"; do [ -x "$b" ] || skip "$b not built (make -C bridge all)"; done

"$GUEST" --quiet --listen "unix:$T/g.sock" >"$T/guest.log" 2>&1 &
track_pid $!
wait_for 10 test -S "$T/g.sock" || fail "guest daemon did not start"
"$REVM" --socket "$T/g.sock" mux --listen "$T/m.sock" >"$T/mux.log" 2>&1 &
muxpid=$!
track_pid $muxpid
wait_for 10 test -S "$T/m.sock" || fail "mux did not start: $(cat "$T/mux.log")"
export REVM_SOCKET=$T/m.sock
marker=stall-$$-$RANDOM

# 1. A session whose stdout nobody reads: a fifo held open but never read.
mkfifo "$T/stall"
exec 9<>"$T/stall"
"$REVM" sh -c "yes $marker-a" >"$T/stall" </dev/null 2>"$T/stall-a.err" &
stall_a=$!
track_pid $stall_a
# 2. A session whose revm client is stopped: its socket is never read.
"$REVM" sh -c "yes $marker-b" >/dev/null </dev/null 2>"$T/stall-b.err" &
stall_b=$!
track_pid $stall_b
sleep 1
kill -STOP $stall_b

# 3. 62 more sessions, each streaming 4 MiB through the same connection.
start=$(date +%s.%N)
pids=()
for i in $(seq 1 62); do
  "$REVM" sh -c "head -c 4194304 /dev/zero; echo end-$i" </dev/null >"$T/out.$i" 2>"$T/err.$i" &
  pids+=($!)
  track_pid $!
done
deadline=$(( $(date +%s) + 180 ))
for i in $(seq 1 62); do
  pid=${pids[$((i - 1))]}
  while kill -0 "$pid" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "session $i did not finish (stalled behind the stopped readers?)"
    sleep 0.1
  done
  wait "$pid" || fail "session $i exited $?: $(cat "$T/err.$i")"
  [ "$(stat -c %s "$T/out.$i")" -eq $((4194304 + 5 + ${#i})) ] || fail "session $i: wrong output size"
  [ "$(tail -c $((5 + ${#i})) "$T/out.$i")" = "end-$i" ] || fail "session $i: wrong output end"
done
end=$(date +%s.%N)
echo "62 sessions x 4 MiB finished in $(echo "$end - $start" | bc)s next to 2 stalled ones"
kill -0 $stall_a || fail "the stopped-reader session ended early"
kill -0 $stall_b || fail "the stopped-client session ended early"
ok "64 concurrent sessions, the stalled ones did not stall the others"

"$REVM" true </dev/null || fail "mux no longer serves"
echo "mux VmHWM: $(awk '/^VmHWM/ {print $2, $3}' /proc/$muxpid/status)"

# 4. Clients that go away: the mux closes their channels and the guest ends the programs.
kill -KILL $stall_b
kill -TERM $stall_a; sleep 0.5; kill -TERM $stall_a  # the second one makes revm leave at once
no_marker() { ! pgrep -f "$marker" >/dev/null; }
wait_for 20 no_marker ||
  fail "guest programs of vanished clients still run: $(pgrep -af "$marker")"
ok "channels of vanished clients closed in the guest"
exec 9<&-
kill -0 $muxpid || fail "mux exited: $(cat "$T/mux.log")"
rc=0; "$REVM" sh -c 'exit 3' </dev/null || rc=$?
[ "$rc" -eq 3 ] || fail "exit status through the mux: $rc"
ok "mux still serving"
