#!/usr/bin/env bash
# Extraction: safe paths, owners, devices and xattrs from real archives.
#  1. Malicious and broken tarballs (absolute path, "..", symlink escape, hard link
#     escape, truncated, garbage, out of disk space) each fail with one clear line
#     and a non-zero exit, and nothing is written outside the staging directory:
#     through mk-extract (mkimage's extraction step alone) always, and through
#     build/bin/mkimage when it exists.
#  2. Metadata round trip as root: treelist of the extracted tree equals treelist of
#     the tarball (types, modes with special bits, owners, sizes, link targets,
#     devices, xattrs, mtimes), for the host and the static guest build of treelist.
#  3. The same as an ordinary user: mk-extract re-executes itself under fakeroot, and
#     a listing taken inside that session equals the tarball's.
# The cmocka suite mkimage/tests/test_extract.c covers the same rules through
# extract_archive directly.
. "$(dirname "$0")/../lib.sh"

command -v python3 >/dev/null || skip "python3 is needed to build test tarballs"
make -s -C "$TOP/tests/tools" >/dev/null
MKX=$BUILD/tests/bin/mk-extract
TL=$BUILD/tests/bin/treelist
TLS=$BUILD/lib/revm/test/treelist-static
export CI=1 # no progress bars in logs

# ---- test tarballs ------------------------------------------------------------------
mkdir -p "$T/tars" "$T/outside"
echo secret > "$T/outside/secret"
python3 - "$T/tars" "$T/outside" <<'EOF'
import io, os, sys, tarfile
out, outside = sys.argv[1], sys.argv[2]
T0 = 1600000000

def ent(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, **kw):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, gid, T0
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)

def write(name, entries, mode="w"):
    with tarfile.open(os.path.join(out, name), mode, format=tarfile.PAX_FORMAT) as t:
        for ti, f in entries:
            t.addfile(ti, f)

D, L, H = tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
root = [ent("./", D, mode=0o755)]
write("absolute.tar", root + [ent(outside + "/pwned", data=b"x")])
write("dotdot.tar", root + [ent("etc/", D, mode=0o755), ent("etc/../../outside/pwned", data=b"x")])
write("symlink-escape.tar", root + [ent("esc", L, linkname=outside), ent("esc/pwned", data=b"x")])
write("hardlink-escape.tar", root + [ent("pwned", H, linkname="../outside/secret")])
write("hardlink-via-symlink.tar", root + [ent("esc", L, linkname=outside),
                                          ent("pwned", H, linkname="esc/secret")])

# A rootfs-like tarball with every kind of metadata.
cap = bytes.fromhex("0100000200200000000000000000000000000000")
def xattrs(ti, **kv):
    ti.pax_headers.update({"SCHILY.xattr." + k: v for k, v in kv.items()})
    return ti
