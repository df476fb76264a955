#!/usr/bin/env bash
# A hostile guest behind a FUSE mount: revm-fuse (sanitizer build) against
# tests/support/fs_hostile_guest.py, which answers filesystem requests with oversized names,
# "..", "/" inside names, looping and escaping symlinks, wrong and zero node ids, unknown
# tags, wrong reply types, malformed bodies, more bytes than asked, endless and stuck
# directories, silence, and a 4 GiB record length. Nothing may crash, hang or be written
# outside the mount: each operation ends with an error (or the good entries only), and
# revm-fuse stays up, except after the garbage record, which ends the mount cleanly.
. "$(dirname "$0")/../lib.sh"

FUSE=$BUILD/tests/bin/revm-fuse
FAKE=$TOP/tests/support/fs_hostile_guest.py
[ -x "$FUSE" ] || skip "revm-fuse not built (libfuse3-dev missing)"
[ -c /dev/fuse ] || skip "no /dev/fuse"
[ "$(id -u)" = 0 ] || skip "needs root to mount FUSE without the setuid helper"

short_tmpdir D
mkdir -p "$D/outside"
touch "$D/outside/marker"

start() { # MODE
  mkdir -p "$D/m-$1"
  "$FUSE" --timeout 3000 --max-dir-entries 20000 --ready-fd 3 --local "$FAKE" "$1" "$D/m-$1" \
    3>"$T/ready-$1" 2>"$T/fuse-$1.log" &
  FPID=$!
  track_pid $FPID
  on_exit "umount -l '$D/m-$1' 2>/dev/null"
  wait_for 30 grep -q . "$T/ready-$1" || fail "$1: revm-fuse not ready: $(cat "$T/fuse-$1.log")"
  [ "$(cat "$T/ready-$1")" = ok ] || fail "$1: $(cat "$T/ready-$1")"
}
alive() { # MODE
  kill -0 $FPID 2>/dev/null || fail "$1: revm-fuse died: $(tail -n 20 "$T/fuse-$1.log")"
  if grep -q "AddressSanitizer\|runtime error" "$T/fuse-$1.log"; then
    cat "$T/fuse-$1.log"; fail "$1: sanitizer report"
  fi
}
stop() { # MODE
  umount "$D/m-$1" || umount -l "$D/m-$1"
  wait_for 20 bash -c "! kill -0 $FPID 2>/dev/null" || fail "$1: revm-fuse did not end after unmount"
  grep -q "AddressSanitizer\|runtime error" "$T/fuse-$1.log" && { cat "$T/fuse-$1.log"; fail "$1: sanitizer report"; }
  true
}
# run SECONDS COMMAND...: must end (any status) within SECONDS; prints its status
run() { local secs=$1; shift; local rc=0; timeout "$secs" "$@" >"$T/out" 2>&1 || rc=$?; [ $rc -ne 124 ] || fail "hung: $*"; echo $rc; }

start names
rc=$(run 30 ls -a "$D/m-names")
grep -qx good "$T/out" || { cat "$T/out"; fail "names: the good entry is not listed"; }
if grep -q '^\.\.$' "$T/out" && [ "$(grep -c '^\.\.$' "$T/out")" -gt 1 ]; then fail "names: a second .. listed"; fi
! grep -q "/" "$T/out" && ! grep -q "xxxxxxxxxx" "$T/out" || fail "names: a bad name got through"
alive names; stop names
ok "names: oversized, '..', '/' and 'a/b' entries dropped (ls exit $rc), good ones listed"

start loop
rc=$(run 30 cat "$D/m-loop/self")
[ "$rc" != 0 ] || fail "loop: cat through a self-loop succeeded"
grep -q "Too many levels of symbolic links" "$T/out" || { cat "$T/out"; fail "loop: not ELOOP"; }
alive loop; stop loop
ok "loop: a self-referencing symlink ends with ELOOP"

start() { # MODE [OPTIONS...]: as above, with revm-fuse options
  local mode=$1; shift
  mkdir -p "$D/m-$mode"
  "$FUSE" "$@" --timeout 3000 --max-dir-entries 20000 --ready-fd 3 --local "$FAKE" "$mode" "$D/m-$mode" \
    3>"$T/ready-$mode" 2>"$T/fuse-$mode.log" &
  FPID=$!
  track_pid $FPID
  on_exit "umount -l '$D/m-$mode' 2>/dev/null"
  wait_for 30 grep -q . "$T/ready-$mode" || fail "$mode: revm-fuse not ready: $(cat "$T/fuse-$mode.log")"
  [ "$(cat "$T/ready-$mode")" = ok ] || fail "$mode: $(cat "$T/ready-$mode")"
}
start loop --nosymfollow
rc=$(run 30 sh -c "echo x > '$D/m-loop/escape'")
[ "$rc" != 0 ] && [ ! -e "$D/outside/written" ] || fail "loop: a write through a guest symlink left the mount"
[ "$(readlink "$D/m-loop/escape")" = ../outside/written ] || fail "loop: readlink under nosymfollow"
alive loop; stop loop
ok "loop: with --nosymfollow a guest symlink pointing out of the mount is not followed (readlink works)"

start ids
for i in 1 2 3 4 5 6 7 8; do run 30 stat "$D/m-ids/f$i" >/dev/null; done
alive ids
grep -q "unknown tag\|malformed\|reply type" "$T/fuse-ids.log" || true
stop ids
ok "ids: node 0, unknown tags, wrong types and malformed bodies give errors, no crash"

start sizes
rc=$(run 30 cat "$D/m-sizes/f")
[ "$rc" != 0 ] || fail "sizes: a read longer than asked was accepted"
alive sizes; stop sizes
ok "sizes: a READ reply longer than asked fails with an error ($(tail -n 1 "$T/out"))"

start stuck
rc=$(run 30 ls "$D/m-stuck")
[ "$rc" != 0 ] || fail "stuck: a directory that repeats its offset listed fine"
alive stuck; stop stuck
ok "stuck: a directory repeating its offset ends with an error"

start endless
rc=$(run 300 ls -f "$D/m-endless")
[ "$rc" != 0 ] || fail "endless: an endless directory listed fine"
alive endless; stop endless
ok "endless: an endless directory ends with an error after the bound"

start silent
rc=$(run 60 stat "$D/m-silent/f")
[ "$rc" != 0 ] || fail "silent: stat succeeded"
alive silent; stop silent
ok "silent: a guest that never answers gives an error after the timeout ($(tail -n 1 "$T/out"))"

start garbage
run 30 ls "$D/m-garbage" >/dev/null
wait_for 30 bash -c "! grep -q ' $D/m-garbage fuse' /proc/self/mounts" || fail "garbage: the mount stayed"
wait_for 20 bash -c "! kill -0 $FPID 2>/dev/null" || fail "garbage: revm-fuse did not end"
grep -q "AddressSanitizer\|runtime error" "$T/fuse-garbage.log" && fail "garbage: sanitizer report"
ok "garbage: a 4 GiB record length ends the service and the mount cleanly"
[ "$(ls "$D/outside")" = marker ] || fail "something appeared outside the mounts"
echo "fs-hostile: all passed"
