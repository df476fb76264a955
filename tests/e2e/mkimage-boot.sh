#!/usr/bin/env bash
# End to end: mkimage builds the driver, filesystem and app images from BOTH rootfs
# fixtures, fetched from a loopback HTTP server and verified against each fixture's
# own sha256sum.txt; every image then boots under QEMU (one VM at a time, disk in
# snapshot mode), reaches runit stage 2 and its revm-probe service writes
# "revm-probe: ready <hostname>" to the virtio-serial port org.redox.probe.0.
#
# Metadata check: the app images carry a test service that lists the root
# filesystem from INSIDE the booted guest (treelist-static, installed with
# --install, run on a non-recursive bind mount of / so that the image's own /dev,
# /proc, /run ... are seen, not the pseudo filesystems mounted over them) and writes
# the listing to the port org.redox.test.0. It must equal `treelist --tar` of the
# tarball entry for entry (type, mode, owner, size, link target, device, xattrs),
# except the paths the report says customization changed. The debian fixture is
# built by an ordinary user (nobody) when this runs as root, so the check covers
# mkimage's non-root mode (fakeroot) too.
. "$(dirname "$0")/../lib.sh"

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
command -v python3 >/dev/null || skip "python3 not installed"
make -s -C "$TOP/mkimage" all >/dev/null
make -s -C "$TOP/tests/tools" all >/dev/null
if ! "$TOP/scripts/fixtures/build-all.sh" kernel small debian >"$T/fixtures.log" 2>&1; then
  tail -n 20 "$T/fixtures.log"
  skip "fixtures could not be built (needs root and the Debian mirror)"
fi
for f in small debian; do
  [ -f "$FIXTURES/$f/sha256sum.txt" ] || skip "fixture $f missing"
done
TREELIST=$BUILD/tests/bin/treelist
TREELIST_STATIC=$BUILD/lib/revm/test/treelist-static
accel=$(revm_accel)
echo "accel: $accel"

# ---- loopback HTTP server over the fixtures ----
python3 "$TOP/tests/support/httpd.py" --root "$FIXTURES" --port-file "$T/port" \
  --log "$T/http.log" >/dev/null 2>&1 &
track_pid $!
wait_for 15 test -s "$T/port" || fail "httpd did not start"
base_url="http://127.0.0.1:$(cat "$T/port")"

# ---- variants: the shipped ones, with a listing service added to app ----
cp -r "$TOP/mkimage/variants" "$T/variants"
mkdir -p "$T/variants/files/sv/revm-treelist"
cat >"$T/variants/files/sv/revm-treelist/run" <<'EOF'
#!/bin/sh
# Test service: lists the image's root filesystem to the port org.redox.test.0.
for f in /sys/class/virtio-ports/*/name; do
	read -r name < "$f" || continue
	[ "$name" = org.redox.test.0 ] || continue
	dev=${f%/name}
	dev=/dev/${dev##*/}
	mkdir -p /run/revm-treelist
	mount -o bind / /run/revm-treelist
	{
		/usr/libexec/revm-test/treelist --dir /run/revm-treelist
		echo "# treelist end rc=$?"
	} > "$dev"
	umount /run/revm-treelist
	exec sleep 2147483647
done
exec sv down revm-treelist
EOF
chmod 0755 "$T/variants/files/sv/revm-treelist/run"
printf '\n[services]\nenable = revm-treelist\n[files]\ninstall = %s\n' \
  'files/sv/revm-treelist/run:/etc/sv/revm-treelist/run:0755' >>"$T/variants/app.ini"

# ---- builds ----
build() { # FIXTURE OUTDIR [user]
  local fx=$1 out=$2 user=${3:-} tarball
  tarball=$(basename "$(ls "$FIXTURES/$fx"/*.tar.xz)")
  local cmd=(mkimage --variant all --rootfs "$base_url/$fx/$tarball"
    --sha256sums "$base_url/$fx/sha256sum.txt" --kernel "$FIXTURES/kernel/tree"
    --variants-dir "$T/variants" --install "$TREELIST_STATIC:/usr/libexec/revm-test/treelist:0755"
    --cache "$out/cache" --out "$out/images" --quiet)
  local start=$SECONDS
  if [ -n "$user" ]; then
    env -i PATH=/usr/bin:/bin HOME=/nonexistent \
      setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
      "$BUILD/bin/${cmd[0]}" "${cmd[@]:1}" >"$out/mkimage.log" 2>&1 ||
      { cat "$out/mkimage.log"; fail "mkimage ($fx, as $user) failed"; }
  else
    "$BUILD/bin/${cmd[0]}" "${cmd[@]:1}" >"$out/mkimage.log" 2>&1 ||
      { cat "$out/mkimage.log"; fail "mkimage ($fx) failed"; }
  fi
  cat "$out/mkimage.log"
  ok "built 3 images from the $fx fixture${user:+ as $user} in $((SECONDS - start))s"
  for v in driver filesystem app; do
    for ext in qcow2 vmlinuz initramfs report.json; do
      [ -s "$out/images/$v.$ext" ] || fail "$fx: $v.$ext missing"
    done
  done
  [ -z "$(find "$out/images" -name '.*')" ] || fail "$fx: temporary files left in the output"
}

chmod 0755 "$T"
mkdir -p "$T/small" "$T/debian"
build small "$T/small"
grep -q "GET /small/sha256sum.txt" "$T/http.log" || fail "sha256sum.txt was not fetched over HTTP"
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
  chown nobody "$T/debian"
  build debian "$T/debian" nobody
