#!/usr/bin/env bash
# Window service without a VM: the guest agent revm-winagent runs on this machine
# against a "guest" Xvfb, revm-windows (the X11 host back end) against a second "host" Xvfb,
# connected by rb_svc_spawn_local exactly as through a VM's bridge. Checks: one host window
# per guest top-level window with the sanitized title; typing on the host reaches xterm;
# the host's pixels equal the guest's; resize from the host; a menu is an override-redirect
# host window; clipboard both ways; closing from the host ends the program cleanly; the agent
# starts its own Xvfb when the display has none.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/support/windows.sh"
for tool in Xvfb xterm xdotool xwininfo xwd xclip python3; do
  command -v "$tool" >/dev/null || skip "$tool not installed (scripts/install-deps.sh)"
done
AGENT=$BUILD/lib/revm/revm-winagent
[ -x "$AGENT" ] && [ -x "$BUILD/bin/revm-windows" ] || skip "revm-winagent/revm-windows not built (xcb development files missing?)"

start_xvfb G   # the guest's display
start_xvfb H   # the host's desktop
ok "guest display $G, host display $H"

DISPLAY=$H revm-windows --vm app --local "$AGENT" --display "$G" -- xterm -T 'hello' -e sh \
  >"$T/rw.out" 2>"$T/rw.err" &
rw=$!
track_pid $rw
wait_for 30 sh -c "xwininfo -display $H -root -children | grep -q '\"hello (app VM)\"'" ||
  { cat "$T/rw.err"; fail "no host window titled 'hello (app VM)'"; }
host_windows "$H" >"$T/wins"
[ "$(wc -l <"$T/wins")" -eq 1 ] || { cat "$T/wins"; fail "expected exactly one host window"; }
W=$(awk '{print $1; exit}' "$T/wins")
GW=$(DISPLAY=$G xdotool search --name '^hello$' | head -n 1)
ok "one host window $W for guest window $GW: $(cat "$T/wins")"

# Keyboard: the host's xdotool types into the host window; xterm in the guest runs it.
out=$T/typed
DISPLAY=$H xdotool windowfocus --sync "$W"
DISPLAY=$H xdotool type --delay 30 "echo hi > $out"
DISPLAY=$H xdotool key Return
wait_for 20 test -s "$out" || fail "typing on the host did not reach xterm"
[ "$(cat "$out")" = hi ] || fail "xterm got '$(cat "$out")' instead of hi"
ok "xdotool type on the host reached xterm: $(cat "$out")"
# Shift levels, symbols and a key released after its Shift: the guest gets the host's symbols.
out2=$T/typed2
DISPLAY=$H xdotool type --delay 30 "echo 'Mixed Case, {1+2}=3 \"q\" <>?|~_' > $out2"
DISPLAY=$H xdotool key Return
wait_for 20 test -s "$out2" || fail "the second line did not reach xterm"
[ "$(cat "$out2")" = 'Mixed Case, {1+2}=3 "q" <>?|~_' ] || fail "xterm got '$(cat "$out2")'"
ok "shifted symbols arrive as typed: $(cat "$out2")"
# The host's layout wins: with a German host keyboard (Shift+7 is '/', y and z swapped) the
# US guest still gets the characters typed.
if command -v setxkbmap >/dev/null && setxkbmap -display "$H" de 2>/dev/null; then
  out3=$T/typed3
  DISPLAY=$H xdotool type --delay 30 "echo 'a/b=c(d)zy' > $out3"
  DISPLAY=$H xdotool key Return
  wait_for 20 test -s "$out3" || fail "typing with a German host layout did not reach xterm"
  [ "$(cat "$out3")" = 'a/b=c(d)zy' ] || fail "German host layout: xterm got '$(cat "$out3")'"
  setxkbmap -display "$H" us
  ok "German host layout, US guest: $(cat "$out3")"
fi

# Pixels: the host window shows exactly the guest's (after the typing settled).
same_pixels() {
  DISPLAY=$H xwd -silent -nobdrs -id "$W" >"$T/host.xwd" &&
    DISPLAY=$G xwd -silent -nobdrs -id "$GW" >"$T/guest.xwd" &&
    python3 "$TOP/tests/support/xwd-compare.py" "$T/host.xwd" "$T/guest.xwd" >"$T/cmp" 2>&1
}
wait_for 10 same_pixels || { cat "$T/cmp"; fail "host screenshot differs from the guest's xwd"; }
ok "host screenshot equals the guest's: $(cat "$T/cmp")"

# Resize from the host.
DISPLAY=$H xdotool windowsize "$W" 640 420
wait_for 20 sh -c "DISPLAY=$G xwininfo -id $GW | grep -q 'Width: 640' && DISPLAY=$G xwininfo -id $GW | grep -q 'Height: 420'" ||
  fail "guest window not resized to 640x420: $(DISPLAY=$G xwininfo -id "$GW" | grep -E 'Width|Height' | tr -s ' \n' ' ')"
