#!/usr/bin/env bash
# Display service without a VM: the guest daemon on a unix socket serves the display helper
# with its fake backend (revm-guestd --service display fake:DUMP: in-memory connectors, DUMP
# rewritten as a PPM after every update, like a screendump), and revm-display reaches it
# through the bridge protocol (--socket), exactly as it reaches a VM. The host test program
# checks the full frame, a partial update and a mode change in the dump; then revm displays
# lists the connectors, and a bad device argument gives one clear line.
. "$(dirname "$0")/../lib.sh"
command -v python3 >/dev/null || skip "python3 is needed for the test program"
GUEST=$BUILD/tests/bin/revm-guestd
[ -x "$GUEST" ] && [ -x "$BUILD/bin/revm-display" ] || skip "build first (make -C bridge all)"

short_tmpdir sd
"$GUEST" --quiet --listen "unix:$sd/g.sock" >"$T/guest.log" 2>&1 &
track_pid $!
wait_for 10 test -S "$sd/g.sock" || fail "guest daemon did not start"
export REVM_SOCKET=$sd/g.sock

revm displays fake >"$T/displays" 2>&1 || { cat "$T/displays"; fail "revm displays failed"; }
grep -q '^Virtual-1 connected 1024x768@60\* 1280x1024@60 800x600@60 640x480@60$' "$T/displays" &&
  grep -q '^Virtual-2 disconnected$' "$T/displays" || { cat "$T/displays"; fail "revm displays: unexpected list"; }
ok "revm displays lists the fake card's connectors and modes"

if revm displays /dev/no-such-card >"$T/bad.out" 2>"$T/bad.err"; then fail "revm displays of a missing card succeeded"; fi
[ "$(wc -l <"$T/bad.err")" -eq 1 ] || { cat "$T/bad.err"; fail "missing card: not one line"; }
ok "missing card: $(cat "$T/bad.err")"

revm-display --device "fake:$sd/screen.ppm" --shm "$sd/fb" --control "$sd/ctl" >"$T/fe.out" 2>"$T/fe.err" &
track_pid $!
wait_for 30 grep -q ready "$T/fe.out" || { cat "$T/fe.out" "$T/fe.err"; fail "revm-display did not come up"; }
python3 "$TOP/tests/support/display_check.py" --control "$sd/ctl" --shm "$sd/fb" --dump "$sd/screen.ppm" ||
  { cat "$T/fe.err" "$T/guest.log"; fail "the fake screen does not show what the host drew"; }
ok "full frame, partial update and mode change through the bridge protocol"

# Hot-plug: the connector vanishes (the fake card's unplug file), updates are refused with a
# clear answer, and it comes back at its mode with the host's picture.
touch "$sd/screen.ppm.unplugged"
wait_for 20 grep -q "vanished\|lost its display" "$T/fe.err" || { cat "$T/fe.err"; fail "no hot-plug event"; }
python3 - "$sd/ctl" >"$T/gone.out" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.write("full\n"); f.flush(); print(f.readline().strip())
PY
grep -q "^error connector Virtual-1 is gone" "$T/gone.out" || { cat "$T/gone.out"; fail "update to a vanished connector: $(cat "$T/gone.out")"; }
rm -f "$sd/screen.ppm.unplugged"
wait_for 20 grep -q "is back" "$T/fe.err" || { cat "$T/fe.err"; fail "connector did not come back"; }
ok "hot-plug: $(grep -m1 'vanished\|lost' "$T/fe.err"); $(grep -m1 'is back' "$T/fe.err")"

# A hostile guest (tests/support/display_hostile_guest.py in the helper's place): every
# misbehaviour ends revm-display with one clear line and status 1, no crash, no hang.
H=$TOP/tests/support/display_hostile_guest.py
for m in absurd:"too many connectors" zero:"malformed MODE" unasked:"does not match the request" \
         huge:"longer than 16384" badname:"connector name" vanish:"lost its display" hangup:"display service ended"; do
  what=${m%%:*} want=${m#*:}
  rc=0
  timeout 60 revm-display --local "$H" --device "$what" --shm "$sd/h.fb" --control "$sd/h.ctl" \
    >"$T/h.out" 2>"$T/h.err" || rc=$?
  [ "$rc" -eq 1 ] || { cat "$T/h.err"; fail "hostile guest '$what': exit $rc, expected 1"; }
  [ "$(wc -l <"$T/h.err")" -eq 1 ] && grep -q "$want" "$T/h.err" ||
    { cat "$T/h.err"; fail "hostile guest '$what': not one line naming '$want'"; }
  [ ! -e "$sd/h.fb" ] && [ ! -e "$sd/h.ctl" ] || fail "hostile guest '$what': files left behind"
  ok "hostile guest $what: $(cat "$T/h.err")"
done
