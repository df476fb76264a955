#!/usr/bin/env bash
# VM lifecycle on real VMs (QEMU, TCG here), images built by mkimage from the fixtures:
# - revm start app; revm ls /usr/bin prints exactly the tarball's usr/bin names
# - revm stop app powers down; btrfs check of the image is clean; a second boot works
# - driver and filesystem VMs boot to bridge-ready
# - QEMU killed with SIGKILL: reported, restarted when the profile says so, clients get a
#   clear error and no hang
# - two concurrent `revm start app` start one VM; a second supervisor refuses
# - two concurrent restarts share one restart; a start while stopping is refused
# - revm list, logs and console
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/support/vm-images.sh"
fixture=${REVM_FIXTURE:-small}

build_vm_images "$fixture" "$T/images"
export REVM_IMAGES=$T/images
start_revmd

# Two starts at once: one VM.
revm start app >"$T/start1.log" 2>&1 & s1=$!
revm start app >"$T/start2.log" 2>&1 & s2=$!
track_pid $s1; track_pid $s2
wait $s1 || { cat "$T/start1.log" "$T/revmd.log"; fail "first revm start app failed"; }
wait $s2 || { cat "$T/start2.log"; fail "second revm start app failed"; }
[ "$(grep -c 'VM app: starting' "$T/revmd.log")" -eq 1 ] || fail "two starts started $(grep -c 'VM app: starting' "$T/revmd.log") VMs"
ok "two concurrent starts started one VM: $(cat "$T/start1.log" | tail -n 1)"

# A second supervisor on the same state refuses.
if revmd >"$T/revmd2.log" 2>&1; then fail "a second revmd ran"; fi
grep -q "another revmd" "$T/revmd2.log" || { cat "$T/revmd2.log"; fail "second revmd: unclear refusal"; }
ok "second supervisor refused: $(head -n 1 "$T/revmd2.log")"