wait_for 10 same_pixels || { cat "$T/cmp"; fail "host pixels differ after the resize"; }
ok "host resize reached the guest (640x420) and pixels follow: $(cat "$T/cmp")"

# A menu (xterm: Ctrl + left button) is an override-redirect window on the host.
DISPLAY=$H xdotool mousemove --window "$W" 40 40 keydown ctrl mousedown 1
menu_up() {
  for id in $(xwininfo -display "$H" -root -children | awk '/^ +0x/{print $1}'); do
    xwininfo -display "$H" -id "$id" | grep -q 'Map State: IsViewable' &&
      xwininfo -display "$H" -id "$id" | grep -q 'Override Redirect State: yes' && return 0
  done
  return 1
}
wait_for 20 menu_up || { DISPLAY=$H xdotool mouseup 1 keyup ctrl; fail "xterm's menu did not appear as an override-redirect host window"; }
DISPLAY=$H xdotool mouseup 1 keyup ctrl
[ "$(host_windows "$H" | grep -c '"hello (app VM)"')" -eq 1 ] || fail "the menu became a decorated window"
ok "xterm's menu shows as an undecorated (override-redirect) host window"

# A dialog: a second guest window marked transient for the first (WM_TRANSIENT_FOR, set here
# with xprop as a toolkit would) is a host window transient for the first one's host window.
DISPLAY=$G xterm -T dialog -geometry 30x5 -e sh -c 'sleep 120' 2>/dev/null &
track_pid $!
wait_for 30 sh -c "xwininfo -display $H -root -children | grep -q '\"dialog (app VM)\"'" || fail "no host window for the dialog"
DW=$(DISPLAY=$G xdotool search --name '^dialog$' | head -n 1)
DISPLAY=$G xprop -id "$DW" -f WM_TRANSIENT_FOR 32i -set WM_TRANSIENT_FOR "$GW"
HD=$(host_windows "$H" | awk '/"dialog \(app VM\)"/ {print $1}')
transient_ok() { xprop -display "$H" -id "$HD" WM_TRANSIENT_FOR | grep -qi "window id # $W\$"; }
wait_for 20 transient_ok || fail "the dialog's host window is not transient for $W: $(xprop -display "$H" -id "$HD" WM_TRANSIENT_FOR)"
ok "a transient guest window is a transient host window: $(xprop -display "$H" -id "$HD" WM_TRANSIENT_FOR)"

# Clipboard, guest to host and host to guest.
printf 'from-guest' | DISPLAY=$G timeout 20 xclip -selection clipboard -loops 3 2>/dev/null &
track_pid $!
wait_for 20 sh -c "[ \"\$(DISPLAY=$H timeout 5 xclip -o -selection clipboard 2>/dev/null)\" = from-guest ]" ||
  fail "text copied in the guest does not paste on the host"
printf 'from-host' | DISPLAY=$H timeout 20 xclip -selection clipboard -loops 3 2>/dev/null &
track_pid $!
wait_for 20 sh -c "[ \"\$(DISPLAY=$G timeout 5 xclip -o -selection clipboard 2>/dev/null)\" = from-host ]" ||
  fail "text copied on the host does not paste in the guest"
ok "clipboard both ways"

# Close from the host: the program is asked (WM_DELETE_WINDOW) and ends; revm-windows exits 0.
DISPLAY=$H xdotool windowclose "$W" 2>/dev/null || true
wait_for 30 sh -c "! kill -0 $rw 2>/dev/null" || fail "closing the host window did not end xterm"
rc=0; wait $rw || rc=$?
[ $rc -eq 0 ] || { cat "$T/rw.err"; fail "revm-windows exited $rc after the close (xterm's status)"; }
[ -z "$(host_windows "$H")" ] || fail "host windows left after the program ended: $(host_windows "$H")"
ok "close from the host ended xterm cleanly (status 0), no window left"

# On demand: a display with no X server gets an Xvfb started by the agent.
n=$(( 200 + RANDOM % 500 )); while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
DISPLAY=$H revm-windows --local "$AGENT" --display ":$n" -- xterm -T ondemand -e sh -c 'sleep 30' \
  >"$T/rw2.out" 2>"$T/rw2.err" &
rw2=$!
track_pid $rw2
on_exit "[ -f /tmp/.X$n-lock ] && kill \$(tr -d ' ' </tmp/.X$n-lock) 2>/dev/null"
wait_for 40 sh -c "xwininfo -display $H -root -children | grep -q '\"ondemand (app VM)\"'" ||
  { cat "$T/rw2.err"; fail "no window through an on-demand Xvfb"; }
grep -q "started Xvfb on :$n" "$T/rw2.err" || fail "the agent did not say it started Xvfb"
kill "$rw2"; wait "$rw2" 2>/dev/null || true
ok "agent started Xvfb on :$n on demand"
