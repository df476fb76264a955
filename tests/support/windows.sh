# Helpers for the window-service tests (tests/*/windows-*.sh); source after tests/lib.sh.

# start_xvfb VAR: starts an Xvfb on a free display number (Xvfb picks it: -displayfd), sets VAR
# to ":N", and tracks it for the exit cleanup. Not usable in $(...).
start_xvfb() {
  local fifo=$T/displayfd.$RANDOM n
  mkfifo "$fifo"
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp -noreset 3>"$fifo" >"$T/xvfb.$1.log" 2>&1 &
  track_pid $!
  read -r -t 30 n <"$fifo" || fail "Xvfb did not start (see $T/xvfb.$1.log)"
  rm -f "$fifo"
  printf -v "$1" ':%s' "$n"
}

# host_windows DISPLAY: the top-level windows named "... (VM VM)" on DISPLAY, one per line:
# "ID NAME" (xwininfo's quoting).
host_windows() {
  xwininfo -display "$1" -root -children 2>/dev/null | sed -n 's/^ *\(0x[0-9a-f]*\) \(".* VM)"\):.*/\1 \2/p'
}

# window_named DISPLAY NAME: the id of the first top-level window named exactly NAME.
window_named() {
  xwininfo -display "$1" -root -children 2>/dev/null | awk -v n="\"$2\":" '$2 " " $3 == n || $2 == n {print $1; exit}' |
    grep . || xwininfo -display "$1" -root -children 2>/dev/null | grep -F "\"$2\":" | awk '{print $1; exit}'
}