BIG = os.urandom(3 << 20)
def meta():
  m = [ent("./", D, mode=0o755),
    ent("etc/", D, mode=0o755), ent("etc/shadow", data=b"root:!:1::::::\n", mode=0o640, gid=42),
    ent("tmp/", D, mode=0o1777), ent("usr/", D, mode=0o755), ent("usr/bin/", D, mode=0o2755),
    ent("usr/bin/su", data=b"#!su\n", mode=0o4755),
    ent("usr/bin/sudo", H, linkname="usr/bin/su"),
    ent("usr/bin/wall", data=b"#!wall\n", mode=0o2755, gid=5),
    ent("usr/bin/sh", L, linkname="/bin/busybox", mode=0o777),
    ent("bin", L, linkname="usr/bin", mode=0o777),
    ent("dev/", D, mode=0o755),
    ent("dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
    ent("dev/sda", tarfile.BLKTYPE, mode=0o660, gid=6, devmajor=8, devminor=0),
    ent("dev/initctl", tarfile.FIFOTYPE, mode=0o600),
    ent("home/", D, mode=0o755), ent("home/user/", D, mode=0o700, uid=1000, gid=1000),
    ent("home/user/a file with spaces", data=b"s", uid=1000, gid=1000),
    ent("home/user/" + "long" * 40, data=b"l", uid=1000, gid=1000),
    ent("home/user/\u00fcn\u00efcode", data=b"u", uid=1000, gid=1000),
    ent("var/", D, mode=0o755), ent("var/lib/", D, mode=0o755),
    ent("var/lib/big", data=BIG),
  ]
  ping = ent("usr/bin/ping", data=b"#!ping\n", mode=0o755)
  xattrs(ping[0], **{"security.capability": cap.decode("latin-1"), "user.comment": "hello"})
  big = ent("etc/big-xattr", data=b"b")
  xattrs(big[0], **{"user.long": "v" * 300})
  return m + [ping, big]
write("meta.tar.xz", meta(), "w:xz")
write("meta.tar.gz", meta(), "w:gz")
EOF
head -c 200000 /dev/urandom > "$T/tars/garbage.tar.xz"
head -c "$(( $(stat -c %s "$T/tars/meta.tar.xz") / 2 ))" "$T/tars/meta.tar.xz" > "$T/tars/truncated.tar.xz"
: > "$T/tars/empty.tar.xz"

# ---- 1. bad input -------------------------------------------------------------------
nothing_escaped() {
  [ ! -e "$T/outside/pwned" ] || fail "$1: wrote outside the staging directory"
  [ "$(cat "$T/outside/secret")" = secret ] || fail "$1: changed a file outside"
}

# check_error DESC PATTERN CMD...: non-zero exit, exactly one line on stderr, matching.
check_error() {
  local what=$1 pattern=$2 out rc=0
  shift 2
  out=$("$@" 2>&1 >/dev/null) || rc=$?
  [ $rc -ne 0 ] || fail "$what: expected failure, got exit 0"
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "$what: expected one line, got: $out"
  printf '%s' "$out" | grep -q -- "$pattern" || fail "$what: '$out' does not mention '$pattern'"
  nothing_escaped "$what"
  echo "ok: $what -> exit $rc: $out"
  last_err=$out
}

n=0
bad_case() { # TARBALL PATTERN
  n=$((n + 1))
  check_error "mk-extract $1" "$2" "$MKX" "$T/tars/$1" "$T/stage-$n"
  case "$last_err" in *"$T/tars/$1"*) ;; *) fail "$1: error does not name the archive" ;; esac
}
bad_case absolute.tar "entry \"$T/outside/pwned\": absolute path"
bad_case dotdot.tar "entry \"etc/../../outside/pwned\": path has a '..' component"
bad_case symlink-escape.tar "entry \"esc/pwned\": path goes through symlink \"esc\" pointing outside"
bad_case hardlink-escape.tar "entry \"pwned\": hard link target \"../outside/secret\": path has a '..'"
bad_case hardlink-via-symlink.tar "entry \"pwned\": hard link target goes through symlink \"esc\""
bad_case truncated.tar.xz "truncated"
bad_case garbage.tar.xz "not a tar archive"
bad_case empty.tar.xz "truncated or not a tar archive\|no entries"
check_error "missing archive" "No such file" "$MKX" "$T/tars/missing.tar.xz" "$T/stage-missing"

if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
  # Out of disk space: a 1 MiB tmpfs in a private mount namespace (gone with the process).
  mkdir -p "$T/small-fs"
  if unshare -m true 2>/dev/null; then
    check_error "out of disk space" "out of disk space while writing entry \"var/lib/big\"" \
      unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs "$1" && exec "$2" "$3" "$1/stage"' \
      sh "$T/small-fs" "$MKX" "$T/tars/meta.tar.xz"
  else
    echo "note: unshare -m not permitted here; out-of-space case skipped"
  fi
fi

