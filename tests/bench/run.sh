#!/usr/bin/env bash
# Runs every benchmark script in tests/bench/ (other than this one) in name order.
# Each prints its own measurements and ratios against a baseline measured in the same
# run; nothing here asserts on time. Usage: tests/bench/run.sh [PATTERN]
set -uo pipefail
cd "$(dirname "$0")/../.."
export TOP=$PWD BUILD=${BUILD:-$PWD/build}
rc=0
for b in tests/bench/*.sh; do
  [ "$(basename "$b")" = run.sh ] && continue
  case "$b" in *"${1:-}"*) ;; *) continue ;; esac
  echo "== $(basename "$b" .sh)"
  bash "$b" || { echo "bench $(basename "$b" .sh) failed (exit $?)"; rc=1; }
done
exit $rc
