#!/usr/bin/env bash
# The Redox recipes and the image regeneration script:
#  1. every recipe.toml and config fragment satisfies the cookbook's schema, and the
#     schema check itself catches each kind of mistake;
#  2. each recipe's build script runs for real in the cookbook stand-in
#     (scripts/cookbook-standin.sh) and stages exactly the expected files;
#  3. the variant recipes, pointed at the small rootfs fixture, stage images that
#     boot to bridge-ready (revm-probe marker, then a command run over the bridge);
#  4. offline without a cache, and a missing kernel repository, fail with one clear line;
#  5. scripts/regen-images.sh builds, and its second run with unchanged inputs does
#     no work and says so.
# shellcheck disable=SC2030,SC2031 # the ( ) blocks change the environment on purpose
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

python3 -c 'import tomllib' 2>/dev/null || skip "python3 with tomllib (3.11+) needed"
schema=$TOP/tests/support/recipe_schema.py

# ---- 1. schema -----------------------------------------------------------------------
python3 "$schema" "$TOP/recipes" || fail "recipes do not satisfy the cookbook schema"
ok "schema: $(python3 "$schema" "$TOP/recipes")"

bad_recipe() { # NAME TOML EXPECTED-MESSAGE
  rm -rf "$T/bad" && mkdir -p "$T/bad/recipes/x/$1"
  printf '%s\n' "$2" > "$T/bad/recipes/x/$1/recipe.toml"
  local out rc=0
  out=$(python3 "$schema" "$T/bad/recipes" 2>&1) || rc=$?
  [ $rc -ne 0 ] || fail "schema accepted a bad recipe ($1)"
  grep -q -- "$3" <<<"$out" || fail "schema: '$1' gave '$out', expected '$3'"
  ok "schema rejects $1: $(head -n 1 <<<"$out" | sed 's|.*/recipes/||')"
}
bad_recipe no-blake3 $'[source]\ntar = "https://example.org/a-1.0.tar.gz"' "needs blake3"
bad_recipe short-blake3 $'[source]\ntar = "https://example.org/a-1.0.tar.gz"\nblake3 = "abc"' "64 lowercase hex"
bad_recipe bad-template $'[build]\ntemplate = "autotools"' "is not one of"
bad_recipe no-script $'[build]\ntemplate = "custom"' "needs a non-empty script"
bad_recipe unknown-key $'[build]\ntemplate = "custom"\nscript = "true"\nscirpt = "x"' "unknown key 'scirpt'"
bad_recipe unknown-section $'[buidl]\ntemplate = "none"' "unknown section 'buidl'"
bad_recipe unknown-dep $'[package]\ndependencies = ["no-such-recipe"]' "names no recipe here"
bad_recipe two-sources $'[source]\ngit = "https://example.org/a.git"\npath = "."' "exactly one of"
bad_recipe not-toml $'[build\ntemplate = "none"' "not valid TOML"
mkdir -p "$T/badcfg/config"
printf '[packages]\nrevm-all = {}\n[[files]]\npath = "/etc/login_schemes.toml"\ndata = """\n[user_schemes.user]\nschemes = ["file"]\n"""\n' \
  > "$T/badcfg/config/x.toml"
out=$(python3 "$schema" --known-dep revm-all "$T/badcfg" 2>&1) && fail "schema accepted a login_schemes without revm"
grep -q "no revm scheme" <<<"$out" || fail "schema: config gave '$out'"
ok "schema rejects a config fragment that gives the desktop user no revm scheme"

# ---- 2. recipes in the stand-in ---------------------------------------------------------
make -s -C "$TOP/mkimage" all >/dev/null
"$TOP/scripts/fixtures/build-all.sh" kernel small >/dev/null 2>&1 ||
  "$TOP/scripts/fixtures/build-all.sh" kernel small ||
  skip "fixtures could not be built (needs root and the Debian mirror)"
standin=$TOP/scripts/cookbook-standin.sh
work=$T/cookbook
F=$FIXTURES
# The variant recipes take the fixtures instead of Void's release (source override),
# this checkout's mkimage and its variant definitions.
export REVM_ROOTFS_URL=$F/small/void-x86_64-musl-ROOTFS-small.tar.xz
export REVM_ROOTFS_SHA256SUMS=$F/small/sha256sum.txt REVM_ROOTFS_SIG=$F/small/sha256sum.sig
export REVM_ROOTFS_PUBKEY=$F/keys/revm-fixture.pub REVM_KERNEL=$F/kernel/tree
export REVM_MKIMAGE=$BUILD/bin/mkimage REVM_VARIANTS_DIR=$TOP/mkimage/variants
export REVM_CACHE=$T/cache REVM_IMAGE_SIZE=1G

