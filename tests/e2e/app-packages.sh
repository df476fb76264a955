#!/usr/bin/env bash
# Packages and launcher entries on a real app VM (QEMU, TCG here) built from the Debian fixture:
# - a local package repository (btop from this machine's apt, indexed with dpkg-scanpackages)
#   on an extra read-only disk; the VM has no network
# - revm apt install btop succeeds; a launcher entry and icon appear on the host within 2 s
#   (validated with desktop-file-validate); revm btop --version prints btop's version
# - revm -t btop under tmux shows btop's screen and quits on q with the terminal restored
# - revm apt remove btop removes it and its launcher entry
# - "package not found" comes back as one clear line
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/support/vm-images.sh"

for tool in dpkg-scanpackages tmux desktop-file-validate apt-get mkfs.btrfs; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done

# The repository: btop and whatever of its dependencies the minbase fixture lacks.
mkdir -p "$T/repo"
(cd "$T/repo" && apt-get download btop >/dev/null 2>&1) || skip "cannot download btop with this machine's apt"
"$TOP/scripts/fixtures/build-all.sh" >/dev/null
tarball=$(ls "$FIXTURES/debian"/*.tar.xz | head -n 1)
tar -tJf "$tarball" >"$T/fixture-files"
for dep in $(apt-cache depends btop | sed -n 's/^ *Depends: \([a-z0-9.+-]*\).*/\1/p' | sort -u); do
  if ! grep -q "var/lib/dpkg/info/$dep\(:amd64\)\?\.list$" "$T/fixture-files"; then
    (cd "$T/repo" && apt-get download "$dep" >/dev/null 2>&1) || fail "cannot download $dep"
  fi
done
(cd "$T/repo" && dpkg-scanpackages . /dev/null >Packages 2>/dev/null)
ok "repository: $(cd "$T/repo" && echo *.deb)"

build_vm_images debian "$T/images" app
export REVM_IMAGES=$T/images
# The repository is a btrfs filesystem on its own disk, built without root by mkfs.btrfs
# --rootdir; the guest already has btrfs (its root), so it mounts it read-only as it is.
truncate -s 256M "$T/images/repo.img"
mkfs.btrfs -q -L revm-repo --rootdir "$T/repo" "$T/images/repo.img" >"$T/mkfs-repo.log" 2>&1 ||
  { cat "$T/mkfs-repo.log"; fail "cannot build the repository disk"; }
mkdir -p "$T/profiles"
sed 's/^\[disk\]$/[disk]\nextra_readonly = repo.img/' "$BUILD/lib/revm/profiles/app.ini" >"$T/profiles/app.ini"
grep -q '^extra_readonly = repo.img$' "$T/profiles/app.ini" || fail "could not add the repository disk to the profile"
export REVM_PROFILES=$T/profiles
export REVM_LAUNCHER_DIR=$T/launcher
start_revmd

revm start app >/dev/null 2>"$T/start.err" || { cat "$T/start.err" "$T/revmd.log"; fail "app VM did not start"; }
ok "app VM ready"
revm sh -c 'set -e
  mkdir -p /var/local/revm-repo
  mount -t btrfs -o ro /dev/vdb /var/local/revm-repo
  mkdir -p /etc/apt/sources.list.d/off
  [ ! -e /etc/apt/sources.list ] || mv /etc/apt/sources.list /etc/apt/sources.list.d/off/
  echo "deb [trusted=yes] file:/var/local/revm-repo ./" >/etc/apt/sources.list.d/revm-repo.list
  apt-get update -qq' >"$T/setup.log" 2>&1 || { cat "$T/setup.log"; fail "guest repository setup failed"; }
ok "guest uses the local repository"

expect_fail "revm apt install of an unknown package" revm apt install no-such-package-revm
revm apt install no-such-package-revm >"$T/notfound.log" 2>&1 || true
grep -q "^revm: package not found in the repositories of VM app: no-such-package-revm$" "$T/notfound.log" ||
  { cat "$T/notfound.log"; fail "no clear 'package not found' line"; }

revm apt install btop >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "revm apt install btop failed"; }
t_end=$(date +%s%N)
entry=$REVM_LAUNCHER_DIR/revm-app-btop.desktop
wait_for 2 test -f "$entry" || { tail "$T/revmd.log"; ls -la "$REVM_LAUNCHER_DIR" 2>&1; fail "no launcher entry within 2 s of the install"; }
latency_ms=$(( ($(date +%s%N) - t_end) / 1000000 ))
icon=$(sed -n 's/^Icon=//p' "$entry")
[ -n "$icon" ] && [ -s "$icon" ] || fail "launcher entry has no icon file: '$icon'"
case "$icon" in "$REVM_LAUNCHER_DIR"/*) ;; *) fail "icon outside the launcher folder: $icon";; esac
file "$icon" | grep -q "PNG image data, 48 x 48" || echo "note: icon is $(file -b "$icon")"
desktop-file-validate "$entry" || fail "desktop-file-validate rejects $entry"
grep -q "^Exec=.*revm.* --vm app -- .*btop" "$entry" || fail "entry does not run btop through revm: $(grep ^Exec= "$entry")"
grep -q '^Terminal=true' "$entry" || fail "btop's entry should ask for a terminal"
# From the package's .desktop file landing in the guest (its ctime, guest clock) to the host
# entry (its mtime): the clocks are the same host clock through the VM's RTC, give or take.
g_ts=$(revm stat -c %.3Z /usr/share/applications/btop.desktop 2>/dev/null || echo 0)
h_ts=$(stat -c %.3Y "$entry")
ok "launcher entry and icon present ${latency_ms} ms after the install returned; guest .desktop -> host entry: $(awk -v g="$g_ts" -v h="$h_ts" 'BEGIN{printf "%d ms", (h-g)*1000}') ($(grep ^Name= "$entry"))"

version=$(revm btop --version 2>&1) || fail "revm btop --version failed: $version"
echo "$version" | grep -qi "btop.*version.*[0-9]" || fail "unexpected btop --version output: $version"
ok "revm btop --version: $version"

# revm -t btop in a terminal: btop's screen, q quits, the terminal is as before.
sock=revm-apps-$$
tmux -L "$sock" -f /dev/null new-session -d -x 132 -y 43 "bash --norc --noprofile"
track_pid "$(tmux -L "$sock" display-message -p '#{pid}')"
pane() { tmux -L "$sock" capture-pane -p; }
pane_has() { pane >"$T/pane.txt" && grep -q -i -- "$1" "$T/pane.txt"; }
# btop refuses to start without a UTF-8 locale, and revm passes only TERM of the local
# environment to a PTY session, so the locale is given explicitly.
tmux -L "$sock" send-keys "PS1='revm-prompt\$ '; stty -a >$T/stty.before; revm -t -e LANG=C.UTF-8 btop" Enter
wait_for 60 eval "pane_has cpu && pane_has proc" ||
  { pane; tmux -L "$sock" kill-server; fail "btop's screen did not show in the tmux pane"; }
pane >"$T/btop-screen.txt"
ok "btop's screen in tmux: $(grep -c . "$T/btop-screen.txt") non-empty lines with its cpu and proc boxes"
tmux -L "$sock" send-keys q
wait_for 20 pane_has '^revm-prompt\$ *$' ||
  { pane; tmux -L "$sock" kill-server; fail "btop did not quit on q"; }
tmux -L "$sock" send-keys "stty -a >$T/stty.after; echo after-btop-ok" Enter
wait_for 10 pane_has '^after-btop-ok' || { pane; fail "shell prompt does not work after btop"; }
tmux -L "$sock" kill-server
diff "$T/stty.before" "$T/stty.after" || fail "terminal settings differ after btop"
ok "btop quit on q; terminal settings restored (stty -a identical)"

revm apt remove btop >"$T/remove.log" 2>&1 || { cat "$T/remove.log"; fail "revm apt remove btop failed"; }
wait_for 2 sh -c "! test -e '$entry'" || fail "launcher entry still there 2 s after the removal"
[ ! -e "$icon" ] || fail "icon still there after the removal"
expect_fail "btop after removal" revm btop --version
ok "revm apt remove btop removed the program and its launcher entry"

revm stop app >/dev/null || fail "revm stop app failed"