# Through mkimage itself, when the pipeline's main.c exists.
MKIMAGE=$BUILD/bin/mkimage
if [ -x "$MKIMAGE" ] && [ -d "$FIXTURES/kernel/tree" ]; then
  for c in absolute.tar:"absolute path" dotdot.tar:"'..'" symlink-escape.tar:"symlink \"esc\"" \
           hardlink-escape.tar:"hard link target" truncated.tar.xz:"truncated" \
           garbage.tar.xz:"not a tar archive"; do
    tar=${c%%:*} pattern=${c#*:}
    sum=$(sha256sum "$T/tars/$tar" | cut -d' ' -f1)
    out=$T/mkimage-out-${tar%%.*}
    rc=0
    msg=$("$MKIMAGE" --quiet --variant driver --rootfs "$T/tars/$tar" --sha256 "$sum" \
            --kernel "$FIXTURES/kernel/tree" --cache "$T/cache" --work "$T/work" --out "$out" \
            2>&1 >/dev/null) || rc=$?
    [ $rc -ne 0 ] || fail "mkimage $tar: expected failure"
    last=$(printf '%s\n' "$msg" | tail -n 1)
    printf '%s' "$last" | grep -q -- "$pattern" || fail "mkimage $tar: '$last' lacks '$pattern'"
    [ -z "$(find "$out" -type f 2>/dev/null)" ] || fail "mkimage $tar: left files in $out"
    nothing_escaped "mkimage $tar"
    echo "ok: mkimage $tar -> exit $rc: $last"
  done
else
  echo "note: $MKIMAGE (or the kernel fixture) not built yet; CLI cases skipped, mk-extract covers extraction"
fi

# ---- 2. metadata round trip as root -------------------------------------------------
compare() { # DESC EXPECTED ACTUAL
  diff -u "$2" "$3" >"$T/diff" || { head -n 40 "$T/diff"; fail "$1: listings differ"; }
  echo "ok: $1 ($(wc -l <"$2") entries identical)"
}
for tb in meta.tar.xz meta.tar.gz; do
  "$TL" --tar "$T/tars/$tb" --mtime >"$T/$tb.want"
done
cmp -s "$T/meta.tar.xz.want" "$T/meta.tar.gz.want" || fail "treelist --tar differs between xz and gz"
grep -q '^/usr/bin/ping f 0755 0 0 7 - - security.capability=0x0100000200200000000000000000000000000000,user.comment=0x68656c6c6f ' \
  "$T/meta.tar.xz.want" || fail "treelist --tar: unexpected line for /usr/bin/ping"
grep -q '^/usr/bin/sudo f 4755 0 0 5 ' "$T/meta.tar.xz.want" || fail "treelist --tar: hard link not listed as its file"
grep -q 'user.long=sha256:' "$T/meta.tar.xz.want" || fail "treelist --tar: long xattr not hashed"

if [ "$(id -u)" -eq 0 ] && [ -z "${FAKEROOTKEY:-}" ]; then
  "$MKX" "$T/tars/meta.tar.xz" "$T/root-stage" 2>/dev/null
  "$TL" --dir "$T/root-stage" --mtime >"$T/root.got"
  compare "root: treelist --dir equals --tar" "$T/meta.tar.xz.want" "$T/root.got"
  "$TLS" --dir "$T/root-stage" --mtime >"$T/root-static.got"
  compare "root: treelist-static --dir equals --tar" "$T/meta.tar.xz.want" "$T/root-static.got"
fi

# ---- 3. as an ordinary user, under fakeroot ----------------------------------------
command -v fakeroot >/dev/null || fail "fakeroot is not installed (scripts/install-deps.sh)"
user_cmd=(env -u FAKEROOTKEY)
if [ "$(id -u)" -eq 0 ]; then
  command -v setpriv >/dev/null || skip "setpriv (util-linux) is needed to drop root"
  user_cmd=(setpriv --reuid=65534 --regid=65534 --clear-groups env -u FAKEROOTKEY HOME=/)
  chmod 711 "$T"
fi
as_user() { "${user_cmd[@]}" "$@"; }
mkdir -p "$T/user"
chmod 777 "$T/user"
as_user sh -c '[ "$(id -u)" -ne 0 ]' || fail "could not become an ordinary user"

# Without fakeroot on PATH an ordinary user gets a clear refusal.
mkdir -p "$T/empty-bin"
check_error "no fakeroot" "fakeroot: not found" as_user env PATH="$T/empty-bin" "$MKX" \
  "$T/tars/meta.tar.xz" "$T/user/nofakeroot"

user_check() { # NAME TARBALL
  local want=$T/user-$1.want got=$T/user-$1.got
  "$TL" --tar "$2" --mtime >"$want"
  as_user "$MKX" "$2" "$T/user/$1" -- "$TL" --dir "$T/user/$1" --mtime >"$got" 2>"$T/user-$1.err" ||
    { cat "$T/user-$1.err"; fail "$1: extraction as an ordinary user failed"; }
  compare "ordinary user under fakeroot: $1" "$want" "$got"
  # Outside the session the files are plainly the user's own: fakeroot did the work.
  [ "$(stat -c %u "$T/user/$1")" = "$(as_user id -u)" ] || fail "$1: staging tree not owned by the user"
}
user_check meta "$T/tars/meta.tar.xz"
small=$(ls "$FIXTURES"/small/*.tar.xz 2>/dev/null | head -n 1 || true)
if [ -n "$small" ]; then
  user_check small-fixture "$small"
else
  echo "note: small fixture not built yet ($FIXTURES/small); checked the generated tarball only"
fi

# Killing the process the caller started (SIGKILL included) stops the work running
# inside the fakeroot session too: it must not go on and finish behind our back.
deb=$(ls "$FIXTURES"/debian/*.tar.xz 2>/dev/null | head -n 1 || true)
if [ -n "$deb" ]; then
  "${user_cmd[@]}" "$MKX" "$deb" "$T/user/killed" 2>"$T/killed.err" & # no subshell: $! is it
  outer=$!
  track_pid "$outer"
  sleep 0.3
  kill -KILL "$outer"
  wait "$outer" 2>/dev/null || true
  # (the bracket keeps the pattern from matching this shell's own command line)
  wait_for 20 sh -c '! pgrep -f "$1" >/dev/null' sh "[m]k-extract .*$T/user/killed" ||
    fail "SIGKILL: the extraction inside fakeroot kept running"
  ! grep -q "entries:" "$T/killed.err" || fail "SIGKILL: the inner extraction ran to completion"
  ok "SIGKILL of the outer process stops the session's work"
fi
ok "extraction"
