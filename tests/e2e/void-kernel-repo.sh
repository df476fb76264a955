#!/usr/bin/env bash
# End to end: the default kernel comes from a signed xbps repository (mkimage without
# --kernel). A fixture repository in Void's format is built here and served from the
# loopback HTTP server:
#   REPO/x86_64-musl-repodata   zstd tar: index.plist, index-meta.plist (test RSA key)
#   REPO/linux6.1-VER_1.x86_64-musl.xbps(.sig2)   the test kernel laid out like Void's
#                               linux package (boot/vmlinuz-VER, usr/lib/modules/VER)
# and the small rootfs fixture gets the test key as /var/db/xbps/keys/FP.plist (its
# sha256sum.txt is made after, so the key is covered by the checksum list).
# - a default-style build (--void-repo URL --kernel-series linux6.1) picks the newest
#   linux6.1 entry, reports package, version and both hashes, and its driver image
#   boots to bridge-ready; a second build is served from the cache (no request at all);
#   once the mirror drops that build, a cached index naming it is fetched again (once);
# - tampered package, package signed by another key, missing signature, key not in the
#   rootfs, index not found, series not in the index: one line each, exit 1, nothing
#   written in OUT, no unverified package left in the cache.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/support/vm-images.sh"

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
for c in python3 openssl ssh-keygen zstd xz; do
  command -v $c >/dev/null || skip "$c not installed"
done
make -s -C "$TOP/mkimage" all >/dev/null
if ! "$TOP/scripts/fixtures/build-all.sh" kernel small >"$T/fixtures.log" 2>&1; then
  tail -n 20 "$T/fixtures.log"
  skip "fixtures could not be built (needs root and the Debian mirror)"
fi
[ -x "$BUILD/lib/revm/revm-guestd" ] || make -s -C "$TOP/bridge" all >/dev/null ||
  skip "the bridge does not build right now"

ARCH=x86_64-musl
kver=$(cat "$FIXTURES/kernel/version")
pkgver=linux6.1-6.1.99_2
www=$T/www
mkdir -p "$www"/{rootfs,repo,keys}

# ---- keys: the repository's (trusted by the rootfs) and a stranger's ----
keygen() { # NAME: KEYS/NAME.pem, .pub.pem, .fp (xbps fingerprint = ssh-keygen MD5)
  local k=$T/keys/$1
  mkdir -p "$T/keys"
  openssl genrsa -out "$k.pem" 2048 2>/dev/null
  openssl rsa -in "$k.pem" -pubout -out "$k.pub.pem" 2>/dev/null
  ssh-keygen -i -m PKCS8 -f "$k.pub.pem" >"$k.ssh"
  ssh-keygen -l -E md5 -f "$k.ssh" | sed -n 's/^[0-9]* MD5:\([0-9a-f:]*\) .*/\1/p' >"$k.fp"
  [ "$(wc -c <"$k.fp")" -eq 48 ] || fail "fingerprint of key $1: $(cat "$k.fp")"
}
keyplist() { # NAME [EXTRA]: the plist xbps keeps for a key (also index-meta.plist)
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple Computer//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n<dict>\n'
  printf '\t<key>public-key</key>\n\t<data>%s</data>\n' "$(base64 -w0 "$T/keys/$1.pub.pem")"
  printf '\t<key>public-key-size</key>\n\t<integer>2048</integer>\n'
  printf '\t<key>signature-by</key>\n\t<string>revm test &amp; co</string>\n%s</dict>\n</plist>\n' "${2:-}"
}
keygen repo
keygen stranger
fp=$(cat "$T/keys/repo.fp")

