#!/usr/bin/env bash
# The rootfs fixtures that stand in for Void's musl ROOTFS (scripts/fixtures/):
# packed and signed like Void's release, carrying every kind of metadata the image
# pipeline must preserve, runit laid out like Void, apt usable in the Debian one, and
# the small one boots to runit stage 2 as PID 1 on its own (as an initramfs, without
# mkimage). A second build-all.sh run builds nothing.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

"$TOP/scripts/fixtures/build-all.sh" >/dev/null 2>&1 ||
  "$TOP/scripts/fixtures/build-all.sh" ||
  skip "fixtures could not be built (needs root and the Debian mirror)"
out=$("$TOP/scripts/fixtures/build-all.sh" 2>&1) || fail "build-all.sh failed on its second run"
[ -z "$out" ] || fail "build-all.sh rebuilt on a second run: $out"
ok "build-all.sh: second run quiet, nothing rebuilt"

pub=$FIXTURES/keys/revm-fixture.pub
for fx in small debian; do
  d=$FIXTURES/$fx name=void-x86_64-musl-ROOTFS-$fx.tar.xz
  grep -qx "SHA256 ($name) = $(sha256sum < "$d/$name" | cut -d' ' -f1)" "$d/sha256sum.txt" ||
    fail "$fx: sha256sum.txt is not a BSD-style line for the tarball"
  minisign -Vq -m "$d/sha256sum.txt" -x "$d/sha256sum.sig" -p "$pub" ||
    fail "$fx: signature does not verify"
  xz -t "$d/$name" || fail "$fx: not xz"
  tar --xattrs --xattrs-include='*' -tvvf "$d/$name" > "$T/$fx.list"
  [ "$(xz -dc "$d/$name" | grep -a -c 'PaxHeaders')" -gt 0 ] || fail "$fx: no POSIX (pax) extended headers"
  ok "$fx: $(du -k "$d/$name" | cut -f1) KiB, $(wc -l < "$T/$fx.list") entries, pax format, BSD sha256sum.txt, minisign signature verifies"
done

# expect FIXTURE DESCRIPTION REGEX: a line of `tar -tvv` output matches.
expect() {
  grep -Eq -- "$3" "$T/$1.list" || fail "$1: no $2 (/$3/)"
}
L=$T/small.list
expect small "setuid file" '^-rwsr-xr-x +0/0 .* \./usr/bin/fixture-setuid$'
expect small "setgid file" '^-rwxr-sr-x +0/18 .* \./usr/bin/fixture-setgid$'
expect small "sticky /tmp" '^drwxrwxrwt +0/0 .* \./tmp/$'
expect small "file owned by 1000:1000" '^-rw------- +1000/1000 .* \./home/user/notes\.txt$'
expect small "file owned by daemon" '^-rw-r----- +2/7 .* \./var/lib/daemon/state$'
expect small "hard link" '^h.* \./var/lib/revm-fixture/hardlink-b link to \./var/lib/revm-fixture/hardlink-a$'
expect small "relative symlink" '^l.* \./bin -> usr/bin$'
expect small "absolute symlink" '^l.* \./var/lib/revm-fixture/absolute-symlink -> /usr/bin/busybox$'
expect small "/dev/null" '^crw-rw-rw- +0/0 +1,3 .* \./dev/null$'
expect small "/dev/console" '^crw------- +0/0 +5,1 .* \./dev/console$'
expect small "block device" '^brw-rw---- +0/9 +7,0 .* \./dev/loop0$'
expect small "FIFO" '^prw--w---- .* \./var/lib/revm-fixture/fifo$'
expect small "empty file" '^-rw-r--r-- +0/0 +0 .* \./var/lib/revm-fixture/empty$'
expect small "old mtime" ' 2001-09-09 .* \./var/lib/revm-fixture/old-mtime$'
grep -A1 -E '\./usr/bin/fixture-ping$' "$L" | grep -c 'security.capability' >/dev/null || fail "small: no capability xattr"
grep -A2 -E '\./var/lib/revm-fixture/xattr-user$' "$L" | grep -c 'user.revm.fixture' >/dev/null || fail "small: no user xattr"
expect small "/sbin -> usr/bin" '^l.* \./sbin -> usr/bin$'
expect small "init -> runit-init" '^l.* \./usr/bin/init -> runit-init$'
expect small "runit-init" '^-rwxr-xr-x .* \./usr/bin/runit-init$'
for f in 1 2 3; do expect small "stage $f" "^-rwxr-xr-x .* \\./etc/runit/$f\$"; done
expect small "current -> default" '^l.* \./etc/runit/runsvdir/current -> default$'
expect small "/etc/shadow 0600" '^-rw------- +0/0 .* \./etc/shadow$'
for p in sh ls cat mount sv runsv runsvdir chpst busybox; do
  expect small "/usr/bin/$p" " \\./usr/bin/$p( -> busybox)?\$"
