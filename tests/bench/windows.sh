#!/usr/bin/env bash
# Window service benchmark, without a VM: the guest agent against a "guest" Xvfb,
# revm-windows against a "host" Xvfb, joined by the same local socket shape as a VM's bridge
# channel. Prints, each with the floor measured in this run (the same bytes over a plain
# socketpair, no X):
# - damage-to-host latency of a 64x64 rectangle (guest draws, host window shows it)
# - frames per second of an 800x600 window redrawn fully with incompressible noise
# - idle CPU of the agent and of revm-windows over 10 s with one open window (revmd's idle
#   cost with a VM is the exec channel's: see tests/bench/bridge.sh)
# Nothing is asserted on time.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/support/windows.sh"
for tool in Xvfb cc pkg-config; do command -v "$tool" >/dev/null || skip "$tool not installed"; done
[ -x "$BUILD/lib/revm/revm-winagent" ] && [ -x "$BUILD/bin/revm-windows" ] || skip "window service not built"
cc -O2 -o "$T/win-bench" "$TOP/tests/bench/win-bench.c" $(pkg-config --libs xcb) || fail "cannot build win-bench"

"$T/win-bench" floor >"$T/floor"
start_xvfb G
start_xvfb H
DISPLAY=$H revm-windows --local "$BUILD/lib/revm/revm-winagent" --display "$G" >"$T/rw.out" 2>"$T/rw.err" &
rw=$!
track_pid $rw
"$T/win-bench" "$G" "$H" latency 200 >"$T/lat" || { cat "$T/rw.err"; fail "latency run failed"; }
"$T/win-bench" "$G" "$H" fps 5 >"$T/fps" || { cat "$T/rw.err"; fail "fps run failed"; }
val() { awk -v k="$1" '$1 == k {print $2}' "$2"; }
fl=$(val floor_latency_64x64 "$T/floor"); lm=$(val latency_64x64_median "$T/lat"); lp=$(val latency_64x64_p90 "$T/lat")
ff=$(val floor_fps_800x600 "$T/floor"); fps=$(val fps_800x600 "$T/fps")
echo "damage->host latency 64x64: median ${lm} us, p90 ${lp} us; socketpair floor ${fl} us (x$(echo "scale=1; $lm / $fl" | bc))"
echo "800x600 full redraw: ${fps} fps; socketpair floor ${ff} fps (ratio $(echo "scale=3; $fps / $ff" | bc))"

# Idle: one mapped window that draws nothing.
DISPLAY=$G xterm -T idle -e sh -c 'sleep 60' 2>/dev/null &
track_pid $!
wait_for 30 sh -c "xwininfo -display $H -root -children | grep -q '\"idle (app VM)\"'" || fail "no idle window"
sleep 2
agent=$(pgrep -P "$rw" -f revm-winagent | head -n 1)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
a0=$(ticks "$agent"); h0=$(ticks "$rw"); t0=$(date +%s%N)
sleep 10
a1=$(ticks "$agent"); h1=$(ticks "$rw"); t1=$(date +%s%N)
hz=$(getconf CLK_TCK)
secs=$(echo "scale=3; ($t1 - $t0) / 1000000000" | bc)
echo "idle with one window over ${secs} s: agent $(( a1 - a0 )) ticks, revm-windows $(( h1 - h0 )) ticks (1 tick = $(( 1000 / hz )) ms CPU)"
