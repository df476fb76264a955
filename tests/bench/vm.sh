#!/usr/bin/env bash
# VM benchmarks (`make bench`: boot, exec latency, and the bridge's throughput over a real virtio-serial
# port). One run, the three VMs built by mkimage from the Debian fixture (the small one when
# REVM_BENCH_FIXTURE=small), supervised by revmd; every figure has a baseline measured in the
# same run and is printed with its ratio. Nothing here asserts on time.
#
#  boot        for each variant (app, driver, filesystem): `revm start V` (QEMU start to the
#              bridge's hello) against a FLOOR: the same QEMU command line
#              (`revmd --print-qemu V`) with the same kernel booting an initramfs whose only
#              program powers the machine off at once (vm/poweroff.c), QEMU start to QEMU
#              exit. BOOTS pairs per variant, each a floor boot followed by a VM boot; the
#              ratio is the median of the pairs' ratios (the ratio of the two medians is
#              printed beside it). Target <= 1.25x. Then the phases of the last
#              boot on the guest's clock (kernel, initramfs, root mount to the guest daemon,
#              runit), to show which part is above the floor. The VMs boot one at a time.
#  latency     `revm true` through the supervisor, median of N, against qemu-guest-agent in the
#              same VM: guest-exec of /bin/true, guest-exec-status polled until it has exited.
#  throughput  `revm cat` of a 256 MiB guest file (tmpfs, random bytes) against raw
#              virtio-serial (`dd` of the same file into a port of its own, read on the host
#              from the port's chardev socket) and against qemu-guest-agent guest-file-read
#              (base64 over JSON). Target: revm >= 80% of raw.
#  daemon      revm-guestd's RSS in the VM when idle after boot and its peak after the runs,
#              and its stripped size.
#
# How the extra ports get there: revmd is started with `--qemu WRAPPER`, a two-line script
# that runs qemu-system-x86_64 with revmd's arguments plus two virtserialports on revmd's own
# virtio-serial bus, org.qemu.guest_agent.0 and org.redox.raw.0, each with a chardev socket
# (server=on) in a private directory; the script is the only client of those sockets
# (vm/agent.py). So all three transports cross the same virtio-serial device of the same VM,
# and `revm` goes the production way (client -> revmd -> QEMU chardev -> guest daemon).
# The agent is started in the guest through the bridge (`revm sh -c 'qemu-ga --daemonize
# ...'`, on /dev/vportNpM found by name: the fixture has no udev for /dev/virtio-ports/).
#
# Env: REVM_BENCH_FIXTURE (debian), BENCH_VM_RUNS (latency runs, 20), BENCH_VM_MIB (256),
# BENCH_VM_BOOTS (5 floor-then-VM pairs per variant, medians),
# BENCH_VM_VARIANTS (boot: app driver filesystem), BENCH_VM_BOOT_ONLY=1 (the boot figures
# alone: no latency, throughput or footprint runs).
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/support/vm-images.sh"

RUNS=${BENCH_VM_RUNS:-20}
MIB=${BENCH_VM_MIB:-256}
BOOTS=${BENCH_VM_BOOTS:-5}
fixture=${REVM_BENCH_FIXTURE:-debian}
variants=${BENCH_VM_VARIANTS:-app driver filesystem}
boot_only=${BENCH_VM_BOOT_ONLY:-}
QEMU=qemu-system-x86_64
HERE=$TOP/tests/bench/vm

for b in "$BUILD/bin/revm" "$BUILD/bin/revmd" "$BUILD/bin/mkimage" "$BUILD/lib/revm/revm-guestd"; do
  [ -x "$b" ] || skip "$b not built (make)"
done
for c in "$QEMU" musl-gcc cpio python3 strip; do
  command -v "$c" >/dev/null || skip "$c not installed"
done

now_ns() { date +%s%N; }
secs() { echo "scale=3; $1 / 1000000000" | bc; }        # ns -> s
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { printf "%.0f\n", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
best() { printf '%s\n' "$@" | sort -g | head -n 1; }      # the least disturbed run on a shared machine
ratio() { echo "scale=4; $1 / $2" | bc; }

# --- images, floor initramfs, QEMU wrapper -------------------------------------------------
# The app VM also carries the latency, throughput and footprint runs.
[ -n "$boot_only" ] || case " $variants " in *" app "*) ;; *) variants="$variants app" ;; esac
# shellcheck disable=SC2086 # a list of variant names
build_vm_images "$fixture" "$T/images" $variants >"$T/mkimage.log" 2>&1 || { cat "$T/mkimage.log" >&2; fail "mkimage ($fixture fixture) failed"; }
export REVM_IMAGES=$T/images

