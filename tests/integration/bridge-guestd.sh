#!/usr/bin/env bash
# revm-guestd as shipped in images (the static musl build): really static, small, low idle
# memory, clean option errors, waits (does not exit) while its port is missing, ends cleanly
# on SIGTERM; then the guest daemon's socket tests run again against this build.
. "$(dirname "$0")/../lib.sh"

GUESTD=$BUILD/lib/revm/revm-guestd
[ -x "$GUESTD" ] || skip "$GUESTD not built (make -C bridge all)"

# --- static, small ---
if readelf -l "$GUESTD" 2>/dev/null | grep -q 'INTERP'; then
  fail "$GUESTD is dynamically linked"
fi
size=$(stat -c %s "$GUESTD")
echo "revm-guestd stripped static size: $size bytes ($(( size / 1024 )) KiB)"
[ "$size" -lt $((300 * 1024)) ] || fail "revm-guestd is $size bytes, budget 300 KiB"
ok "static and below 300 KiB"

# --- options ---
"$GUESTD" --help | grep -q -- '--listen unix:PATH' || fail "--help does not describe --listen"
expect_fail "unknown option" "$GUESTD" --bogus
expect_fail "bad --listen" "$GUESTD" --listen tcp:1234
expect_fail "bad --fd" "$GUESTD" --fd 987

# --- idle memory, clean stop ---
"$GUESTD" --listen "unix:$T/g.sock" 2>"$T/g.log" & gpid=$!
track_pid "$gpid"
wait_for 10 test -S "$T/g.sock" || fail "no socket: $(cat "$T/g.log")"
sleep 0.3
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$gpid/status")
echo "revm-guestd idle RSS: ${rss} KiB"
[ "$rss" -lt 2048 ] || fail "idle RSS ${rss} KiB, budget 2 MiB"
ok "idle RSS below 2 MiB"
kill -TERM "$gpid"
rc=0; wait "$gpid" || rc=$?
[ "$rc" -eq 0 ] || fail "SIGTERM: exit status $rc"
[ ! -e "$T/g.sock" ] || fail "socket left behind after SIGTERM"
ok "SIGTERM ends it cleanly"

# --- a missing port is waited for, not fatal (the module may load later) ---
"$GUESTD" --device "$T/no-such-port" 2>"$T/d.log" & dpid=$!
track_pid "$dpid"
"$GUESTD" --no-power-button --port-name org.redox.not-there.0 2>"$T/a.log" & apid=$!
track_pid "$apid"
sleep 1
kill -0 "$dpid" 2>/dev/null || fail "--device with a missing port exited: $(cat "$T/d.log")"
kill -0 "$apid" 2>/dev/null || fail "missing named port exited: $(cat "$T/a.log")"
grep -q 'not available yet' "$T/d.log" || fail "no 'waiting' message: $(cat "$T/d.log")"
[ "$(grep -c 'not available yet' "$T/d.log")" -eq 1 ] || fail "waiting message repeated"
ok "missing port: waits quietly"

# --- readiness: the fd named by REVM_GUESTD_READY_FD (the initramfs init waits on it) closes
# at the first handshake, and neither the fd nor the variable reaches the programs it runs ---
# A FIFO, not a process substitution: bash would leave a second copy of its fd in the daemon.
mkfifo "$T/ready"
(cat "$T/ready" >/dev/null; echo closed >"$T/ready.state") & cpid=$!
track_pid "$cpid"
REVM_GUESTD_READY_FD=3 "$GUESTD" --listen "unix:$T/r.sock" 2>"$T/r.log" 3>"$T/ready" & rpid=$!
track_pid "$rpid"
wait_for 10 test -S "$T/r.sock" || fail "no socket: $(cat "$T/r.log")"
sleep 0.5
[ ! -e "$T/ready.state" ] || fail "the ready fd closed before any host connected"
# shellcheck disable=SC2016 # expanded by the program's shell
seen=$(revm --socket "$T/r.sock" sh -c 'echo "[${REVM_GUESTD_READY_FD-}]"; ls -l /proc/$$/fd/') ||
  fail "no program through the socket: $(cat "$T/r.log")"
wait_for 10 test -e "$T/ready.state" || fail "the ready fd stayed open after the handshake"
case "$seen" in "[]"*) ;; *) fail "the program saw REVM_GUESTD_READY_FD: $seen" ;; esac
case "$seen" in *"$T/ready"*) fail "the program inherited the ready fd: $seen" ;; esac
kill -TERM "$rpid"; wait "$rpid" || true
ok "ready fd closed at the handshake, not handed on"

# --- the socket-level tests, against the static build ---
ran=0
for t in test_guest_exec test_guest_robust; do
  bin=$BUILD/obj/san/bridge/tests/$t
  [ -x "$bin" ] || continue
  REVM_GUESTD=$GUESTD "$bin" >"$T/$t.log" 2>&1 || { tail -n 30 "$T/$t.log"; fail "$t against the static build"; }
  ran=$((ran + 1))
done
[ "$ran" -gt 0 ] && ok "socket tests pass against the static build ($ran suites)" ||
  echo "note: socket test binaries not built; run make -C bridge unit first"
