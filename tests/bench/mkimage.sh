#!/usr/bin/env bash
# Benchmark: mkimage building all three variants from the large (Debian) fixture,
# against the naive pipeline (per variant: tar x, mkfs.btrfs --rootdir, qemu-img
# convert) and the floor (decompressing the tarball to /dev/null), all measured in
# this run. Prints the median wall time of BENCH_RUNS runs (default 3; the slow
# naive pipeline BENCH_NAIVE_RUNS, default 1, to stay within about 3 minutes) and
# the CPU time (user+sys, children included) of the median run, then the ratios
# mkimage/floor (target <= 2) and naive/mkimage (target >= 2). The machine may be
# shared, so CPU time is the steadier figure. Nothing here asserts on time.
. "$(dirname "$0")/../lib.sh"

runs=${BENCH_RUNS:-3}
naive_runs=${BENCH_NAIVE_RUNS:-1}
tarball=$FIXTURES/debian/void-x86_64-musl-ROOTFS-debian.tar.xz
sums=$FIXTURES/debian/sha256sum.txt
kernel=$FIXTURES/kernel/tree
variants=(driver filesystem app)

if [ ! -f "$tarball" ]; then
  echo "mkimage bench: skipped: no Debian fixture ($tarball); run scripts/fixtures/build-all.sh debian"
  exit 0
fi
for tool in xz tar mkfs.btrfs qemu-img; do
  command -v "$tool" >/dev/null || { echo "mkimage bench: skipped: $tool not installed"; exit 0; }
done

# measure NAME CMD...: runs CMD, appends "wall cpu" (seconds) to $T/NAME.times.
measure() {
  local name=$1; shift
  local out=$T/$name.time
  /usr/bin/time -f '%e %U %S' -o "$out" "$@" >/dev/null 2>"$T/$name.err" || {
    echo "mkimage bench: $name failed:" >&2; tail -n 5 "$T/$name.err" >&2; return 1; }
  awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$out" >>"$T/$name.times"
}

# median NAME: prints "wall cpu" of the run with the median wall time.
median() {
  sort -n "$T/$1.times" | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'
}

floor_run() { xz -dc "$tarball" >/dev/null; }

# The naive pipeline: every variant extracts the tarball again, formats a raw image
# next to it and converts it. As non-root, tar and mkfs share one fakeroot session
# so owners and device nodes survive (what mkimage does too).
naive_run() {
  local dir=$T/naive v
  rm -rf "$dir"
  mkdir -p "$dir"
  for v in "${variants[@]}"; do
    mkdir "$dir/$v"
    tar -xJf "$tarball" --xattrs --xattrs-include='*' --numeric-owner -C "$dir/$v"
    truncate -s 5G "$dir/$v.raw"
    mkfs.btrfs -q -f --rootdir "$dir/$v" "$dir/$v.raw" >/dev/null 2>&1
    qemu-img convert -f raw -O qcow2 "$dir/$v.raw" "$dir/$v.qcow2"
    rm -rf "${dir:?}/$v" "$dir/$v.raw"
  done
}
export -f naive_run
export tarball T
naive_cmd=(bash -c "variants=(${variants[*]}); $(declare -f naive_run); naive_run")
[ "$(id -u)" -eq 0 ] || naive_cmd=(fakeroot -- "${naive_cmd[@]}")

sha=$(awk '{ print $NF }' "$sums")
mkimage_run() {
  rm -rf "$T/mk"
  mkdir -p "$T/mk/out" "$T/mk/cache"
  # Default scratch location: what a user gets.
  "$BUILD/bin/mkimage" --variant all --rootfs "$tarball" --sha256 "$sha" --kernel "$kernel" \
    --cache "$T/mk/cache" --out "$T/mk/out" --quiet
}