else
  build debian "$T/debian"
fi

# ---- boots ----
# boot_once ACCEL FIXTURE VARIANT SECONDS: boots, waits for the probe marker (and the
# listing for app); returns non-zero on timeout. QEMU is stopped either way.
boot_once() {
  local accel=$1 fx=$2 v=$3 secs=$4 d=$T/$2/images log=$T/$2/$3
  local extra=() rc=0
  [ "$v" = app ] && extra=(-chardev "file,id=tl,path=$log.treelist"
    -device "virtserialport,chardev=tl,name=org.redox.test.0")
  : >"$log.probe"
  : >"$log.treelist"
  qemu-system-x86_64 -accel "$accel" -M q35 -m 512 -nodefaults -display none \
    -kernel "$d/$v.vmlinuz" -initrd "$d/$v.initramfs" \
    -append 'console=ttyS0 root=/dev/vda rootfstype=btrfs rw' \
    -drive "file=$d/$v.qcow2,if=virtio,format=qcow2,snapshot=on" \
    -device virtio-serial-pci \
    -chardev "file,id=probe,path=$log.probe" \
    -device virtserialport,chardev=probe,name=org.redox.probe.0 \
    "${extra[@]}" -serial "file:$log.console" </dev/null >"$log.qemu" 2>&1 &
  local qpid=$!
  track_pid "$qpid"
  local t0=$SECONDS
  # A guest that printed nothing at all after 15 s is not running (broken KVM).
  guest_up() {
    grep -q "revm-probe: ready revm-$v" "$log.probe" && return 0
    [ $((SECONDS - t0)) -lt 15 ] || [ -s "$log.console" ] || return 2
    return 1
  }
  local end=$((SECONDS + secs))
  while :; do
    local g=0
    guest_up || g=$?
    [ $g -ne 0 ] || break
    if [ $g -eq 2 ] || [ $SECONDS -ge $end ]; then rc=1; break; fi
    sleep 0.2
  done
  if [ $rc -eq 0 ] && [ "$v" = app ]; then
    wait_for 120 grep -q '^# treelist end' "$log.treelist" || rc=2
  fi
  kill "$qpid" 2>/dev/null || true
  wait "$qpid" 2>/dev/null || true
  return $rc
}

# boot FIXTURE VARIANT: under $accel; when KVM is picked but a guest does not come
# up (nested KVM can pass the firmware probe and still not run a kernel), the rest
# of the run falls back to TCG.
boot() {
  local fx=$1 v=$2 log=$T/$1/$2 start=$SECONDS rc=0
  if [ "$accel" = kvm ]; then
    boot_once kvm "$fx" "$v" 60 || rc=$?
    if [ $rc -eq 1 ]; then
      echo "note: $fx/$v did not boot under KVM; using TCG from now on"
      accel=tcg rc=0
    fi
  fi
  [ "$accel" = kvm ] || boot_once tcg "$fx" "$v" 240 || rc=$?
  if [ $rc -eq 1 ]; then
    tail -n 30 "$log.console" >&2
    fail "$fx/$v: no probe marker"
  elif [ $rc -eq 2 ]; then
    tail -n 20 "$log.console" >&2
    fail "$fx/app: no listing from the guest"
  fi
  ok "$fx/$v booted to runit stage 2: $(cat "$log.probe") ($accel, $((SECONDS - start))s)"
}

# The paths a report lists as changed by customization, one per line.
changed_paths() {
  python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["changed_paths"]))' "$1"
}

# Drops the listing lines of excluded paths (and everything under them).
filter_listing() { # EXCLUDES_FILE < listing
  awk 'NR == FNR { ex[$0] = 1; next }
       /^#/ { next }
       { p = $1; drop = 0
         while (p != "") { if (p in ex) { drop = 1; break }
                           if (p !~ /\//) break; sub(/\/[^\/]*$/, "", p) }
         if (!drop) print }' "$1" -
}

metadata_check() { # FIXTURE
  local fx=$1 d=$T/$1
  local tarball
  tarball=$(ls "$FIXTURES/$fx"/*.tar.xz)
  changed_paths "$d/images/app.report.json" >"$d/excludes"
  grep -q '^/usr/libexec/revm-test' "$d/excludes" || fail "$fx: report lacks the installed files"
  "$TREELIST" --tar "$tarball" | filter_listing "$d/excludes" | sort >"$d/tar.list"
  grep -v '^#' "$d/app.treelist" | tr -d '\r' | filter_listing "$d/excludes" | sort >"$d/guest.list"
  grep -q '^# treelist end rc=0' "$d/app.treelist" || fail "$fx: treelist failed in the guest"
  if ! diff -u "$d/tar.list" "$d/guest.list" >"$d/listing.diff"; then
    head -n 40 "$d/listing.diff" >&2
    fail "$fx: guest listing differs from the tarball ($(grep -c '^[-+]/' "$d/listing.diff") lines)"
  fi
  ok "$fx: guest listing equals the tarball's, $(wc -l <"$d/tar.list") entries" \
    "($(wc -l <"$d/excludes") changed paths excluded)"
}

for fx in small debian; do
  for v in driver filesystem app; do
    boot "$fx" "$v"
  done
  metadata_check "$fx"
done
ok "all images booted"
