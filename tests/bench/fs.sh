#!/usr/bin/env bash
# Filesystem service benchmarks without a VM: revm-fuse (release) over a local
# `revm-guestd --service fs DIR` (the static guest binary), against the same work done on DIR
# directly (the baseline, measured in the same run):
#  - sequential write and read of BENCH_FS_MIB (default 256) MiB, page cache dropped before reads;
#  - metadata: find + stat of a 20k-file tree, untar of a 5k-file tree;
#  - fsx: BENCH_FSX_OPS (default 100000) random operations with data verification through the mount.
# The issue's VM figures (vs raw virtio-serial, vs virtio-9p) need TCG-free hardware to mean
# anything; this measures the service's own overhead. Prints ratios only, asserts nothing.
. "$(dirname "$0")/../lib.sh"

FUSE=$BUILD/bin/revm-fuse
GUEST=$BUILD/lib/revm/revm-guestd
FSX=$BUILD/tests/bin/fsx
for b in "$FUSE" "$GUEST" "$FSX"; do [ -x "$b" ] || skip "$b not built"; done
[ -c /dev/fuse ] && [ "$(id -u)" = 0 ] || skip "needs root and /dev/fuse"
MIB=${BENCH_FS_MIB:-256}
OPS=${BENCH_FSX_OPS:-100000}

short_tmpdir D
mkdir -p "$D/src" "$D/mnt"
"$FUSE" --ready-fd 3 --local "$GUEST" "$D/src" "$D/mnt" 3>"$T/ready" 2>"$T/fuse.log" &
track_pid $!
on_exit "umount -l '$D/mnt' 2>/dev/null"
wait_for 30 grep -q . "$T/ready" && [ "$(cat "$T/ready")" = ok ] || fail "revm-fuse: $(cat "$T/ready" "$T/fuse.log")"
mkdir -p "$D/src/raw" "$D/mnt/fuse"
RAW=$D/src/raw FUSED=$D/mnt/fuse

now() { date +%s.%N; }
secs() { local t0 t1; t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); echo "$t1 - $t0" | bc; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
ratio() { echo "scale=2; $1 / $2" | bc; }

w_raw=$(secs dd if=/dev/zero of="$RAW/big" bs=1M count="$MIB" conv=fsync)
w_fuse=$(secs dd if=/dev/zero of="$FUSED/big" bs=1M count="$MIB" conv=fsync)
drop; r_raw=$(secs dd if="$RAW/big" of=/dev/null bs=1M)
drop; r_fuse=$(secs dd if="$FUSED/big" of=/dev/null bs=1M)
printf 'seq write %d MiB: raw %.0f MiB/s, mount %.0f MiB/s, %s%% of raw\n' "$MIB" \
  "$(echo "$MIB / $w_raw" | bc -l)" "$(echo "$MIB / $w_fuse" | bc -l)" "$(echo "100 * $w_raw / $w_fuse" | bc)"
printf 'seq read  %d MiB: raw %.0f MiB/s, mount %.0f MiB/s, %s%% of raw\n' "$MIB" \
  "$(echo "$MIB / $r_raw" | bc -l)" "$(echo "$MIB / $r_fuse" | bc -l)" "$(echo "100 * $r_raw / $r_fuse" | bc)"
rm -f "$RAW/big"

# 20k files in 200 directories, made on the served side.
python3 - "$RAW/tree" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(200):
    p = os.path.join(root, "d%03d" % d)
    os.makedirs(p)
    for f in range(100):
        with open(os.path.join(p, "f%03d" % f), "w") as fh:
            fh.write("x" * (f % 7))
PY
drop; m_raw=$(secs find "$RAW/tree" -printf '%s %m %i\n')
drop; m_fuse=$(secs find "$FUSED/../raw/tree" -printf '%s %m %i\n')
printf 'find+stat 20k files: raw %.2f s, mount %.2f s, ratio %sx\n' "$m_raw" "$m_fuse" "$(ratio "$m_fuse" "$m_raw")"
tar -C "$RAW/tree" -cf "$T/5k.tar" $(cd "$RAW/tree" && ls | head -n 50)
u_raw=$(secs tar -C "$RAW" -xf "$T/5k.tar")
mkdir -p "$FUSED/untar"
u_fuse=$(secs tar -C "$FUSED/untar" -xf "$T/5k.tar")
printf 'untar 5k files: raw %.2f s, mount %.2f s, ratio %sx\n' "$u_raw" "$u_fuse" "$(ratio "$u_fuse" "$u_raw")"

# The mount's inodes from the find above stay looked up (one descriptor each in the helper)
# until the kernel forgets them: drop them, as memory pressure would.
drop
f_raw=$(secs "$FSX" -N "$OPS" -S 1 -l 1048576 -o 65536 "$RAW/fsx")
t0=$(now)
"$FSX" -N "$OPS" -S 1 -l 1048576 -o 65536 "$FUSED/fsx" >"$T/fsx.log" 2>&1 || { cat "$T/fsx.log"; fail "fsx through the mount"; }
f_fuse=$(echo "$(now) - $t0" | bc)
printf 'fsx %d ops (verified): raw %.1f s, mount %.1f s, ratio %sx\n' "$OPS" "$f_raw" "$f_fuse" "$(ratio "$f_fuse" "$f_raw")"