# revm ls /usr/bin == the tarball's usr/bin.
tarball=$(ls "$FIXTURES/$fixture"/*.tar.xz | head -n 1)
tar -tJf "$tarball" | sed -n 's|^\./||; s|^usr/bin/\([^/][^/]*\)/\{0,1\}$|\1|p' | LC_ALL=C sort -u >"$T/want"
revm ls /usr/bin | LC_ALL=C sort >"$T/got"
diff "$T/want" "$T/got" || fail "revm ls /usr/bin differs from the tarball"
ok "revm ls /usr/bin prints the tarball's $(wc -l <"$T/want") names"

revm status app | tee "$T/status"
grep -q 'state=ready' "$T/status" && grep -q 'accel=' "$T/status" && grep -q 'bridge="revm-guestd' "$T/status" ||
  fail "revm status lacks state, accelerator or bridge version"

# list, logs and console.
revm list >"$T/list" || fail "revm list failed"
for vm in app driver filesystem; do
  grep -q "^$vm " "$T/list" || { cat "$T/list"; fail "revm list lacks VM $vm"; }
done
grep -q "^app ready " "$T/list" || { cat "$T/list"; fail "revm list does not show app as ready"; }
revm logs app >"$T/logs" || fail "revm logs app failed"
grep -q "runit" "$T/logs" || fail "revm logs app does not show the guest's boot"
if revm logs no-such-vm >/dev/null 2>"$T/logs.err"; then fail "revm logs of an unknown VM succeeded"; fi
[ "$(wc -l <"$T/logs.err")" -eq 1 ] || { cat "$T/logs.err"; fail "revm logs of an unknown VM: not one line"; }
# The serial console: a newline to the getty brings its login prompt back.
(printf '\n'; sleep 4) | timeout 20 revm console app >"$T/console.out" 2>&1 || fail "revm console app failed"
grep -q "login:" "$T/console.out" || { cat "$T/console.out"; fail "revm console app: no login prompt"; }
ok "revm list shows the 3 VMs, revm logs shows the boot, revm console reaches the getty"

# Clean stop, image check, second boot.
start=$(date +%s)
revm stop app || fail "revm stop app failed"
secs=$(( $(date +%s) - start ))
grep -q "VM app: stopped" "$T/revmd.log" || fail "supervisor did not record the stop"
# Clean means the guest shut itself down on the ACPI request (runit stage 3, then the kernel's
# power-off), not the supervisor's forced stop after the timeout.
grep -q "reboot: Power down" "$REVM_STATE_DIR/app/console.log" ||
  { tail -n 20 "$REVM_STATE_DIR/app/console.log"; fail "no clean power-down in the console log (stop took ${secs}s)"; }
qemu-img convert -O raw "$T/images/app.qcow2" "$T/app.raw"
btrfs check --readonly "$T/app.raw" >"$T/btrfs-check.log" 2>&1 || { cat "$T/btrfs-check.log"; fail "btrfs check found errors"; }
rm -f "$T/app.raw"
ok "clean ACPI power-down in ${secs}s; btrfs check clean"
revm start app >/dev/null 2>&1 || fail "second boot failed"
[ "$(revm sh -c 'echo again')" = again ] || fail "second boot: bridge does not run programs"
ok "second boot works"

# A client of a VM whose QEMU dies gets an error, not a hang.
revm sleep 600 >"$T/client.out" 2>"$T/client.err" & client=$!
track_pid $client
sleep 2
kill -KILL "$(qemu_pid_of app)"
rc=0
timeout 30 tail --pid=$client -f /dev/null || fail "revm client hung after QEMU was killed"
wait $client || rc=$?
[ $rc -ne 0 ] || fail "revm client exited 0 after QEMU was killed"
ok "client of a killed VM: exit $rc: $(tail -n 1 "$T/client.err")"
wait_for 10 grep -q "VM app: QEMU killed by signal 9; not restarting" "$T/revmd.log" || { tail "$T/revmd.log"; fail "kill not reported"; }
ok "supervisor reported the app VM's death and, per policy, did not restart it"

# Driver and filesystem boot to bridge-ready; the driver VM restarts after SIGKILL.
revm start driver >/dev/null || fail "driver VM did not become ready"
revm start filesystem >/dev/null || fail "filesystem VM did not become ready"
ok "driver and filesystem VMs are bridge-ready"
old=$(qemu_pid_of driver)
kill -KILL "$old"
wait_for 10 grep -q "VM driver: QEMU killed by signal 9; restarting" "$T/revmd.log" || fail "driver kill not reported"
wait_for 180 sh -c "revm status driver | grep -q state=ready" || { tail "$T/revmd.log"; fail "driver VM was not restarted"; }
[ "$(qemu_pid_of driver)" != "$old" ] || fail "driver VM has the same QEMU pid"
ok "driver VM restarted after SIGKILL (new QEMU pid $(qemu_pid_of driver))"

# Two restarts at once share one restart: one new start, both clients told it is ready.
starts=$(grep -c 'VM filesystem: starting' "$T/revmd.log")
revm restart filesystem >"$T/restart1.log" 2>&1 & r1=$!
revm restart filesystem >"$T/restart2.log" 2>&1 & r2=$!
track_pid $r1; track_pid $r2
wait $r1 || { cat "$T/restart1.log"; fail "first concurrent restart failed"; }
wait $r2 || { cat "$T/restart2.log"; fail "second concurrent restart failed"; }
now=$(grep -c 'VM filesystem: starting' "$T/revmd.log")
[ "$now" -eq $((starts + 1)) ] || fail "two concurrent restarts started the VM $((now - starts)) times"
ok "two concurrent restarts shared one restart: $(tail -n 1 "$T/restart2.log")"

# A start while the VM is still powering down is refused, not raced against the old QEMU.
revm stop filesystem >"$T/stop-fs.log" 2>&1 & st=$!
track_pid $st
wait_for 10 sh -c "revm status filesystem | grep -q state=stopping" || fail "filesystem VM never showed state=stopping"
if revm start filesystem >"$T/start-stopping.log" 2>&1; then fail "a start while stopping succeeded"; fi
grep -q "is stopping" "$T/start-stopping.log" || { cat "$T/start-stopping.log"; fail "start while stopping: unclear refusal"; }
wait $st || { cat "$T/stop-fs.log"; fail "revm stop filesystem failed"; }
ok "start while stopping refused: $(tail -n 1 "$T/start-stopping.log")"

revm stop driver >/dev/null
