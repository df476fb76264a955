#!/usr/bin/env bash
# Bridge benchmarks with the guest daemon on the host (unix socket), release binaries:
#  - latency: `revm true` against spawning `true` locally (ratio);
#  - throughput: `revm cat` against raw `cat` over the same kind of socket: cat's stdin and
#    stdout ARE an accepted unix socket (socat ... EXEC:cat,nofork), fed and drained by a
#    client-side socat, the counterpart of revm; no daemon in between. Both from /dev/zero
#    into /dev/null. Target >= 80% of raw.
# Prints measurements and ratios only; nothing here asserts on time.
. "$(dirname "$0")/../lib.sh"

REVM=$BUILD/bin/revm
GUEST=$BUILD/lib/revm/revm-guestd
for b in "$REVM" "$GUEST"; do [ -x "$b" ] || skip "$b not built (make -C bridge all)"; done
RUNS=${BENCH_RUNS:-200}
MIB=${BENCH_MIB:-1024}

"$GUEST" --quiet --listen "unix:$T/g.sock" >"$T/guest.log" 2>&1 &
track_pid $!
wait_for 10 test -S "$T/g.sock" || fail "guest daemon did not start"
export REVM_SOCKET=$T/g.sock

now() { date +%s.%N; }
# best of N for throughput runs: the machine is shared, the best run is the least disturbed
best() { printf '%s\n' "$@" | sort -g | head -n 1; }

# --- latency ---
TRUE=$(type -P true)
t0=$(now); for _ in $(seq "$RUNS"); do "$TRUE"; done; t1=$(now)
local_us=$(echo "($t1 - $t0) * 1000000 / $RUNS" | bc)
t0=$(now); for _ in $(seq "$RUNS"); do "$REVM" true </dev/null; done; t1=$(now)
revm_us=$(echo "($t1 - $t0) * 1000000 / $RUNS" | bc)
printf 'latency: revm true %d us, local true %d us, ratio %.1fx (%d runs each)\n' \
  "$revm_us" "$local_us" "$(echo "$revm_us / $local_us" | bc -l)" "$RUNS"

# --- throughput ---
run_revm() { local t0 t1; t0=$(now)
  head -c "${MIB}M" /dev/zero | "$REVM" cat >/dev/null; t1=$(now); echo "$t1 - $t0" | bc; }
if command -v socat >/dev/null; then
  socat -b262144 "UNIX-LISTEN:$T/raw.sock,fork" EXEC:cat,nofork >/dev/null 2>&1 &
  track_pid $!
  wait_for 10 test -S "$T/raw.sock" || fail "socat did not start"
  run_raw() { local t0 t1; t0=$(now)
    head -c "${MIB}M" /dev/zero | socat -b262144 - "UNIX-CONNECT:$T/raw.sock" >/dev/null; t1=$(now); echo "$t1 - $t0" | bc; }
else
  echo "socat missing: raw baseline is a plain pipe through cat"
  run_raw() { local t0 t1; t0=$(now); head -c "${MIB}M" /dev/zero | cat >/dev/null; t1=$(now); echo "$t1 - $t0" | bc; }
fi
r=(); w=()
for _ in 1 2 3; do r+=("$(run_revm)"); w+=("$(run_raw)"); done
rs=$(best "${r[@]}"); ws=$(best "${w[@]}")
printf 'throughput: revm cat %.0f MiB/s, raw cat over a unix socket %.0f MiB/s, ratio %.0f%% (%d MiB, best of 3)\n' \
  "$(echo "$MIB / $rs" | bc -l)" "$(echo "$MIB / $ws" | bc -l)" "$(echo "100 * $ws / $rs" | bc -l)" "$MIB"