# expect_stage RECIPE EXPECTED-LIST: the staged tree holds exactly these files
# (directories are implied).
expect_stage() {
  local name=$1 expected=$2 got
  "$standin" --work "$work" "$name" >"$T/$name.path" 2>"$T/$name.log" ||
    { cat "$T/$name.log" >&2; fail "stand-in: recipe $name failed"; }
  got=$(cd "$(cat "$T/$name.path")" && find . ! -type d -printf '%P\n' | LC_ALL=C sort)
  expected=$(printf '%s\n' "$expected" | sed '/^$/d' | LC_ALL=C sort)
  if [ "$got" != "$expected" ]; then
    diff <(echo "$expected") <(echo "$got") >&2 || true
    fail "stand-in: $name staged other files than expected (< expected, > staged)"
  fi
  ok "stand-in: $name staged exactly $(grep -c . <<<"$got") expected files"
}

expect_stage revm-guestd "usr/lib/revm/revm-guestd"
guestd=$work/revm-guestd/stage/usr/lib/revm/revm-guestd
[[ $(file "$guestd") == *"statically linked"* ]] || fail "revm-guestd is not static: $(file "$guestd")"
ok "revm-guestd is a static executable"

headers=$(find "$TOP/bridge/proto" "$TOP/bridge/desktop" "$TOP/bridge/librevm" -maxdepth 1 -name '*.h' -printf 'usr/include/revm/%f\n')
# init units: the lifecycle's, in recipes/init.d/ (revmd with the host side, each VM's
# own with its image)
units_for() { find "$TOP/recipes/init.d" -maxdepth 1 -name "[0-9][0-9]_$1.service" -printf 'usr/lib/init.d/%f\n'; }
units=$(units_for revmd)
expect_stage revm "usr/bin/revm
usr/bin/revmd
usr/lib/librevm.a
$headers
$units"
expect_stage revm-all ""

for v in driver filesystem app; do
  unit=$(units_for "revm-$v")
  expect_stage "revm-image-$v" "usr/lib/revm/images/$v.qcow2
usr/lib/revm/images/$v.vmlinuz
usr/lib/revm/images/$v.initramfs
usr/lib/revm/profiles/$v.ini
$unit"
done

# ---- 3. the staged images boot to bridge-ready --------------------------------------------
accel=$(revm_accel)
revm_bin=$BUILD/bin/revm
[ -x "$revm_bin" ] || make -s -C "$TOP/bridge" "$revm_bin" >/dev/null 2>&1 || true
boot() { # VARIANT [COOKBOOK-WORK]: boots the image staged there; leaves QEMU running as $qemu_pid
  local v=$1 d=${2:-$work}/revm-image-$1/stage/usr/lib/revm/images log=$T/boot-$1 pid out
  : >"$log.probe"
  qemu-system-x86_64 -accel "$accel" -M q35 -m 512 -nodefaults -display none \
    -kernel "$d/$v.vmlinuz" -initrd "$d/$v.initramfs" \
    -append 'console=ttyS0 root=/dev/vda rootfstype=btrfs rw' \
    -drive "file=$d/$v.qcow2,if=virtio,format=qcow2,snapshot=on" \
    -device virtio-serial-pci \
    -chardev "file,id=probe,path=$log.probe" \
    -device virtserialport,chardev=probe,name=org.redox.probe.0 \
    -chardev "socket,id=bridge,path=$log.sock,server=on,wait=off" \
    -device virtserialport,chardev=bridge,name=org.redox.bridge.0 \
    -serial "file:$log.console" </dev/null >"$log.qemu" 2>&1 &
  pid=$!
  track_pid "$pid"
  local start=$SECONDS
  wait_for 240 grep -q "revm-probe: ready revm-$v" "$log.probe" ||
    { tail -n 30 "$log.console" >&2; fail "$v image from the recipe did not reach runit stage 2"; }
  if [ -x "$revm_bin" ]; then
    out=$(timeout 60 "$revm_bin" --socket "$log.sock" cat /etc/hostname 2>&1) ||
      { tail -n 30 "$log.console" >&2; fail "$v: revm over the bridge failed: $out"; }
    [ "$out" = "revm-$v" ] || fail "$v: revm over the bridge printed '$out'"
    ok "$v image from the recipe: bridge-ready, 'revm cat /etc/hostname' -> $out ($((SECONDS - start))s, $accel)"
  else
    ok "$v image from the recipe: booted to revm-probe ($((SECONDS - start))s, $accel); revm not built, bridge not exercised"
  fi
  qemu_pid=$pid
}
stop_vm() { kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; }
if command -v qemu-system-x86_64 >/dev/null; then
  for v in driver filesystem app; do boot "$v"; stop_vm; done
else
  echo "note: qemu-system-x86_64 missing, boots not checked"
fi

