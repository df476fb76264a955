#!/usr/bin/env bash
# Filesystem service benchmarks without a VM: revm-fuse (release) over a local
# `revm-guestd --service fs DIR` (the static guest binary), against the same work done on DIR
# directly (the baseline, measured in the same run):
#  - sequential write and read of BENCH_FS_MIB (default 256) MiB, page cache dropped before reads;
#  - metadata: find + stat of a 20k-file tree, untar of a 5k-file tree;
#  - fsx: BENCH_FSX_OPS (default 100000) random operations with data verification through the mount.
# Then the same through the filesystem VM (BENCH_FS_VM=0 skips it): against the bridge's raw
# throughput, the same work inside the guest, and the same metadata jobs over QEMU's virtio-9p
# (BENCH_FS_9P=0 skips that boot). Under TCG only the ratios mean anything.
# Prints ratios only, asserts nothing.
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
# The 9p comparison below needs the guest's 9p modules (9p, 9pnet_virtio and what they depend
# on), which the filesystem variant does not install: the bench builds its image from a copy
# of the variants with them added to that variant's installed modules, so the product image
# stays as it is. Otherwise this is tests/support/vm-images.sh's build_vm_images.
"$TOP/scripts/fixtures/build-all.sh" >/dev/null
cp -r "$BUILD/lib/revm/variants" "$T/variants"
sed -i '/^\[modules\]/a rootfs = 9p 9pnet_virtio' "$T/variants/filesystem.ini"
grep -q '^rootfs = 9p 9pnet_virtio' "$T/variants/filesystem.ini" || fail "the bench's filesystem variant has no [modules]"
mkimage --variant filesystem --variants-dir "$T/variants" \
  --rootfs "$(ls "$FIXTURES/${REVM_FIXTURE:-small}"/*.tar.xz | head -n 1)" \
  --sha256sums "$FIXTURES/${REVM_FIXTURE:-small}/sha256sum.txt" --kernel "$FIXTURES/kernel/tree" \
  --bridge "$BUILD/lib/revm/revm-guestd" --work "$T/mkimage-work" --out "$T/images" --quiet \
  >"$T/mkimage.log" 2>&1 || { cat "$T/mkimage.log"; fail "mkimage (bench filesystem variant)"; }
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
umount "$V"
qp=$(qemu_pid_of filesystem)
revm stop filesystem >/dev/null 2>&1 || true
# The 9p boot below uses the same root and data disks, which QEMU locks.
[ -z "$qp" ] || wait_for 60 sh -c "! kill -0 $qp 2>/dev/null" || fail "the filesystem VM did not stop"

# ---- The same jobs over virtio-9p: the anchor users know ----
# The same tree exported by the host with QEMU's virtio-9p (9p2000.L, the default cache=none),
# the same busybox commands in the guest as its local baseline above, on the 9p mount. The
# profiles have no 9p export and the product needs none, so the bench boots the filesystem VM
# itself: revmd's own command line for it (--print-qemu, sockets in a scratch state dir; no
# network, like every profile) plus a -virtfs export, and talks to its bridge directly
# (revm --socket, through a `revm mux` like revmd's). One more boot; BENCH_FS_9P=0 skips it.
[ "${BENCH_FS_9P:-1}" = 1 ] || { echo "vm: 9p comparison skipped (BENCH_FS_9P=0)"; exit 0; }
P=$D/9p S9=$D/9pst
mkdir -p "$P/u" && tar -C "$P" -xf "$T/tree.tar"
# revmd wants its state directories private.
mkdir -m 700 "$S9" "$S9/filesystem"
mapfile -t qargs < <(REVM_STATE_DIR=$S9 revmd --print-qemu filesystem)
[ "${#qargs[@]}" -gt 1 ] || fail "revmd --print-qemu filesystem printed nothing"
# -virtfs takes a comma-separated option list: a comma in the path is written twice.
"${qargs[@]}" -virtfs "local,path=${P//,/,,},mount_tag=bench9p,security_model=none,id=bench9p" \
  </dev/null >"$T/qemu-9p.log" 2>&1 &
track_pid $!
wait_for 10 test -S "$S9/filesystem/bridge.sock" || fail "QEMU (9p): $(cat "$T/qemu-9p.log")"
# Each try waits for the guest's HELLO for 10 s, then gives up and reconnects.
wait_for 600 timeout 30 revm --socket "$S9/filesystem/bridge.sock" true 2>/dev/null ||
  fail "the 9p filesystem VM's bridge did not answer: $(tail -n 20 "$S9/filesystem/console.log")"
revm --socket "$S9/filesystem/bridge.sock" mux --listen "$S9/mux.sock" 2>"$T/mux-9p.log" &
track_pid $!
wait_for 30 grep -q "bridge ready" "$T/mux-9p.log" || fail "revm mux (9p): $(cat "$T/mux-9p.log")"
vm9() { revm --socket "$S9/mux.sock" "$@"; }
# The bench's image carries the 9p modules (see the image build above); modprobe pulls in
# their dependencies from the image's modules.dep.
vm9 sh -c 'modprobe -a 9pnet_virtio 9p && mkdir -p /mnt/9p &&
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 bench9p /mnt/9p' ||
  fail "mounting the 9p export in the guest"
# A warm-up run that also checks the listing, like the guest baseline's.
[ "$(vm9 busybox find /mnt/9p/tree -exec busybox stat -c '%s %a' {} + | wc -l)" -gt "$NF" ] ||
  fail "find over 9p listed too few entries"
p_find=$(secs vm9 busybox find /mnt/9p/tree -exec busybox stat -c '%s %a' {} +)
cat "$T/tree.tar" | vm9 sh -c 'cat >/tmp/t9.tar'
p_untar=$(secs vm9 busybox tar -C /mnt/9p/u -xf /tmp/t9.tar)
[ "$(find "$P/u" | wc -l)" -gt "$NF" ] || fail "untar over 9p did not extract"
vm9 sh -c 'umount /mnt/9p' || true
# Ours vs 9p as the user sees them, then 9p net of the guest's own run of the same command on
# its disk (above), which leaves out what busybox itself costs under TCG and compares the
# transports; negative when 9p beat the guest's own disk.
vs9p() { # JOB 9P_SECS MOUNT_SECS GUEST_SECS
  local net
  net=$(echo "$2 - $4" | bc)
  printf 'vm %s %d files: over virtio-9p (in the guest) %.2f s, through the mount %.2f s:' "$1" "$NF" "$2" "$3"
  printf ' the mount %sx faster (target 2x); 9p net of the guest run %.2f s, %sx\n' \
    "$(ratio "$2" "$3")" "$net" "$(ratio "$net" "$3")"
}
vs9p find+stat "$p_find" "$h_find" "$g_find"
vs9p untar "$p_untar" "$h_untar" "$g_untar"