# ---- Through the filesystem VM (TCG here: the ratios, not the absolute figures, matter) ----
# Baselines measured in the same run: the bridge's own throughput to the same VM (`revm cat`
# through the same virtio-serial port: the raw transport the mount rides on), and the same
# metadata work done inside the guest. BENCH_FS_VM=0 skips this part.
[ "${BENCH_FS_VM:-1}" = 1 ] || exit 0
command -v mkfs.ext4 >/dev/null || { echo "vm part: skipped (mkfs.ext4 missing)"; exit 0; }
umount "$D/mnt"
. "$TOP/tests/support/vm-images.sh"
VMIB=${BENCH_FS_VM_MIB:-64}
build_vm_images "${REVM_FIXTURE:-small}" "$T/images" filesystem
export REVM_IMAGES=$T/images
truncate -s 1G "$T/data.img" && mkfs.ext4 -q -L data "$T/data.img"
mkdir -p "$T/profiles" && cp "$BUILD"/lib/revm/profiles/*.ini "$T/profiles/"
sed -i "s|^image = filesystem.qcow2|&\nextra = $T/data.img|" "$T/profiles/filesystem.ini"
export REVM_PROFILES=$T/profiles
start_revmd
revm start filesystem >/dev/null 2>&1 || fail "revm start filesystem"
V=$D/vm
mkdir -p "$V"
revm --vm filesystem mount ext4.data "$V" >/dev/null 2>&1 || fail "revm mount ext4.data"
on_exit "umount -l '$V' 2>/dev/null"

b_in=$(secs sh -c "head -c ${VMIB}M /dev/zero | revm --vm filesystem sh -c 'cat >/dev/null'")
b_out=$(secs sh -c "revm --vm filesystem head -c $((VMIB * 1048576)) /dev/zero >'$T/bout'")
[ "$(stat -c %s "$T/bout")" = $((VMIB * 1048576)) ] || fail "bridge baseline: revm head gave $(stat -c %s "$T/bout") bytes"
rm -f "$T/bout"
m_w=$(secs dd if=/dev/zero of="$V/big" bs=1M count="$VMIB" conv=fsync)
drop; revm --vm filesystem sh -c 'echo 3 >/proc/sys/vm/drop_caches' 2>/dev/null || true
m_r=$(secs dd if="$V/big" of=/dev/null bs=1M)
printf 'vm seq write %d MiB: bridge %.1f MiB/s, mount %.1f MiB/s, %s%% of the bridge\n' "$VMIB" \
  "$(echo "$VMIB / $b_in" | bc -l)" "$(echo "$VMIB / $m_w" | bc -l)" "$(echo "100 * $b_in / $m_w" | bc)"
printf 'vm seq read  %d MiB: bridge %.1f MiB/s, mount %.1f MiB/s, %s%% of the bridge\n' "$VMIB" \
  "$(echo "$VMIB / $b_out" | bc -l)" "$(echo "$VMIB / $m_r" | bc -l)" "$(echo "100 * $b_out / $m_r" | bc)"

# 2000 files (20k under TCG takes too long for a routine run; BENCH_FS_VM_FILES overrides).
NF=${BENCH_FS_VM_FILES:-2000}
revm --vm filesystem sh -c "mkdir -p /run/revm/volumes/ext4.data/tree && cd /run/revm/volumes/ext4.data/tree && i=0; while [ \$i -lt $NF ]; do [ \$((i % 100)) = 0 ] && mkdir d\$i && cd=d\$i; : >\$cd/f\$i; i=\$((i+1)); done; sync" \
  || fail "making the tree in the guest"
drop
# The filesystem VM has busybox, not findutils: its find and stat are the guest-side baseline.
revm --vm filesystem busybox find /run/revm/volumes/ext4.data/tree -exec busybox stat -c '%s %a' {} + \
  | wc -l >"$T/gcount"
[ "$(cat "$T/gcount")" -gt "$NF" ] || fail "guest find baseline listed $(cat "$T/gcount") entries"
g_find=$(secs revm --vm filesystem busybox find /run/revm/volumes/ext4.data/tree -exec busybox stat -c '%s %a' {} +)
h_find=$(secs find "$V/tree" -printf '%s %m %i\n')
printf 'vm find+stat %d files: in the guest (revm find) %.2f s, through the mount %.2f s, ratio %sx\n' \
  "$NF" "$g_find" "$h_find" "$(ratio "$h_find" "$g_find")"
tar -C "$V" -cf "$T/tree.tar" tree
rm -rf "$V/tree2"; mkdir "$V/tree2"
h_untar=$(secs tar -C "$V/tree2" -xf "$T/tree.tar")
revm --vm filesystem sh -c 'mkdir -p /tmp/u' && cat "$T/tree.tar" | revm --vm filesystem sh -c 'cat >/tmp/t.tar'
g_untar=$(secs revm --vm filesystem busybox tar -C /tmp/u -xf /tmp/t.tar)
[ "$(revm --vm filesystem busybox find /tmp/u | wc -l)" -gt "$NF" ] || fail "guest untar baseline did not extract"
printf 'vm untar %d files: in the guest %.2f s, through the mount %.2f s, ratio %sx\n' \
  "$NF" "$g_untar" "$h_untar" "$(ratio "$h_untar" "$g_untar")"
echo "vm: 9p comparison not measured (the profiles have no virtio-9p export)"
umount "$V"
revm stop filesystem >/dev/null 2>&1 || true