# The app image from a whole distribution (the Debian fixture): its package manager
# runs over the bridge.
if command -v qemu-system-x86_64 >/dev/null && [ -x "$revm_bin" ] &&
  "$TOP/scripts/fixtures/build-all.sh" debian >/dev/null 2>&1; then
  (
    export REVM_ROOTFS_URL=$F/debian/void-x86_64-musl-ROOTFS-debian.tar.xz
    export REVM_ROOTFS_SHA256SUMS=$F/debian/sha256sum.txt REVM_ROOTFS_SIG=$F/debian/sha256sum.sig
    "$standin" --work "$T/cookbook-debian" revm-image-app >/dev/null 2>"$T/debian-app.log" ||
      { cat "$T/debian-app.log" >&2; fail "stand-in: revm-image-app from the Debian fixture failed"; }
  )
  boot app "$T/cookbook-debian"
  out=$(timeout 60 "$revm_bin" --socket "$T/boot-app.sock" apt-get --version 2>&1) ||
    fail "app (Debian fixture): apt-get over the bridge failed: $out"
  stop_vm
  ok "app image from the Debian fixture: 'revm apt-get --version' -> ${out%%$'\n'*}"
fi

# ---- 4. clear failures ------------------------------------------------------------------
(
  unset REVM_ROOTFS_URL REVM_ROOTFS_SHA256SUMS REVM_ROOTFS_SIG REVM_ROOTFS_PUBKEY
  export REVM_CACHE=$T/empty-cache
  expect_fail "offline with an empty cache" "$standin" --offline --work "$work" revm-image-app
  out=$("$standin" --offline --work "$work" revm-image-app 2>&1 >/dev/null || true)
  grep -q "offline and not in the cache" <<<"$out" || fail "offline failure does not say why: $out"
  ok "offline, empty cache: $(grep -m1 '^revm-images:' <<<"$out")"
)
(
  # The default kernel comes from an xbps repository (mkimage --void-repo): one that is
  # not there fails with one line naming its index (tests/e2e/void-kernel-repo.sh covers
  # a real one).
  unset REVM_KERNEL
  export REVM_KERNEL_REPO=$T/no-such-repo
  expect_fail "default kernel from a missing repository" "$standin" --work "$work" revm-image-driver
  out=$("$standin" --work "$work" revm-image-driver 2>&1 >/dev/null || true)
  grep -q "kernel repository index $T/no-such-repo/x86_64-musl-repodata" <<<"$out" ||
    fail "missing kernel repository: the failure does not say why: $out"
  ok "missing kernel repository: $(grep -m1 'kernel repository index' <<<"$out")"
)

# The offline check passes once the cache holds every remote input, in mkimage's
# cache layout (sha256/HEX for the tarball, url/SHA256-OF-URL for the lists).
(
  unset REVM_ROOTFS_URL REVM_ROOTFS_SHA256SUMS REVM_ROOTFS_SIG REVM_ROOTFS_PUBKEY
  # shellcheck source=scripts/mkimage-args.sh
  . "$TOP/scripts/mkimage-args.sh"
  export REVM_CACHE=$T/full-cache COOKBOOK_OFFLINE=1
  revm_images_resolve
  mkdir -p "$REVM_CACHE/sha256" "$REVM_CACHE/url"
  : > "$REVM_CACHE/sha256/$REVM_ROOTFS_SHA256"
  for u in "$REVM_ROOTFS_SHA256SUMS" "$REVM_ROOTFS_SIG"; do
    : > "$REVM_CACHE/url/$(printf '%s' "$u" | sha256sum | cut -d' ' -f1)"
  done
  revm_offline_check || fail "offline check failed with every input cached"
  rm "$REVM_CACHE/sha256/$REVM_ROOTFS_SHA256"
  ! revm_offline_check 2>/dev/null || fail "offline check passed without the tarball"
)
ok "offline: passes with the inputs cached, fails without"

# ---- 5. regeneration: second run does nothing ---------------------------------------------
regen=$TOP/scripts/regen-images.sh
export REVM_BRIDGE=$guestd
"$regen" --out "$T/images" >"$T/regen1.log" 2>&1 || { cat "$T/regen1.log" >&2; fail "regen-images failed"; }
cat "$T/regen1.log"
[ "$(grep -c ' built ' "$T/regen1.log")" -eq 3 ] || fail "first regen-images run did not build 3 images"
"$regen" --out "$T/images" >"$T/regen2.log" 2>&1 || { cat "$T/regen2.log" >&2; fail "second regen-images failed"; }
cat "$T/regen2.log"
[ "$(grep -c 'inputs unchanged.*nothing to do' "$T/regen2.log")" -eq 3 ] ||
  fail "second regen-images run with unchanged inputs did work"
! grep -q ' built ' "$T/regen2.log" || fail "second regen-images run rebuilt an image"
ok "regen-images: second run with unchanged inputs did no work and said so"
# One changed input (the guest daemon) rebuilds every variant, and only once.
cp "$guestd" "$T/guestd2" && printf '\n' >> "$T/guestd2"
REVM_BRIDGE=$T/guestd2 "$regen" --out "$T/images" app >"$T/regen3.log" 2>&1 ||
  { cat "$T/regen3.log" >&2; fail "regen-images after a change failed"; }
grep -q '^app  *built' "$T/regen3.log" || fail "a changed input did not rebuild app"
ok "regen-images: a changed input rebuilds"
