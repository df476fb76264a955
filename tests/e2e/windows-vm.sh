#!/usr/bin/env bash
# Window service acceptance on a real app VM (QEMU, TCG here) built from the Debian fixture, with the
# host's desktop an Xvfb:
# - X for the guest (Xvfb, xterm, xwd, xclip, the xcb extension libraries) comes from a local
#   package repository on an extra read-only disk, as in app-packages.sh (the default fixture
#   stays as it is); revm-winagent is copied from the same disk to /usr/libexec/revm/
# - `revm gui xterm` opens exactly one host window titled "hello (app VM)" (the agent starts
#   the guest's Xvfb on demand)
# - xdotool typing on the host reaches xterm: `echo hi > /tmp/x`, then `revm cat /tmp/x` is hi
# - the host's screenshot of the window equals the guest's own xwd of it
# - resizing from the host resizes the guest window; xterm's menu is an override-redirect
#   host window; clipboard both ways; closing from the host ends xterm with status 0
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/support/vm-images.sh"
. "$TOP/tests/support/windows.sh"

for tool in dpkg-scanpackages apt-get mkfs.btrfs Xvfb xdotool xwininfo xwd xclip python3; do
  command -v "$tool" >/dev/null || skip "$tool not installed (scripts/install-deps.sh)"
done
AGENT=$BUILD/lib/revm/revm-winagent
[ -x "$AGENT" ] && [ -x "$BUILD/bin/revm-windows" ] || skip "revm-winagent/revm-windows not built"