musl-gcc -static -Os -o "$T/init" "$HERE/poweroff.c" || fail "cannot build the floor's init"
mkdir -p "$T/floor-root"
cp "$T/init" "$T/floor-root/init"
(cd "$T/floor-root" && echo init | cpio -o -H newc --quiet) >"$T/floor.cpio"

short_tmpdir S # unix socket paths must stay short
chmod 700 "$S"
export REVM_STATE_DIR=$S/st
mkdir -m 700 "$S/floor"
# The virtio-serial bus revmd puts its bridge port on, from its own command line.
vser=$(REVM_STATE_DIR=$S/floor revmd --print-qemu app | sed -n 's/^virtio-serial-pci,id=\([^,]*\).*/\1/p')
[ -n "$vser" ] || fail "revmd --print-qemu app: no virtio-serial-pci device"
cat >"$T/qemu" <<EOF
#!/bin/sh
# revmd's QEMU plus two ports for the bench (only for VM launches, not for accelerator probes).
case " \$* " in
*" virtio-serial-pci,id=$vser"*)
  exec $QEMU "\$@" \\
    -chardev socket,id=bench-qga,path=$S/qga.sock,server=on,wait=off \\
    -device virtserialport,bus=$vser.0,chardev=bench-qga,name=org.qemu.guest_agent.0 \\
    -chardev socket,id=bench-raw,path=$S/raw.sock,server=on,wait=off \\
    -device virtserialport,bus=$vser.0,chardev=bench-raw,name=org.redox.raw.0 ;;
esac
exec $QEMU "\$@"
EOF
chmod +x "$T/qemu"

