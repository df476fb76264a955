#!/usr/bin/env bash
# Device service benchmarks. Prints measurements and ratios against baselines
# measured in the same run; asserts nothing on time.
#  Local (always): revm-devices exporting a 256 MiB file served by the release guest helper
#    (`revm-guestd --service device`, run here), through NBD on a unix socket:
#    - sequential read and write of 256 MiB (qemu-img bench, 1 MiB requests, depth 4) vs the
#      same on the file itself: ratio, target >= 80%;
#    - random 4 KiB reads at queue depth 16 (qemu-img bench with a scattering step): IOPS vs
#      the file itself.
#  VM (BENCH_DEV_VM=1; images from REVM_DEV_IMAGES or built): the driver VM's emulated NVMe
#    disk through NBD vs reading the same device inside the guest (cat, 256 MiB): ratio.
. "$(dirname "$0")/../lib.sh"
DEVICES=$BUILD/bin/revm-devices
GUESTD=$BUILD/lib/revm/revm-guestd
[ -x "$DEVICES" ] && [ -x "$GUESTD" ] || skip "revm-devices or revm-guestd not built"
command -v qemu-img >/dev/null || skip "qemu-img not installed"
short_tmpdir S
MIB=${BENCH_MIB:-256}

now() { date +%s.%N; }
secs() { local t0 t1; t0=$(now); "$@" >/dev/null 2>"$T/cmd.err" || { echo "command failed: $* ($(tail -n 1 "$T/cmd.err"))" >&2; return 1; }; t1=$(now); echo "$t1 - $t0" | bc; }
best() { printf '%s\n' "$@" | sort -g | head -n 1; }
rate() { echo "scale=1; $MIB / $1" | bc; }

head -c "${MIB}M" /dev/urandom >"$T/disk.img"
"$DEVICES" --local "$GUESTD" --block "$T/disk.img=$S/nbd.sock" >"$T/devices.log" 2>&1 &
track_pid $!
wait_for 20 grep -q "device channel open" "$T/devices.log" || { cat "$T/devices.log"; fail "device channel did not open"; }
nbd="nbd+unix:///?socket=$S/nbd.sock"
count=$(( MIB / 1 ))

seq_bench() { # TARGET FMT [-w]
  qemu-img bench -f "$2" -t none -c "$count" -d 4 -s 1M -S 1M ${3:-} "$1"
}
for mode in read write; do
  w=; [ $mode = write ] && w=-w
  a=(); b=()
  for _ in 1 2 3; do
    a+=("$(secs seq_bench "$nbd" raw $w)"); b+=("$(secs seq_bench "$T/disk.img" raw $w)")
  done
  ta=$(best "${a[@]}"); tb=$(best "${b[@]}")
  printf 'sequential %s %d MiB: NBD via device service %s MB/s, file directly %s MB/s, ratio %.0f%% (target >= 80%%)\n' \
    $mode "$MIB" "$(rate "$ta")" "$(rate "$tb")" "$(echo "100 * $tb / $ta" | bc -l)"
done

N=${BENCH_IOPS_COUNT:-20000}
rand_bench() { qemu-img bench -f raw -t none -c "$N" -d 16 -s 4k -S 1048583k "$1"; }
ta=$(best "$(secs rand_bench "$nbd")" "$(secs rand_bench "$nbd")")
tb=$(best "$(secs rand_bench "$T/disk.img")" "$(secs rand_bench "$T/disk.img")")
printf 'random 4 KiB reads, depth 16: NBD %.0f IOPS, file directly %.0f IOPS, ratio %.0f%%\n' \
  "$(echo "$N / $ta" | bc -l)" "$(echo "$N / $tb" | bc -l)" "$(echo "100 * $tb / $ta" | bc -l)"

[ "${BENCH_DEV_VM:-0}" = 1 ] || { echo "(VM part skipped: BENCH_DEV_VM=1 to run it)"; exit 0; }
. "$TOP/tests/support/vm-images.sh"
if [ -n "${REVM_DEV_IMAGES:-}" ]; then export REVM_IMAGES=$REVM_DEV_IMAGES
else build_vm_images "${REVM_FIXTURE:-small}" "$T/images" driver; export REVM_IMAGES=$T/images; fi
head -c "${MIB}M" /dev/urandom >"$T/nvme.img"
mkdir -p "$T/profiles"
cp "$BUILD/lib/revm/profiles/driver.ini" "$T/profiles/"
echo "emulated_disk = nvme:$T/nvme.img" >>"$T/profiles/driver.ini"
export REVM_PROFILES=$T/profiles
start_revmd
revm start driver >/dev/null 2>&1 || fail "driver VM did not start"
has() { revm devices 2>/dev/null | grep -q '^block nvme0n1 '; }
wait_for 120 has || fail "nvme0n1 not offered"
"$DEVICES" --vm driver --block "nvme0n1=$S/vm.sock" >"$T/vmdev.log" 2>&1 &
track_pid $!
wait_for 60 grep -q "device channel open" "$T/vmdev.log" || fail "device channel did not open"
vnbd="nbd+unix:///?socket=$S/vm.sock"
ta=$(secs qemu-img bench -f raw -t none -c "$count" -d 4 -s 1M -S 1M "$vnbd")
# The driver image has no dd: cat of the whole device (MIB MiB) to /dev/null inside the guest.
tb=$(secs revm --vm driver sh -c 'cat /dev/nvme0n1 >/dev/null')
printf 'driver VM NVMe, sequential read %d MiB: NBD %s MB/s, read inside the guest %s MB/s, ratio %.0f%% (target >= 80%%)\n' \
  "$MIB" "$(rate "$ta")" "$(rate "$tb")" "$(echo "100 * $tb / $ta" | bc -l)"
N=2000
ta=$(secs qemu-img bench -f raw -t none -c $N -d 16 -s 4k -S 1048583k "$vnbd")
printf 'driver VM NVMe, random 4 KiB reads depth 16 through NBD: %.0f IOPS\n' "$(echo "$N / $ta" | bc -l)"
