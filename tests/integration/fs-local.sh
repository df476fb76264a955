#!/usr/bin/env bash
# Filesystem service without a VM: revm-fuse mounts a directory served by a local
# `revm-guestd --service fs DIR` (the real guest helper, sanitizer build). Checks basic use,
# byte-exact tree copies both ways, the POSIX conformance suite (tests/support/fs_conformance.py),
# an fsx random-operation run with data verification, unmount when the helper dies, and
# one-line errors for bad volumes and mount points.
. "$(dirname "$0")/../lib.sh"

FUSE=$BUILD/tests/bin/revm-fuse
GUESTD=$BUILD/tests/bin/revm-guestd
FSX=$BUILD/tests/bin/fsx
FSX_OPS=${FSX_OPS:-10000}
[ -x "$FUSE" ] || skip "revm-fuse not built (libfuse3-dev missing)"
[ -x "$FSX" ] || skip "fsx not built (make -C tests/tools)"
[ -c /dev/fuse ] || skip "no /dev/fuse"
[ "$(id -u)" = 0 ] || skip "needs root (FUSE allow_other and the permission cases)"

short_tmpdir D
chmod 755 "$D"
mkdir "$D/src" "$D/mnt"
# The conformance suite runs cases as uid 65534: it needs to reach the mount.
chmod 755 "$D/src"

mountpoint_ok() { grep -q " $D/mnt fuse" /proc/self/mounts; }
on_exit "umount -l '$D/mnt' 2>/dev/null"

"$FUSE" --allow-other --ready-fd 3 --local "$GUESTD" "$D/src" "$D/mnt" 3>"$T/ready" 2>"$T/fuse.log" &
FPID=$!
track_pid $FPID
wait_for 30 grep -q . "$T/ready" || fail "revm-fuse did not report ready: $(cat "$T/fuse.log")"
[ "$(cat "$T/ready")" = ok ] || fail "revm-fuse: $(cat "$T/ready")"
mountpoint_ok || fail "no FUSE mount on $D/mnt"
ok "mounted $D/src through the fs helper"

# Basic use, both directions.
echo hello >"$D/src/from-guest"
[ "$(cat "$D/mnt/from-guest")" = hello ] || fail "a file written on the served side is not seen"
echo world >"$D/mnt/from-host"
[ "$(cat "$D/src/from-host")" = world ] || fail "a file written through the mount is not on the served side"
ok "files written on either side are seen on the other"

# A tree out and back, byte-exact (modes, links, symlinks, times).
mkdir -p "$T/tree"
cp -a "$TOP/bridge/proto" "$TOP/bridge/fs" "$T/tree/"
ln -s proto/proto.h "$T/tree/link"
ln "$T/tree/proto/proto.h" "$T/tree/hardlink"
head -c 3000000 /dev/urandom >"$T/tree/random.bin"
cp -a "$T/tree" "$D/mnt/tree"
diff -r --no-dereference "$T/tree" "$D/src/tree" || fail "tree copied in differs"
cp -a "$D/mnt/tree" "$T/back"
diff -r --no-dereference "$T/tree" "$T/back" || fail "tree copied out differs"
[ "$(stat -c %i "$D/mnt/tree/hardlink")" = "$(stat -c %i "$D/mnt/tree/proto/proto.h")" ] ||
  fail "hard links do not share an inode number through the mount"
[ "$(find "$D/mnt/tree" | wc -l)" = "$(find "$T/tree" | wc -l)" ] || fail "find counts differ"
ok "cp -a of a tree in and out is byte-exact; find sees every entry"

python3 "$TOP/tests/support/fs_conformance.py" "$D/mnt" || fail "conformance suite"
"$FSX" -N "$FSX_OPS" -l 2097152 -o 131072 "$D/mnt/fsx.file" || fail "fsx"
ok "fsx: $FSX_OPS operations verified"

# The helper dying must not leave a dead mount behind.
kill -KILL "$(pgrep -P $FPID -f 'revm-guestd --service fs' | head -n 1)"
wait_for 30 bash -c "! grep -q ' $D/mnt fuse' /proc/self/mounts" || fail "mount still there after the helper died"
wait $FPID 2>/dev/null || true
ok "the mount goes away when the service ends"

# Bad input: a volume that does not exist, a mount point that does not exist.
expect_fail "unknown volume" "$FUSE" --local "$GUESTD" no-such-volume "$D/mnt"
expect_fail "missing mount point" "$FUSE" --local "$GUESTD" "$D/src" "$D/nowhere"
echo "fs-local: all passed"