# --- boot, per variant: floor, then the VM to bridge-ready -----------------------------------
# floor_args V: qargs[] = V's command line (sockets under a scratch state dir), through the same
# wrapper, with only -initrd and -append replaced.
floor_args() {
  mapfile -t qargs < <(REVM_STATE_DIR=$S/floor revmd --qemu "$T/qemu" --print-qemu "$1")
  [ -d "$S/floor/$1" ] || mkdir -m 700 "$S/floor/$1"
  qargs[0]=$T/qemu
  local i
  for i in "${!qargs[@]}"; do
    case "${qargs[$i]}" in
      -initrd) qargs[i + 1]=$T/floor.cpio ;;
      -append) qargs[i + 1]="console=ttyS0 quiet" ;;
    esac
  done
}
# run_floor V: one floor boot of V's command line; its QEMU start-to-exit time (ns) is
# appended to floor[V] (a space-separated list).
declare -A floor=() boots=() last_ns=() phases=() accel=() load=() qpid=()
run_floor() {
  local v=$1 t0 t1 qp
  floor_args "$v"
  rm -f "$S"/*.sock "$S/floor/$v/"*.sock "$S/floor/$v/console.log"
  t0=$(now_ns)
  # A floor that never powers off is a broken floor, not a slow one: give up after 5 minutes.
  timeout 300 "${qargs[@]}" >>"$T/floor.log" 2>&1 &
  qp=$!
  track_pid $qp
  wait $qp || { cat "$T/floor.log" >&2; fail "floor QEMU ($v) failed or did not power off"; }
  t1=$(now_ns)
  grep -q "reboot: Power down" "$S/floor/$v/console.log" || fail "floor VM ($v) did not power down"
  floor[$v]+=" $((t1 - t0))"
  rm -f "$S"/*.sock
}

# boot_start V: BOOTS pairs of one floor boot and one `revm start V` (timed, appended to
# boots[V]), and where the last boot went; the VM stays up after it. The machine is shared and
# TCG's speed follows its load, which drifts by seconds over a minute: each VM boot runs right
# after its floor boot, so a slow spell hits both sides of a pair alike (the machine here
# switches between two speeds about 1.5x apart: identical floor boots take 4.9 s or 7.1 s),
# and the median of the pairs' ratios drops a pair the switch fell between.
boot_start() {
  local v=$1 t0 t1 qp b
  load[$v]=$(cut -d' ' -f1 /proc/loadavg)
  for b in $(seq "$BOOTS"); do
    [ "$b" -eq 1 ] || stop_vm "$v"
    run_floor "$v"
    t0=$(now_ns)
    revm start "$v" >"$T/start.log" 2>&1 || { cat "$T/start.log" "$T/revmd.log" >&2; fail "revm start $v failed"; }
    t1=$(now_ns)
    boots[$v]+=" $((t1 - t0))"
    qp=$(qemu_pid_of "$v")
    [ -n "$qp" ] && track_pid "$qp"
    qpid[$v]=$qp
  done
  last_ns[$v]=$((t1 - t0))
  accel[$v]=$(revm status "$v" | sed -n 's/.*accel=\([^ ]*\).*/\1/p')
  # Where the boot goes, on the guest's clock (seconds since the kernel started): the kernel's
  # own log for /init and the root mount, process start times (clock ticks, USER_HZ) of runit's
  # stage 2 (runsvdir) and the guest daemon (the first one: runit's service may adopt an
  # instance started earlier), and the clock when the first request after ready runs. Only
  # sh, cat, sed and dmesg: the driver and filesystem images have little else.
  # shellcheck disable=SC2016 # expanded by the guest shell
  phases[$v]=$(revm --vm "$v" sh -c 'read -r up _ </proc/uptime
    klog() { dmesg | sed -n "s|^\[ *\([0-9.]*\)\] $1.*|\1|p" | sed -n 1p; }
    started() { first=; for p in /proc/[0-9]*; do read -r c <"$p/comm" 2>/dev/null || continue
      [ "$c" = "$1" ] || continue; read -r st <"$p/stat" || continue; set -- "$1" ${st##*) }
      [ -z "$first" ] || [ "${21}" -lt "$first" ] && first=${21}; done; echo "${first:-0}"; }
    echo "$(klog "Run /init as init process") $(klog "BTRFS info (device [^)]*): first mount") $(started runsvdir) $(started revm-guestd) $up"' 2>/dev/null) || phases[$v]=
}

# stop_vm V: a clean power-down, and its QEMU gone, so what runs next has the machine to itself.
stop_vm() {
  timeout 120 revm stop "$1" >/dev/null 2>&1 || fail "revm stop $1 failed"
  [ -z "${qpid[$1]}" ] || wait_for 60 sh -c "! kill -0 ${qpid[$1]} 2>/dev/null" || fail "the $1 VM did not stop"
}
# pair_ratio V: the median of V's pairs' ratios (VM boot / its floor boot).
pair_ratio() {
  local -a f b
  read -ra f <<<"${floor[$1]}"
  read -ra b <<<"${boots[$1]}"
  local i
  for i in "${!b[@]}"; do echo "scale=4; ${b[$i]} / ${f[$i]}" | bc; done | sort -g |
    awk '{ a[NR] = $1 } END { printf "%.4f\n", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# runs_s NS...: the runs in seconds, in the order they ran.
runs_s() { local x out=; for x in "$@"; do out+=" $(printf '%.2f' "$(secs "$x")")"; done; echo "${out# }"; }
# boot_finish V: stops V (a clean power-down) and prints V's lines.
boot_lines=
boot_finish() {
  local v=$1 f m
  stop_vm "$v"
  # shellcheck disable=SC2086 # lists of numbers
  { f=$(median ${floor[$v]}); m=$(median ${boots[$v]}); }
  # shellcheck disable=SC2086 # lists of numbers
  boot_lines+=$(printf 'vm boot %s: ratio %.2fx (target <= 1.25x; median of %d pairs, each a floor boot then revm start %s); medians: revm start %s (to bridge ready) %.2f s, floor (same QEMU+kernel, init powers off) %.2f s, their ratio %.2fx; runs (VM: %s; floor: %s) [%s fixture, accel %s, host load %s]' \
    "$v" "$(pair_ratio "$v")" "$BOOTS" "$v" "$v" "$(secs "$m")" "$(secs "$f")" "$(ratio "$m" "$f")" "$(runs_s ${boots[$v]})" "$(runs_s ${floor[$v]})" \
    "$fixture" "${accel[$v]}" "${load[$v]}")$'\n'
  # shellcheck disable=SC2086 # five numbers
  set -- ${phases[$v]}
  if [ $# -eq 5 ]; then
    local init=$1 root=$2 sv gd up=$5
    sv=$(echo "scale=2; $3 / 100" | bc); gd=$(echo "scale=2; $4 / 100" | bc)
    # runit's stage 1 runs beside the daemon the init starts early: at ready it may still run.
    local stage1="still running at ready"
    [ "$3" -eq 0 ] || stage1=$(printf '%.2f' "$(echo "$sv - $root" | bc)")
    boot_lines+=$(printf 'vm boot %s phases of the last boot (%.2f s; guest clock, s): QEMU start to kernel start (firmware, the kernel decompressing itself) %.2f (boot time minus uptime at ready), kernel to /init %.2f, initramfs (modules, root mount) %.2f, root mount to guest daemon %.2f, daemon to ready (first request) %.2f; runit stage 1 (root mount to runsvdir) %s' \
      "$v" "$(secs "${last_ns[$v]}")" "$(echo "$(secs "${last_ns[$v]}") - $up" | bc)" "$init" "$(echo "$root - $init" | bc)" "$(echo "$gd - $root" | bc)" \
      "$(echo "$up - $gd" | bc)" "$stage1")$'\n'
  else
    boot_lines+="vm boot $v phases: not available (the guest lacks dmesg or sed)"$'\n'
  fi
}

start_revmd --qemu "$T/qemu"
for v in $variants; do
  [ "$v" = app ] && continue
  boot_start "$v"
  boot_finish "$v"
done
# The app VM goes last and stays up for the latency, throughput and footprint runs.
case " $variants " in *" app "*) boot_start app ;; esac

if [ -z "$boot_only" ]; then
# --- guest daemon footprint (idle: right after boot, before any load) ------------------------
# Shell snippets run in the guest. proc_status NAME FIELD: FIELD (kB) of the process named NAME.
# shellcheck disable=SC2016 # expanded by the guest shell
proc_status='proc_status() { for p in /proc/[0-9]*; do [ "$(cat "$p/comm" 2>/dev/null)" = "$1" ] && sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "$p/status" && return; done; }'
# port_dev NAME: the /dev/vportNpM of the virtio-serial port called NAME.
# shellcheck disable=SC2016 # expanded by the guest shell
port_dev='port_dev() { for n in /sys/class/virtio-ports/*/name; do [ "$(cat "$n")" = "$1" ] && { d=${n%/name}; echo "/dev/${d##*/}"; return; }; done; }'
idle_kb=$(revm sh -c "$proc_status; proc_status revm-guestd VmRSS")
strip -o "$T/guestd.stripped" "$BUILD/lib/revm/revm-guestd"
size_b=$(stat -c %s "$T/guestd.stripped")

# --- latency ------------------------------------------------------------------------------------
has_qga=$(revm sh -c 'command -v qemu-ga >/dev/null && echo yes || echo no')
if [ "$has_qga" = yes ]; then
  qdev=$(revm sh -c "$port_dev; port_dev org.qemu.guest_agent.0")
  [ -n "$qdev" ] || fail "the guest has no org.qemu.guest_agent.0 port"
  revm sh -c "qemu-ga --daemonize -m virtio-serial -p $qdev" </dev/null >"$T/qga.log" 2>&1 ||
    { cat "$T/qga.log" >&2; fail "qemu-guest-agent did not start in the guest"; }
fi
# Two halves each, alternating, so a change in the machine's load hits both sides alike.
lat=(); qlat=()
for _ in 1 2; do
  for _ in $(seq $(( RUNS / 2 ))); do
    t0=$(now_ns)
    revm true </dev/null || fail "revm true failed"
    t1=$(now_ns)
    lat+=("$(( (t1 - t0) / 1000 ))")
  done
  if [ "$has_qga" = yes ]; then
    mapfile -t -O "${#qlat[@]}" qlat < <(timeout 120 python3 "$HERE/agent.py" exec "$S/qga.sock" $(( RUNS / 2 )))
  fi
done
revm_us=$(median "${lat[@]}")
# Context, not a baseline: what starting /bin/true costs inside this guest (fork+exec from a
# shell), the part of either round trip no transport can remove.
guest_us=$(revm sh -c "a=\$(date +%s%N); i=0; while [ \$i -lt $RUNS ]; do /bin/true; i=\$((i + 1)); done; b=\$(date +%s%N); echo \$(( (b - a) / $RUNS / 1000 ))")

if [ "$has_qga" = yes ]; then
  [ "${#qlat[@]}" -eq $(( RUNS / 2 * 2 )) ] || fail "qemu-guest-agent exec failed"
  qga_us=$(median "${qlat[@]}")
  printf 'vm latency: revm true %.1f ms, qemu-guest-agent guest-exec+status %.1f ms (median of %d each, alternating halves), ratio %.2fx (below 1 = revm faster); in-guest fork+exec of /bin/true %.1f ms\n' \
    "$(echo "$revm_us / 1000" | bc -l)" "$(echo "$qga_us / 1000" | bc -l)" "${#lat[@]}" "$(ratio "$revm_us" "$qga_us")" "$(echo "$guest_us / 1000" | bc -l)"
else
  printf 'vm latency: revm true %.1f ms (median of %d); qemu-guest-agent: not in the %s image, no baseline; in-guest fork+exec of /bin/true %.1f ms\n' \
    "$(echo "$revm_us / 1000" | bc -l)" "${#lat[@]}" "$fixture" "$(echo "$guest_us / 1000" | bc -l)"
fi

# --- throughput ---------------------------------------------------------------------------------
bytes=$((MIB * 1024 * 1024))
big=/tmp/revm-bench.bin
revm sh -c "dd if=/dev/urandom of=$big bs=1M count=$MIB 2>/dev/null && test \$(wc -c <$big) -eq $bytes" ||
  fail "cannot create the $MIB MiB guest file"
rdev=$(revm sh -c "$port_dev; port_dev org.redox.raw.0")
[ -n "$rdev" ] || fail "the guest has no org.redox.raw.0 port"

run_revm() {
  local t0 t1 n
  t0=$(now_ns)
  n=$(revm cat "$big" </dev/null | wc -c)
  t1=$(now_ns)
  [ "$n" -eq "$bytes" ] || fail "revm cat returned $n bytes, not $bytes"
  secs $((t1 - t0))
}
# run_raw GUEST-COMMAND: seconds until the host has read $bytes from the raw port.
run_raw() {
  local out
  out=$(timeout 300 python3 "$HERE/agent.py" raw "$S/raw.sock" "$bytes" revm sh -c "$1") ||
    fail "raw virtio-serial run failed"
  [ "${out% *}" -eq "$bytes" ] || fail "raw virtio-serial delivered ${out% *} bytes, not $bytes"
  echo "${out#* }"
}
# Baselines: the issue's raw port (dd reads the file and writes the port itself) and, to tell
# the bridge's own cost from the pipe every exec'd program writes into, the same bytes through
# a pipe first (cat | dd into the port: the guest-side path of `revm cat` without the bridge).
r=(); w=(); p=()
for _ in 1 2 3; do
  r+=("$(run_revm)")
  w+=("$(run_raw "dd if=$big of=$rdev bs=1M 2>/dev/null")")
  p+=("$(run_raw "cat $big | dd of=$rdev bs=1M 2>/dev/null")")
done
rs=$(best "${r[@]}"); ws=$(best "${w[@]}"); pp=$(best "${p[@]}")
line=$(printf 'vm throughput (%d MiB guest file, best of 3): revm cat %.1f MiB/s, raw virtio-serial (dd into a port) %.1f MiB/s, revm/raw %.0f%% (target >= 80%%); raw through a guest pipe (cat | dd into the port) %.1f MiB/s, revm/that %.0f%%' \
  "$MIB" "$(echo "$MIB / $rs" | bc -l)" "$(echo "$MIB / $ws" | bc -l)" "$(echo "100 * $ws / $rs" | bc -l)" \
  "$(echo "$MIB / $pp" | bc -l)" "$(echo "100 * $pp / $rs" | bc -l)")
if [ "$has_qga" = yes ]; then
  out=$(timeout 600 python3 "$HERE/agent.py" read "$S/qga.sock" "$big") || fail "qemu-guest-agent file read failed"
  [ "${out% *}" -eq "$bytes" ] || fail "qemu-guest-agent read ${out% *} bytes, not $bytes"
  qs=${out#* }
  line+=$(printf ', qemu-guest-agent guest-file-read %.1f MiB/s (1 run), revm/agent %.1fx' \
    "$(echo "$MIB / $qs" | bc -l)" "$(ratio "$qs" "$rs")")
fi
echo "$line"

# --- daemon footprint, printed last with its peak after the load --------------------------------
peak_kb=$(revm sh -c "$proc_status; proc_status revm-guestd VmHWM")
qga_kb=
[ "$has_qga" = yes ] && qga_kb=$(revm sh -c "$proc_status; proc_status qemu-ga VmRSS")
printf 'vm guest daemon: revm-guestd idle RSS %s KiB (aim < 2048), peak RSS after the runs %s KiB, stripped size %d KiB (aim < 300)%s\n' \
  "$idle_kb" "$peak_kb" "$((size_b / 1024))" "${qga_kb:+; qemu-ga RSS $qga_kb KiB}"

revm sh -c "rm -f $big" || true

fi # boot_only

# --- boot, printed last: the rest of the app's floor runs need the app VM stopped -------------
case " $variants " in *" app "*) boot_finish app ;; esac
printf '%s' "$boot_lines"
