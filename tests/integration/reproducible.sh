#!/usr/bin/env bash
# Reproducible images: the same inputs give bit-identical qcow2 files although the
# staged trees differ in everything mkfs.btrfs 6.2 would otherwise copy from the host
# (inode numbers, readdir order, ctime, clock, random UUIDs).
#  1. build all variants twice from the small fixture, staging once on tmpfs and once
#     on the disk (different filesystems: different inode numbers and readdir order);
#  2. as root: once more as an ordinary user (mkimage re-executes itself under
#     fakeroot), which must give the same images as root;
#  3. as root: loop-mount the app image and check every tarball entry's type, mode,
#     owner, device number and link target in it (the btrfs-progs 6.2 rdev fix-up).
# Usage: tests/integration/reproducible.sh   (FIXTURE=small|debian, default small)
. "$(dirname "$0")/../lib.sh"

fixture=${FIXTURE:-small}
tarball=$FIXTURES/$fixture/void-x86_64-musl-ROOTFS-$fixture.tar.xz
sums=$FIXTURES/$fixture/sha256sum.txt
kernel=$FIXTURES/kernel/tree
mkimage=$BUILD/bin/mkimage
[ -x "$mkimage" ] || skip "mkimage not built ($mkimage)"
[ -f "$tarball" ] || skip "no $fixture fixture; run scripts/fixtures/build-all.sh $fixture"
[ -d "$kernel" ] || skip "no kernel fixture; run scripts/fixtures/build-all.sh kernel"
for tool in mkfs.btrfs qemu-img fakeroot python3; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done

# build NAME WORKDIR [USER]: all variants into $T/NAME/out, staging in WORKDIR.
build() {
  local name=$1 work=$2 user=${3:-}
  mkdir -p "$T/$name/out" "$T/$name/cache" "$work"
  local cmd=("$mkimage" --variant all --rootfs "$tarball" --sha256sums "$sums"
    --kernel "$kernel" --work "$work" --cache "$T/$name/cache" --out "$T/$name/out" --quiet)
  if [ -n "$user" ]; then
    chown -R "$user" "$T/$name" "$work"
    runuser -u "$user" -- env -u LD_PRELOAD "${cmd[@]}" >"$T/$name.log" 2>&1 ||
      fail "build $name (as $user): $(tail -n 1 "$T/$name.log")"
  else
    "${cmd[@]}" >"$T/$name.log" 2>&1 || fail "build $name: $(tail -n 1 "$T/$name.log")"
  fi
}

# same A B: every qcow2 of build A equals build B's.
same() {
  local v n=0
  for v in "$T/$1"/out/*.qcow2; do
    n=$((n + 1))
    local a b
    a=$(sha256sum <"$v" | cut -c1-64)
    b=$(sha256sum <"$T/$2/out/$(basename "$v")" | cut -c1-64) || fail "$2: no $(basename "$v")"
    [ "$a" = "$b" ] || fail "$(basename "$v") differs between $1 and $2 ($a vs $b)"
  done
  [ $n -ge 3 ] || fail "$1: expected 3 qcow2 images, found $n"
  ok "$n images identical: $1 = $2"
}

shm=$(mktemp -d /dev/shm/revm-repro.XXXXXX)
mnt=$T/mnt
on_exit 'umount "$mnt" 2>/dev/null; rm -rf "$shm"'

build tmpfs "$shm/work"
build disk "$T/disk/work"
same tmpfs disk

if [ "$(id -u)" -ne 0 ]; then
  echo "skip: non-root comparison and loop mount need root"
  exit 0
fi

user=nobody
if id "$user" >/dev/null 2>&1 && command -v runuser >/dev/null; then
  chmod 755 "$T"
  build nonroot "$T/nonroot/work" "$user"
  same tmpfs nonroot
fi

# Metadata: every tarball entry that the app image still has, and that the variant
# did not change on purpose (the report's changed_paths), keeps type, mode, owner,
# device number and link target.
raw=$T/app.raw
qemu-img convert -f qcow2 -O raw "$T/tmpfs/out/app.qcow2" "$raw"
mkdir -p "$mnt"
if ! mount -o loop,ro "$raw" "$mnt" 2>/dev/null; then
  echo "skip: cannot loop-mount the image here; metadata check not run"
  exit 0
fi
python3 - "$tarball" "$mnt" "$T/tmpfs/out/app.report.json" <<'PY' || fail "metadata differs between the tarball and the image"
import json, os, stat, sys, tarfile
tar, root, report = sys.argv[1], sys.argv[2], sys.argv[3]
changed = json.load(open(report)).get("changed_paths", [])
def customized(name):
    p = "/" + name.lstrip("./")
    return any(p == c or p.startswith(c.rstrip("/") + "/") for c in changed)
kinds = {tarfile.REGTYPE: stat.S_IFREG, tarfile.AREGTYPE: stat.S_IFREG, tarfile.DIRTYPE: stat.S_IFDIR,
         tarfile.SYMTYPE: stat.S_IFLNK, tarfile.CHRTYPE: stat.S_IFCHR, tarfile.BLKTYPE: stat.S_IFBLK,
         tarfile.FIFOTYPE: stat.S_IFIFO}
bad = checked = devices = 0
with tarfile.open(tar) as tf:
    for m in tf:
        path = os.path.join(root, m.name.lstrip("./"))
        if m.islnk() or m.name in (".", "./") or customized(m.name) or not os.path.lexists(path):
            continue
        st = os.lstat(path)
        want = kinds.get(m.type)
        got = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        exp = (want, m.mode & 0o7777, m.uid, m.gid)
        if m.issym() and os.readlink(path) != m.linkname:
            got, exp = os.readlink(path), m.linkname
        if m.ischr() or m.isblk():
            devices += 1
            got += (os.major(st.st_rdev), os.minor(st.st_rdev))
            exp += (m.devmajor, m.devminor)
        checked += 1
        if got != exp:
            bad += 1
            if bad <= 10:
                print(f"  {m.name}: image {got} tarball {exp}")
print(f"checked {checked} entries ({devices} device nodes), {bad} differ")
sys.exit(1 if bad else 0)
PY
ok "app image keeps the tarball's metadata"