done
hash=$(tar -xOf "$FIXTURES/small/void-x86_64-musl-ROOTFS-small.tar.xz" ./etc/shadow | awk -F: '$1 == "root" { print $2 }')
salt=$(cut -d'$' -f3 <<<"$hash")
[ "$(busybox mkpasswd -m sha512 -S "$salt" voidlinux)" = "$hash" ] || fail "small: root's password is not voidlinux"
ok "small: setuid, setgid, sticky, foreign owners, hard link, symlinks, devices, FIFO, xattrs, empty file, mtime, runit layout, root password"

expect debian "init -> runit-init" '^l.* \./usr/sbin/init -> /lib/runit/runit-init$'
expect debian "runit-init" '^-rwxr-xr-x .* \./usr/lib/runit/runit-init$'
expect debian "apt-get" '^-rwxr-xr-x .* \./usr/bin/apt-get$'
expect debian "setuid su" '^-rwsr-xr-x .* \./usr/bin/su$'
expect debian "current -> default" '^l.* \./etc/runit/runsvdir/current -> default$'
! grep -Eq ' \./var/lib/apt/lists/[^/]+[^/]$' "$T/debian.list" || fail "debian: package lists left in the image"
tar -xOf "$FIXTURES/debian/void-x86_64-musl-ROOTFS-debian.tar.xz" ./etc/runit/2 | grep -c 'runsvdir -P /etc/runit/runsvdir/current' >/dev/null ||
  fail "debian: stage 2 is not the Void-like one"
if [ "$(id -u)" -eq 0 ]; then
  mkdir "$T/debian-root"
  tar --xattrs --xattrs-include='*' -xpf "$FIXTURES/debian/void-x86_64-musl-ROOTFS-debian.tar.xz" -C "$T/debian-root"
  v=$(chroot "$T/debian-root" apt-get --version) || fail "debian: apt-get does not run in the tree"
  v=${v%%$'\n'*}
  ok "debian: runit as init, no package lists, chroot: $v"
else
  ok "debian: runit as init, no package lists (apt-get not run: needs root for chroot)"
fi

# The small fixture boots to runit stage 2 as PID 1 (packed as an initramfs here, so
# this checks the fixture alone, whatever mkimage does).
if command -v qemu-system-x86_64 >/dev/null && command -v cpio >/dev/null && [ "$(id -u)" -eq 0 ]; then
  mkdir "$T/small-root"
  tar --xattrs --xattrs-include='*' -xpf "$FIXTURES/small/void-x86_64-musl-ROOTFS-small.tar.xz" -C "$T/small-root"
  cat > "$T/small-root/etc/rc.local" <<'EOF'
#!/bin/sh
(sleep 1; echo "pid1=$(cat /proc/1/comm)"; /usr/bin/poweroff) &
EOF
  chmod 0755 "$T/small-root/etc/rc.local"
  (cd "$T/small-root" && find . | cpio -o -H newc --quiet) > "$T/small.cpio"
  kernel=$(ls "$FIXTURES"/kernel/tree/boot/vmlinuz-*)
  start=$SECONDS
  timeout 180 qemu-system-x86_64 -accel "$(revm_accel)" -M q35 -m 512 -nodefaults -display none \
    -kernel "$kernel" -initrd "$T/small.cpio" -append 'console=ttyS0 rdinit=/sbin/init panic=-1 quiet' \
    -serial "file:$T/small.console" -no-reboot </dev/null >/dev/null 2>&1 &
  track_pid $!
  wait $! || true
  grep -q 'runit stage 2: runlevel default' "$T/small.console" || { tail -n 20 "$T/small.console"; fail "small: no runit stage 2"; }
  grep -q 'pid1=runit' "$T/small.console" || { tail -n 20 "$T/small.console"; fail "small: runit is not PID 1"; }
  grep -q 'reboot: Power down' "$T/small.console" || { tail -n 20 "$T/small.console"; fail "small: poweroff via runit stage 3 failed"; }
  ok "small: boots to runit stage 2 as PID 1 and powers off through stage 3 ($((SECONDS - start))s)"
fi