# The repository: what apt on this machine would install on top of the fixture's own package
# state (its dpkg status file), so the guest's apt finds every dependency.
guest_pkgs="xvfb xterm x11-apps xclip libxcb-composite0 libxcb-damage0 libxcb-xfixes0 libxcb-xtest0"
"$TOP/scripts/fixtures/build-all.sh" >/dev/null
tarball=$(ls "$FIXTURES/debian"/*.tar.xz | head -n 1)
mkdir -p "$T/fixture" "$T/repo"
tar -xJf "$tarball" -C "$T/fixture" ./var/lib/dpkg/status 2>/dev/null ||
  tar -xJf "$tarball" -C "$T/fixture" var/lib/dpkg/status || fail "no dpkg status in the fixture"
# shellcheck disable=SC2086
apt-get -s -o Dir::State::status="$T/fixture/var/lib/dpkg/status" install --no-install-recommends $guest_pkgs \
  2>"$T/apt-sim.err" | sed -n 's/^Inst \([^ ]*\) .*/\1/p' >"$T/inst"
[ -s "$T/inst" ] || { cat "$T/apt-sim.err"; skip "apt on this machine cannot resolve $guest_pkgs"; }
# shellcheck disable=SC2046
(cd "$T/repo" && apt-get download $(cat "$T/inst") >"$T/download.log" 2>&1) ||
  { tail "$T/download.log"; skip "cannot download the guest's X packages with this machine's apt"; }
(cd "$T/repo" && dpkg-scanpackages . /dev/null >Packages 2>/dev/null)
cp "$AGENT" "$T/repo/revm-winagent"
ok "repository: $(wc -l <"$T/inst") packages, $(du -sm "$T/repo" | cut -f1) MB, and revm-winagent"

build_vm_images debian "$T/images" app
export REVM_IMAGES=$T/images
truncate -s 512M "$T/images/repo.img"
mkfs.btrfs -q -L revm-repo --rootdir "$T/repo" "$T/images/repo.img" >"$T/mkfs-repo.log" 2>&1 ||
  { cat "$T/mkfs-repo.log"; fail "cannot build the repository disk"; }
mkdir -p "$T/profiles"
sed 's/^\[disk\]$/[disk]\nextra_readonly = repo.img/' "$BUILD/lib/revm/profiles/app.ini" >"$T/profiles/app.ini"
grep -q '^extra_readonly = repo.img$' "$T/profiles/app.ini" || fail "could not add the repository disk to the profile"
export REVM_PROFILES=$T/profiles
start_revmd
revm start app >/dev/null 2>"$T/start.err" || { cat "$T/start.err" "$T/revmd.log"; fail "app VM did not start"; }
ok "app VM ready"

t0=$(date +%s)
# shellcheck disable=SC2016
revm sh -c 'set -e
  mkdir -p /var/local/revm-repo
  mount -t btrfs -o ro /dev/vdb /var/local/revm-repo
  mkdir -p /etc/apt/sources.list.d/off
  [ ! -e /etc/apt/sources.list ] || mv /etc/apt/sources.list /etc/apt/sources.list.d/off/
  echo "deb [trusted=yes] file:/var/local/revm-repo ./" >/etc/apt/sources.list.d/revm-repo.list
  echo "man-db man-db/auto-update boolean false" | debconf-set-selections 2>/dev/null || true
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends '"$guest_pkgs"'
  install -D -m 755 /var/local/revm-repo/revm-winagent /usr/libexec/revm/revm-winagent' \
  >"$T/setup.log" 2>&1 || { tail -n 30 "$T/setup.log"; fail "installing X in the guest failed"; }
ok "guest has Xvfb, xterm, xwd, xclip and revm-winagent ($(( $(date +%s) - t0 )) s)"

start_xvfb H
export DISPLAY=$H
revm gui -- xterm -T hello >"$T/gui.out" 2>"$T/gui.err" &
gui=$!
track_pid $gui
wait_for 180 sh -c "xwininfo -display $H -root -children | grep -q '\"hello (app VM)\"'" ||
  { cat "$T/gui.err"; fail "no host window titled 'hello (app VM)'"; }
host_windows "$H" >"$T/wins"
[ "$(wc -l <"$T/wins")" -eq 1 ] || { cat "$T/wins"; fail "expected exactly one host window"; }
W=$(awk '{print $1; exit}' "$T/wins")
ok "revm gui xterm: exactly one host window: $(cat "$T/wins")"

rm_x() { revm rm -f /tmp/x; }
rm_x
# xterm starts its shell a little after its window: type once the prompt is drawn (pixels).
sleep 5
xdotool windowfocus --sync "$W"
xdotool type --delay 60 'echo hi > /tmp/x'
xdotool key Return
wait_for 60 sh -c '[ "$(revm cat /tmp/x 2>/dev/null)" = hi ]' || fail "typing on the host did not reach xterm in the VM"
ok "xdotool type on the host reached xterm: revm cat /tmp/x prints $(revm cat /tmp/x)"

guest_xwd() { revm -T sh -c 'DISPLAY=:0 xwd -silent -nobdrs -name hello' >"$T/guest.xwd"; }
same_pixels() {
  xwd -silent -nobdrs -id "$W" >"$T/host.xwd" && guest_xwd &&
    python3 "$TOP/tests/support/xwd-compare.py" "$T/host.xwd" "$T/guest.xwd" >"$T/cmp" 2>&1
}
wait_for 60 same_pixels || { cat "$T/cmp"; fail "host screenshot differs from the guest's xwd"; }
ok "host screenshot equals the guest's xwd: $(cat "$T/cmp")"

# Idle cost with one open window (informational, never asserted): revmd, the host back end
# (revm gui's process) and QEMU over 10 s.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
qpid=$(qemu_pid_of app || true)
r0=$(ticks "$REVMD_PID"); g0=$(ticks "$gui"); q0=$(ticks "${qpid:-0}")
sleep 10
r1=$(ticks "$REVMD_PID"); g1=$(ticks "$gui"); q1=$(ticks "${qpid:-0}")
ok "idle 10 s with one window: revmd $(( r1 - r0 )), revm-windows $(( g1 - g0 )), qemu $(( q1 - q0 )) CPU ticks of $(( 1000 / $(getconf CLK_TCK) )) ms"

xdotool windowsize "$W" 640 420
guest_size() { guest_xwd && python3 -c 'import struct,sys; f=struct.unpack(">25I", open(sys.argv[1],"rb").read(100)); print(f"{f[4]}x{f[5]}")' "$T/guest.xwd"; }
guest_is_640() { [ "$(guest_size)" = 640x420 ]; }
wait_for 60 guest_is_640 ||
  fail "guest window not resized to 640x420 (it is $(guest_size))"
wait_for 60 same_pixels || { cat "$T/cmp"; fail "host pixels differ after the resize"; }
ok "host resize reached the guest (640x420) and pixels follow: $(cat "$T/cmp")"

xdotool mousemove --window "$W" 40 40 keydown ctrl mousedown 1
menu_up() {
  for id in $(xwininfo -root -children | awk '/^ +0x/{print $1}'); do
    xwininfo -id "$id" | grep -q 'Map State: IsViewable' &&
      xwininfo -id "$id" | grep -q 'Override Redirect State: yes' && return 0
  done
  return 1
}
wait_for 60 menu_up || { xdotool mouseup 1 keyup ctrl; fail "xterm's menu did not appear as an override-redirect host window"; }
xdotool mouseup 1 keyup ctrl
[ "$(host_windows "$H" | grep -c '"hello (app VM)"')" -eq 1 ] || fail "the menu became a decorated window"
ok "xterm's menu shows as an undecorated (override-redirect) host window"

revm -T sh -c 'printf from-guest | DISPLAY=:0 timeout 120 xclip -quiet -selection clipboard -loops 1 >/dev/null 2>&1' &
track_pid $!
wait_for 90 sh -c "[ \"\$(timeout 5 xclip -o -selection clipboard 2>/dev/null)\" = from-guest ]" ||
  fail "text copied in the guest does not paste on the host"
printf 'from-host' | timeout 120 xclip -selection clipboard -loops 3 2>/dev/null &
track_pid $!
wait_for 90 sh -c "[ \"\$(revm -T sh -c 'DISPLAY=:0 timeout 10 xclip -o -selection clipboard' 2>/dev/null)\" = from-host ]" ||
  fail "text copied on the host does not paste in the guest"
ok "clipboard both ways"

xdotool windowclose "$W" 2>/dev/null || true
wait_for 90 sh -c "! kill -0 $gui 2>/dev/null" || fail "closing the host window did not end xterm"
rc=0; wait $gui || rc=$?
[ $rc -eq 0 ] || { cat "$T/gui.err"; fail "revm gui exited $rc after the close"; }
[ -z "$(host_windows "$H")" ] || fail "host windows left: $(host_windows "$H")"
ok "close from the host ended xterm cleanly (revm gui exit 0), no window left"
revm stop app >/dev/null || fail "revm stop app failed"
