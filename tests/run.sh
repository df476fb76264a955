#!/usr/bin/env bash
# Runs every test suite and prints one PASS/FAIL/SKIP line per suite, then
# "N passed, N failed, N skipped". A suite is a component's unit tests, its fuzz
# smoke run, or one script under tests/integration or tests/e2e (run in name order,
# so fixtures and images built by an earlier script are reused by later ones).
# Exit status of a script: 0 pass, 77 skip, anything else fail.
# Usage: tests/run.sh [PATTERN]   (only suites whose name contains PATTERN)
set -uo pipefail
cd "$(dirname "$0")/.."
export TOP=$PWD BUILD=${BUILD:-$PWD/build}
logs=$BUILD/test-logs
mkdir -p "$logs"
pattern=${1:-}

# Fixtures (rootfs tarballs, test kernel) first: unit tests of the kernel code use the test
# kernel too, and no script should find them missing. Idempotent.
suites=("fixtures-build|scripts/fixtures/build-all.sh")
for c in mkimage bridge; do
  [ -f "$c/Makefile" ] || continue
  suites+=("$c-unit|make --no-print-directory -C $c unit")
  suites+=("$c-fuzz-smoke|make --no-print-directory -C $c fuzz-smoke")
done
for s in tests/integration/*.sh tests/e2e/*.sh; do
  [ -f "$s" ] && suites+=("$(basename "${s%.sh}")|$s")
done

passed=0 failed=0 skipped=0
for entry in "${suites[@]}"; do
  name=${entry%%|*} cmd=${entry#*|}
  case "$name" in *"$pattern"*) ;; *) continue ;; esac
  start=$(date +%s)
  bash -c "$cmd" >"$logs/$name.log" 2>&1 </dev/null
  rc=$?
  secs=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1)); echo "PASS $name (${secs}s)"
  elif [ $rc -eq 77 ]; then
    skipped=$((skipped + 1)); echo "SKIP $name: $(tail -n 1 "$logs/$name.log")"
  else
    failed=$((failed + 1)); echo "FAIL $name (exit $rc, ${secs}s); last lines of $logs/$name.log:"
    tail -n 40 "$logs/$name.log" | sed 's/^/    /'
  fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