# ---- rootfs: the small fixture plus the repository key ----
rootfs_name=void-x86_64-musl-ROOTFS-keys.tar.xz
mkdir -p "$T/keyroot/var/db/xbps/keys"
keyplist repo >"$T/keyroot/var/db/xbps/keys/$fp.plist"
xz -dc "$FIXTURES/small"/*.tar.xz >"$T/rootfs.tar"
tar -rf "$T/rootfs.tar" -C "$T/keyroot" --owner=0 --group=0 --numeric-owner \
  --mtime=@1735689600 --no-recursion ./var/db ./var/db/xbps ./var/db/xbps/keys "./var/db/xbps/keys/$fp.plist"
xz -T1 -3 -c "$T/rootfs.tar" >"$www/rootfs/$rootfs_name"
rm -f "$T/rootfs.tar"
(cd "$www/rootfs" && echo "SHA256 ($rootfs_name) = $(sha256sum <"$rootfs_name" | cut -d' ' -f1)" >sha256sum.txt)
# The same rootfs without the key, for "key not in the rootfs".
cp "$FIXTURES/small"/*.tar.xz "$www/rootfs/void-x86_64-musl-ROOTFS-nokey.tar.xz"
(cd "$www/rootfs" && for f in void-x86_64-musl-ROOTFS-nokey.tar.xz; do
  echo "SHA256 ($f) = $(sha256sum <"$f" | cut -d' ' -f1)"; done >>sha256sum.txt)

# ---- the kernel package: Void's layout, built once per test kernel ----
xbps_cache=$FIXTURES/void-kernel
xbps_file=$pkgver.$ARCH.xbps
if [ ! -f "$xbps_cache/$kver/$xbps_file" ]; then
  stage=$T/pkgroot
  mkdir -p "$stage/boot" "$stage/usr/lib/modules"
  cp "$FIXTURES/kernel/tree/boot/vmlinuz-$kver" "$FIXTURES/kernel/tree/boot/config-$kver" "$stage/boot/"
  cp -a "$FIXTURES/kernel/tree/lib/modules/$kver" "$stage/usr/lib/modules/"
  cat >"$stage/props.plist" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>pkgname</key><string>linux6.1</string><key>pkgver</key><string>$pkgver</string><key>architecture</key><string>$ARCH</string></dict></plist>
EOF
  echo '<plist version="1.0"><dict/></plist>' >"$stage/files.plist"
  mkdir -p "$xbps_cache/$kver"
  (cd "$stage" && tar --format=pax --owner=0 --group=0 --numeric-owner --sort=name \
    --mtime=@1735689600 -cf - ./props.plist ./files.plist ./boot ./usr) |
    zstd -q -T2 -3 >"$xbps_cache/$kver/.$xbps_file.part"
  mv "$xbps_cache/$kver/.$xbps_file.part" "$xbps_cache/$kver/$xbps_file"
  rm -rf "$stage"
fi

# make_repo DIR KEY_SIGN KEY_META [tamper|nosig|newbuild [PKGVER]]: a repository with
# the package.
xbps_file_default=$xbps_file
make_repo() {
  local dir=$www/$1 sign=$2 meta=$3 mode=${4:-} pkgver=${5:-$pkgver}
  local xbps_file=$pkgver.$ARCH.xbps
  mkdir -p "$dir" "$T/rd-$1"
  if [ "$mode" = newbuild ]; then # another build of the kernel: other bytes, same files
    rm -f "$dir"/*.xbps "$dir"/*.xbps.sig2
    { cat "$xbps_cache/$kver/${xbps_file_default}"; printf '' | zstd -q -c; } >"$dir/$xbps_file"
  else
    ln -sf "$xbps_cache/$kver/$xbps_file_default" "$dir/$xbps_file"
  fi
  openssl dgst -sha256 -sign "$T/keys/$sign.pem" -out "$dir/$xbps_file.sig2" "$dir/$xbps_file"
  if [ "$mode" = tamper ]; then # a mirror that changed the package and the index to match
    rm "$dir/$xbps_file"
    { cat "$xbps_cache/$kver/$xbps_file_default"; printf 'x'; } >"$dir/$xbps_file"
  fi
  [ "$mode" = nosig ] && rm "$dir/$xbps_file.sig2"
  local sha size
  sha=$(sha256sum <"$dir/$xbps_file" | cut -d' ' -f1)
  size=$(stat -L -c %s "$dir/$xbps_file")
  # Two entries for the series: the newest must win, whatever the order.
  cat >"$T/rd-$1/index.plist" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple Computer//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>base-files</key>
	<dict>
		<key>architecture</key>
		<string>$ARCH</string>
		<key>filename-sha256</key>
		<string>$(printf '%064d' 0)</string>
		<key>pkgver</key>
		<string>base-files-0.145_1</string>
		<key>short_desc</key>
		<string>Void Linux base system files &lt;test&gt;</string>
	</dict>
	<key>linux6.1</key>
	<dict>
		<key>architecture</key>
		<string>$ARCH</string>
		<key>filename-sha256</key>
		<string>$sha</string>
		<key>filename-size</key>
		<integer>$size</integer>
		<key>pkgver</key>
		<string>$pkgver</string>
		<key>run_depends</key>
		<array>
			<string>kmod&gt;=2</string>
		</array>
	</dict>
	<key>linux6.1</key>
	<dict>
		<key>architecture</key>
		<string>$ARCH</string>
		<key>filename-sha256</key>
		<string>$(printf '%064d' 1)</string>
		<key>pkgver</key>
		<string>linux6.1-6.1.10_9</string>
	</dict>
</dict>
</plist>
EOF
  keyplist "$meta" $'\t<key>signature-type</key>\n\t<string>rsa</string>\n' >"$T/rd-$1/index-meta.plist"
  (cd "$T/rd-$1" && tar --format=pax --owner=0 --group=0 -cf - index.plist index-meta.plist) |
    zstd -q -c >"$dir/$ARCH-repodata"
}
make_repo repo repo repo
make_repo tampered repo repo tamper
make_repo wrongkey stranger repo
make_repo nosig repo repo nosig
make_repo untrusted stranger stranger

python3 "$TOP/tests/support/httpd.py" --root "$www" --port-file "$T/port" \
  --log "$T/http.log" >/dev/null 2>&1 &
track_pid $!
wait_for 15 test -s "$T/port" || fail "httpd did not start"
base=http://127.0.0.1:$(cat "$T/port")

# mk OUT CACHE REPO [ROOTFS] [extra...]: a default-style build (no --kernel).
mk() {
  local out=$1 cache=$2 repo=$3 rootfs=${4:-$rootfs_name}
  shift 4 || shift $#
  mkimage --variant driver --rootfs "$base/rootfs/$rootfs" --sha256sums "$base/rootfs/sha256sum.txt" \
    --void-repo "$base/$repo" --kernel-series linux6.1 --bridge "$BUILD/lib/revm/revm-guestd" \
    --cache "$cache" --work "$T/work" --out "$out" --quiet "$@"
}

# ---- the good repository ----
start=$SECONDS
mk "$T/images" "$T/cache" repo >"$T/build.log" 2>&1 || { cat "$T/build.log"; fail "default-style build failed"; }
ok "built the driver image with the repository kernel in $((SECONDS - start))s"
for ext in qcow2 vmlinuz initramfs report.json; do
  [ -s "$T/images/driver.$ext" ] || fail "driver.$ext missing"
done
cmp -s "$T/images/driver.vmlinuz" "$FIXTURES/kernel/tree/boot/vmlinuz-$kver" || fail "the image's kernel is not the package's"
pkg_sha=$(sha256sum <"$www/repo/$xbps_file" | cut -d' ' -f1)
python3 - "$T/images/driver.report.json" "$pkgver" "$pkg_sha" "$fp" "$kver" <<'EOF' || fail "report lacks the kernel package"
import json, sys
r = json.load(open(sys.argv[1]))
p = r["kernel_package"]
assert r["kernel"] == sys.argv[5], r["kernel"]
assert p["name"] == "linux6.1" and p["name"] + "-" + p["version"] == sys.argv[2], p
assert p["sha256"] == sys.argv[3] and len(p["blake3"]) == 64, p
assert p["signed_by"] == sys.argv[4] and p["source"].endswith(sys.argv[2] + ".x86_64-musl.xbps"), p
EOF
ok "report: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kernel_package"])' "$T/images/driver.report.json")"
grep -q "GET /repo/$xbps_file.sig2" "$T/http.log" || fail "the signature was not fetched"

# Second build: index, package and signature all from the cache.
: >"$T/http.log"
mk "$T/images2" "$T/cache" repo >"$T/build2.log" 2>&1 || { cat "$T/build2.log"; fail "cached build failed"; }
if grep -q "/repo/" "$T/http.log"; then cat "$T/http.log"; fail "cached build made repository requests"; fi
cmp -s "$T/images/driver.vmlinuz" "$T/images2/driver.vmlinuz" || fail "cached build: another kernel"
ok "second build served the index, package and signature from the cache (no request)"

# ---- rejections: one line, exit 1, nothing in OUT, no unverified package cached ----
reject() { # NAME NEEDLE REPO [ROOTFS] [mkimage args...]
  local name=$1 needle=$2 repo=$3 rootfs=${4:-$rootfs_name} out=$T/bad-$1 rc=0
  shift 4 || shift $#
  mk "$out" "$T/cache-$name" "$repo" "$rootfs" "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
  [ $rc -eq 1 ] || { cat "$T/$name.out" "$T/$name.err"; fail "$name: exit $rc, expected 1"; }
  [ "$(wc -l <"$T/$name.err")" -eq 1 ] || { cat "$T/$name.err"; fail "$name: not one line"; }
  grep -q -- "$needle" "$T/$name.err" || { cat "$T/$name.err"; fail "$name: message lacks '$needle'"; }
  [ -z "$(find "$out" -mindepth 1 2>/dev/null)" ] || { find "$out"; fail "$name: files left in OUT"; }
  [ -z "$(ls "$T/cache-$name/sha256" 2>/dev/null | grep -v "^$(sha256sum <"$www/rootfs/$rootfs" | cut -d' ' -f1)$")" ] ||
    { ls -la "$T/cache-$name/sha256"; fail "$name: an unverified package stays in the cache"; }
  ok "$name rejected: $(cat "$T/$name.err")"
}
reject tampered "signature does not match the key $fp" tampered
reject wrong-key "signature does not match the key $fp" wrongkey
reject missing-signature "signature missing" nosig
reject untrusted-key "repository key $(cat "$T/keys/stranger.fp") (signed by revm test & co) is not in the rootfs" untrusted
reject key-not-in-rootfs "is not in the rootfs" repo void-x86_64-musl-ROOTFS-nokey.tar.xz
reject no-index "kernel repository index $base/none/$ARCH-repodata: HTTP 404" none
reject no-series "kernel repository index $base/repo/$ARCH-repodata: linux6.99: not in the index" repo "" --kernel-series linux6.99
# A package changed on the mirror without the index: the index's digest catches it.
cp "$www/repo/$ARCH-repodata" "$T/repodata.good"
mkdir -p "$www/stale" && cp "$www/repo/$ARCH-repodata" "$www/stale/" &&
  cp "$www/tampered/$xbps_file" "$www/tampered/$xbps_file.sig2" "$www/stale/"
reject stale "SHA-256 mismatch" stale

# ---- the mirror moved on: a cached index naming a dropped build is fetched again ----
# (the old package is not cached either: a machine that only kept the index)
rm -f "$T/cache/sha256/$pkg_sha"
make_repo repo repo repo newbuild linux6.1-6.1.100_1
: >"$T/http.log"
mk "$T/images3" "$T/cache" repo >"$T/build3.log" 2>&1 || { cat "$T/build3.log"; fail "build after the mirror moved failed"; }
grep -q '"version": "6.1.100_1"' "$T/images3/driver.report.json" || fail "the build did not move to the new package"
[ "$(grep -c "GET /repo/$ARCH-repodata" "$T/http.log")" -eq 1 ] || { cat "$T/http.log"; fail "index not fetched again exactly once"; }
ok "stale cached index: fetched again once, build moved to linux6.1-6.1.100_1"

# ---- boot: the driver VM reaches bridge-ready ----
export REVM_IMAGES=$T/images
start_revmd
start=$SECONDS
revm start driver >"$T/start.log" 2>&1 || { cat "$T/start.log"; tail -n 30 "$T/revmd.log"; fail "driver VM did not become ready"; }
revm status driver | tee "$T/status"
grep -q 'state=ready' "$T/status" || fail "driver VM is not ready"
ok "driver image with the repository kernel booted to bridge-ready in $((SECONDS - start))s"
revm stop driver >/dev/null 2>&1 || true
ok "void kernel repository: all checks passed"