# Informative: the same with the staged trees on tmpfs (--work under /dev/shm).
mkimage_shm_run() {
  local w
  rm -rf "$T/mks"
  mkdir -p "$T/mks/out" "$T/mks/cache"
  w=$(mktemp -d /dev/shm/revm-bench.XXXXXX)
  "$BUILD/bin/mkimage" --variant all --rootfs "$tarball" --sha256 "$sha" --kernel "$kernel" \
    --work "$w" --cache "$T/mks/cache" --out "$T/mks/out" --quiet
  local rc=$?
  rm -rf "$w"
  return $rc
}

have_mkimage=1
if [ ! -x "$BUILD/bin/mkimage" ]; then
  have_mkimage=0
  echo "mkimage bench: mkimage not built yet ($BUILD/bin/mkimage): measuring the baselines only"
elif [ ! -d "$kernel" ]; then
  have_mkimage=0
  echo "mkimage bench: no kernel fixture ($kernel): measuring the baselines only"
fi

echo "mkimage bench: fixture $(basename "$tarball"), $(xz -l --robot "$tarball" | awk '$1 == "totals" { printf "%.1f MiB", $5 / 1048576 }') uncompressed, $runs runs each ($naive_runs for naive)"
for i in $(seq "$runs"); do
  measure floor bash -c "$(declare -f floor_run); tarball='$tarball' floor_run"
  [ "$i" -gt "$naive_runs" ] || measure naive "${naive_cmd[@]}"
  if [ $have_mkimage -eq 1 ]; then
    measure mkimage bash -c "$(declare -f mkimage_run); T='$T' BUILD='$BUILD' tarball='$tarball' sha='$sha' kernel='$kernel' mkimage_run"
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then
      measure mkimage_shm bash -c "$(declare -f mkimage_shm_run); T='$T' BUILD='$BUILD' tarball='$tarball' sha='$sha' kernel='$kernel' mkimage_shm_run"
    fi
  fi
done

read -r floor_wall floor_cpu < <(median floor)
read -r naive_wall naive_cpu < <(median naive)
printf 'floor   (xz -dc > /dev/null)          wall %7.2f s   cpu %7.2f s\n' "$floor_wall" "$floor_cpu"
printf 'naive   (3x tar x, mkfs, qemu-img)    wall %7.2f s   cpu %7.2f s\n' "$naive_wall" "$naive_cpu"
if [ $have_mkimage -eq 1 ]; then
  read -r mk_wall mk_cpu < <(median mkimage)
  printf 'mkimage (--variant all)               wall %7.2f s   cpu %7.2f s\n' "$mk_wall" "$mk_cpu"
  awk -v m="$mk_wall" -v f="$floor_wall" -v n="$naive_wall" -v mc="$mk_cpu" -v fc="$floor_cpu" -v nc="$naive_cpu" 'BEGIN {
    printf "ratio mkimage/floor  wall %5.2f  cpu %5.2f   (target <= 2.00)\n", m / f, mc / fc
    printf "ratio naive/mkimage  wall %5.2f  cpu %5.2f   (target >= 2.00)\n", n / m, nc / mc }'
  if [ -s "$T/mkimage_shm.times" ]; then
    read -r ms_wall ms_cpu < <(median mkimage_shm)
    printf 'info: mkimage --work on /dev/shm        wall %7.2f s   cpu %7.2f s\n' "$ms_wall" "$ms_cpu"
    awk -v m="$ms_wall" -v f="$floor_wall" -v n="$naive_wall" -v mc="$ms_cpu" -v fc="$floor_cpu" -v nc="$naive_cpu" 'BEGIN {
      printf "info: with --work on /dev/shm: mkimage/floor wall %5.2f cpu %5.2f, naive/mkimage wall %5.2f cpu %5.2f\n", m / f, mc / fc, n / m, nc / mc }'
  fi
else
  awk -v f="$floor_wall" -v n="$naive_wall" 'BEGIN { printf "ratio naive/floor   wall %5.2f\n", n / f }'
fi
