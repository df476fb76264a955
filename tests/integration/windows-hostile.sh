#!/usr/bin/env bash
# Window service, hostile guest: revm-windows (X11 host back end) against a fake
# agent that sends a million windows, unknown ids, rectangles outside the window, short pixel
# data, runs overflowing the rectangle, a title with control characters, and finally a record
# longer than the service allows. The host must stay up and bounded, show only the honest
# window with a sanitized title and its pixels, and end the channel on the oversized record
# with one clear line.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/support/windows.sh"
for tool in Xvfb xwininfo xwd python3; do
  command -v "$tool" >/dev/null || skip "$tool not installed (scripts/install-deps.sh)"
done
[ -x "$BUILD/bin/revm-windows" ] || skip "revm-windows not built"
start_xvfb H
export HOSTILE_GO=$T/go
t0=$(date +%s)
DISPLAY=$H revm-windows --local "$TOP/tests/support/hostile-winagent.py" >"$T/rw.out" 2>"$T/rw.err" &
rw=$!
track_pid $rw
title='evil?[31m?root? (host)? (app VM)'
wait_for 120 sh -c "xwininfo -display $H -root -children | grep -qF '\"$title\"'" ||
  { cat "$T/rw.err"; xwininfo -display "$H" -root -children | head; fail "no host window with the sanitized title"; }
ok "a million windows and the hostile records took $(( $(date +%s) - t0 )) s; the honest window is there"
n=$(host_windows "$H" | wc -l)
[ "$n" -eq 1 ] || fail "expected one host window, found $n"
W=$(host_windows "$H" | awk '{print $1}')
ok "exactly one host window, title sanitized: $(host_windows "$H")"
red_only() {
  DISPLAY=$H xwd -silent -nobdrs -id "$W" >"$T/w.xwd" &&
    python3 - "$T/w.xwd" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
f = struct.unpack('>25I', d[:100])
w, h, bpl, off = f[4], f[5], f[12], f[0] + 12 * f[19]
bad = sum(1 for y in range(h) for x in range(w)
          if struct.unpack_from('<I', d, off + y * bpl + 4 * x)[0] & 0xffffff != 0xff0000)
sys.exit(0 if (w, h) == (200, 100) and bad == 0 else 1)
PY
}
wait_for 30 red_only || fail "the honest window's pixels are not all red"
ok "the honest window shows its pixels (200x100, all red); the hostile rectangles changed nothing"
kill -0 $rw || fail "revm-windows died"
for why in "unknown window id" "rectangle outside the window" "pixel data does not match the rectangle" \
           "too many windows" "record type not sent by a guest"; do
  grep -q "$why" "$T/rw.err" || { cat "$T/rw.err"; fail "no log line for: $why"; }
done
[ "$(grep -c 'dropped window record' "$T/rw.err")" -le 9 ] || fail "more than one log line per kind of drop"
ok "one log line per kind of bad record: $(grep -c 'dropped window record' "$T/rw.err")"
touch "$HOSTILE_GO"
wait_for 30 sh -c "! kill -0 $rw 2>/dev/null" || fail "an oversized record did not end the channel"
rc=0; wait $rw || rc=$?
[ $rc -ne 0 ] || fail "revm-windows exited 0 after a protocol fault"
grep -q "window record length out of bounds from the guest" "$T/rw.err" || { cat "$T/rw.err"; fail "no clear line for the oversized record"; }
ok "oversized record: channel closed, exit $rc: $(grep 'out of bounds' "$T/rw.err")"
grep -q "records dropped" "$T/rw.err" && ok "$(grep 'records dropped' "$T/rw.err")"
