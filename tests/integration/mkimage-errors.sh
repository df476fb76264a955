#!/usr/bin/env bash
# mkimage on bad input: each case must fail with exactly one line on stderr naming
# the thing and the reason, a non-zero exit, and no file under a final output name.
# Cases: wrong checksum, truncated archive, corrupt archive, HTTP 404, stalled
# server, path traversal entry, symlink escape, out of disk space (small tmpfs as
# output), unknown variant, missing kernel module. Then SIGINT and SIGKILL in the
# middle of a build: no final name appears, and moments later nothing at all is
# left (mkimage's janitor process removes the scratch directories even after
# SIGKILL; failing that, the next run would).
. "$(dirname "$0")/../lib.sh"

command -v python3 >/dev/null || skip "python3 not installed"
make -s -C "$TOP/mkimage" all >/dev/null
"$TOP/scripts/fixtures/build-all.sh" kernel small >/dev/null 2>&1 ||
  skip "fixtures could not be built"
MK=$BUILD/bin/mkimage
kernel=$FIXTURES/kernel/tree
small=$(ls "$FIXTURES/small"/*.tar.xz)
name=$(basename "$small")
sha=$(sha256sum "$small" | cut -d' ' -f1)

python3 "$TOP/tests/support/httpd.py" --root "$FIXTURES/small" --port-file "$T/port" \
  --log "$T/http.log" --stall-bytes 4096 >/dev/null 2>&1 &
track_pid $!
wait_for 15 test -s "$T/port" || fail "httpd did not start"
base=http://127.0.0.1:$(cat "$T/port")

common=(--variant all --kernel "$kernel" --variants-dir "$TOP/mkimage/variants" --quiet)

# no_outputs DIR: no file under a final output name (hidden temporary names aside).
no_outputs() {
  [ -d "$1" ] || return 0
  local left
  left=$(find "$1" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | head -n 1)
  [ -z "$left" ] || fail "$1: output left behind: $left"
}
# one_line_error DESC WANT OUTDIR CMD...: one stderr line containing WANT, exit != 0,
# nothing under a final name in OUTDIR.
one_line_error() {
  local what=$1 want=$2 out=$3; shift 3
  local err rc=0
  err=$("$@" 2>&1 >/dev/null) || rc=$?
  [ $rc -ne 0 ] || fail "$what: expected failure, got exit 0"
  [ "$(printf '%s\n' "$err" | grep -c .)" -eq 1 ] || fail "$what: expected one error line, got: $err"
  case $err in *"$want"*) ;; *) fail "$what: error lacks '$want': $err" ;; esac
  no_outputs "$out"
  [ ! -d "$out" ] || [ -z "$(find "$out" -mindepth 1 -maxdepth 1 -name '.mkimage-*')" ] ||
    fail "$what: scratch directory left in $out"
  ok "$what -> exit $rc: $err"
}

# ---- fetch ----
wrong=$(printf '%s' "$sha" | tr '0-9a-f' '1-9a-f0')
one_line_error "wrong checksum" "SHA-256 mismatch" "$T/o1" \
  "$MK" "${common[@]}" --cache "$T/cache1" --rootfs "$base/$name" --sha256 "$wrong" --out "$T/o1"
one_line_error "404" "HTTP 404" "$T/o2" \
  "$MK" "${common[@]}" --cache "$T/cache2" --rootfs "$base/404/$name" --sha256 "$sha" --out "$T/o2"
one_line_error "stalled server" "stall" "$T/o3" \
  "$MK" "${common[@]}" --cache "$T/cache3" --stall-timeout 2 --retries 0 \
  --rootfs "$base/stall/$name" --sha256 "$sha" --out "$T/o3"

# ---- archives ----
size=$(stat -c %s "$small")
head -c $((size / 2)) "$small" >"$T/truncated.tar.xz"
one_line_error "truncated archive" "truncated.tar.xz" "$T/o4" \
  "$MK" "${common[@]}" --rootfs "$T/truncated.tar.xz" --out "$T/o4"
cp "$small" "$T/corrupt.tar.xz"
printf 'garbage-garbage-garbage-garbage' |
  dd of="$T/corrupt.tar.xz" bs=1 seek=$((size / 3)) conv=notrunc status=none
one_line_error "corrupt archive" "corrupt.tar.xz" "$T/o5" \
  "$MK" "${common[@]}" --rootfs "$T/corrupt.tar.xz" --out "$T/o5"

# Hostile tarballs: a ".." entry, and a symlink out of the tree followed by an
# entry written through it.
python3 - "$T" <<'EOF'
import io, lzma, sys, tarfile
t = sys.argv[1]
def make(path, entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE; info.mode = 0o755
                tar.addfile(info)
            elif kind == "sym":
                info.type = tarfile.SYMTYPE; info.linkname = data
                tar.addfile(info)
            else:
                info.size = len(data); info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    with open(path, "wb") as f:
        f.write(lzma.compress(buf.getvalue()))
make(t + "/traversal.tar.xz", [("./", "dir", None), ("./etc/", "dir", None),
     ("./../../evil", "file", b"x")])
make(t + "/escape.tar.xz", [("./", "dir", None), ("./etc/", "dir", None),
     ("./etc/link", "sym", "../../../../../tmp"), ("./etc/link/evil", "file", b"x")])
EOF
one_line_error "path traversal" ".." "$T/o6" \
  "$MK" "${common[@]}" --rootfs "$T/traversal.tar.xz" --out "$T/o6"
one_line_error "symlink escape" "etc/link" "$T/o7" \
  "$MK" "${common[@]}" --rootfs "$T/escape.tar.xz" --out "$T/o7"
if [ -e "$T/evil" ] || [ -e /tmp/evil ]; then
  fail "a hostile entry was written outside the tree"
fi

# ---- variants and modules ----
one_line_error "unknown variant" "variant nosuch: unknown" "$T/o8" \
  "$MK" "${common[@]}" --variant nosuch --rootfs "$small" --out "$T/o8"
one_line_error "invalid variant name" "invalid name" "$T/o8" \
  "$MK" "${common[@]}" --variant ../app --rootfs "$small" --out "$T/o8"
mkdir -p "$T/vbad"
cp -r "$TOP/mkimage/variants/." "$T/vbad/"
sed -i 's/^initramfs = virtio_pci/initramfs = no_such_module virtio_pci/' "$T/vbad/app.ini"
ver=$(cat "$FIXTURES/kernel/version")
one_line_error "missing kernel module" "kernel module no_such_module: not found in $ver" "$T/o9" \
  "$MK" --variant app --kernel "$kernel" --variants-dir "$T/vbad" --quiet --rootfs "$small" \
  --out "$T/o9"

# ---- out of disk space: a 24 MiB tmpfs as the output and scratch directory (extraction
# runs out), then as the output only (trees staged on /dev/shm: the disk stage's space
# check refuses before it writes the image) ----
if [ "$(id -u)" -eq 0 ] && mkdir -p "$T/full" && mount -t tmpfs -o size=24m tmpfs "$T/full" 2>/dev/null; then
  on_exit 'umount "$T/full" 2>/dev/null'
  one_line_error "out of disk space (scratch)" "No space left on device" "$T/full" \
    "$MK" "${common[@]}" --rootfs "$small" --out "$T/full" --work "$T/full"
  one_line_error "out of disk space (output)" "not enough space in" "$T/full" \
    "$MK" "${common[@]}" --rootfs "$small" --out "$T/full"
  umount "$T/full"
else
  echo "skip: out of disk space (needs root to mount a tmpfs)"
fi

# ---- interrupts ----
# interrupt SIGNAL OUT: starts a build in its own process group (the signal reaches
# a fakeroot re-exec too, as Ctrl-C would), signals it once it is past extraction.
interrupt() { # SIGNAL OUT [USER]
  local sig=$1 out=$2 user=${3:-}
  local as=()
  mkdir -p "$out"
  if [ -n "$user" ]; then
    chown "$user" "$out"
    as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups
      env -i PATH=/usr/bin:/bin HOME=/nonexistent)
  fi
  setsid "${as[@]}" "$MK" "${common[@]}" --rootfs "$small" --out "$out" >/dev/null 2>&1 &
  local pid=$!
  track_pid "$pid"
  # Past extraction: the first variant's initramfs is being written into the staging dir
  # (the staged trees themselves are on /dev/shm by default).
  wait_for 30 sh -c "ls -A '$out'/.mkimage-* 2>/dev/null | grep -q initramfs" ||
    fail "$sig: the build did not get going"
  kill "-$sig" -- "-$pid"
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  [ $rc -ne 0 ] || fail "$sig: mkimage exited 0"
  no_outputs "$out"
}
empty() { [ -z "$(ls -A "$1")" ]; }
interrupt INT "$T/oint"
wait_for 20 empty "$T/oint" || fail "SIGINT: left behind: $(ls -A "$T/oint")"
ok "SIGINT mid-build: nothing left"
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
  chmod 0755 "$T"
  interrupt INT "$T/oint-user" nobody
  wait_for 20 empty "$T/oint-user" || fail "SIGINT (fakeroot): left behind: $(ls -A "$T/oint-user")"
  ok "SIGINT mid-build as nobody (under fakeroot): nothing left"
fi
interrupt KILL "$T/okill"
wait_for 20 empty "$T/okill" || fail "SIGKILL: left behind: $(ls -A "$T/okill")"
ok "SIGKILL mid-build: no final name, and the scratch was removed"
"$MK" "${common[@]}" --variant app --rootfs "$small" --out "$T/okill" >/dev/null ||
  fail "build after SIGKILL failed"
[ -z "$(find "$T/okill" -mindepth 1 -name '.*')" ] || fail "stale scratch survived the next run"
ok "a build after SIGKILL succeeds and leaves no scratch"
