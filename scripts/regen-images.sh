#!/usr/bin/env bash
# Regenerates revm's VM images outside the cookbook, with exactly the mkimage invocation
# the revm-image-* recipes use (both take it from scripts/mkimage-args.sh).
# Incremental: a variant is rebuilt only when the digest over its inputs (rootfs,
# checksum list, signature, key, kernel, guest daemon, mkimage and its data files,
# size, filesystem) differs from the one recorded beside its image; otherwise it is
# skipped and the table says so. Ends with a summary table read from mkimage's
# VARIANT.report.json: variant, status, files, staged size, qcow2 size, checksum, time.
# Usage: scripts/regen-images.sh [--out DIR] [--force] [VARIANT...]
#   VARIANT   driver, filesystem, app (default: all three)
#   --out     where VARIANT.{qcow2,vmlinuz,initramfs,report.json} go ($BUILD/images)
#   --force   rebuild even when the inputs did not change
# Inputs and overrides (REVM_ROOTFS_URL, REVM_KERNEL, REVM_CACHE, COOKBOOK_OFFLINE, ...)
# are described in scripts/mkimage-args.sh; REVM_MKIMAGE and REVM_BRIDGE default to
# $BUILD/bin/mkimage and $BUILD/lib/revm/revm-guestd (run `make` first).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$(cd "$here/.." && pwd)/build}
# shellcheck source=scripts/mkimage-args.sh
. "$here/mkimage-args.sh"

out=$BUILD/images force='' variants=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --force) force=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "regen-images: $1: unknown option" >&2; exit 2 ;;
    driver | filesystem | app) variants+=("$1"); shift ;;
    *) echo "regen-images: $1: not a variant (driver, filesystem, app)" >&2; exit 2 ;;
  esac
done
[ ${#variants[@]} -gt 0 ] || variants=(driver filesystem app)

mkimage=${REVM_MKIMAGE:-$BUILD/bin/mkimage}
bridge=${REVM_BRIDGE:-$BUILD/lib/revm/revm-guestd}
[ -x "$mkimage" ] || { echo "regen-images: $mkimage: not built (run make, or set REVM_MKIMAGE)" >&2; exit 1; }
[ -f "$bridge" ] || { echo "regen-images: $bridge: not built (run make, or set REVM_BRIDGE)" >&2; exit 1; }

revm_images_resolve
revm_offline_check
revm_kernel_fetch

mkdir -p "$out"
out=$(cd "$out" && pwd)
exec 9>"$out/.regen.lock"
flock 9

declare -A status=() secs=()
for v in "${variants[@]}"; do
  revm_image_inputs_digest "$v" "$mkimage" "$bridge"
  digest=$REVM_INPUTS_DIGEST
  if [ -z "$force" ] && [ "$(cat "$out/$v.inputs" 2>/dev/null)" = "$digest" ] &&
    [ -f "$out/$v.qcow2" ] && [ -f "$out/$v.vmlinuz" ] && [ -f "$out/$v.initramfs" ] &&
    [ -f "$out/$v.report.json" ]; then
    echo "regen-images: $v: inputs unchanged (${digest:0:16}), nothing to do"
    status[$v]=unchanged
    continue
  fi
  tmp=$out/.$v.tmp
  rm -rf "$tmp"
  revm_mkimage_args "$v" "$tmp" "$bridge"
  start=$(date +%s.%N)
  if ! "$mkimage" "${MKIMAGE_ARGS[@]}" >"$out/.$v.log" 2>&1; then
    cat "$out/.$v.log" >&2
    rm -rf "$tmp"
    echo "regen-images: $v: mkimage failed" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  # Outputs replace the old ones only once all of them exist; the digest comes last,
  # so an interrupted run is rebuilt next time.
  rm -f "$out/$v.inputs"
  for f in qcow2 vmlinuz initramfs report.json; do mv -f "$tmp/$v.$f" "$out/$v.$f"; done
  rm -rf "$tmp" "$out/.$v.log"
  echo "$digest" > "$out/$v.inputs"
  status[$v]=built
  secs[$v]=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
done

printf '%-11s %-9s %7s %10s %10s  %-16s %8s\n' variant status files staged qcow2 "qcow2 sha256" seconds
for v in "${variants[@]}"; do
  python3 - "$out/$v.report.json" "$v" "${status[$v]}" "${secs[$v]:--}" <<'EOF'
import json, sys
path, v, status, secs = sys.argv[1:]
r = json.load(open(path))
mib = lambda n: f"{n / 1048576:.1f} MiB"
print(f"{v:<11} {status:<9} {r['files']:>7} {mib(r['staged_bytes']):>10} {mib(r['qcow2_bytes']):>10}  "
      f"{r['qcow2_sha256'][:16]:<16} {secs:>8}")
EOF
done
