#!/usr/bin/env bash
# A stand-in for the Redox cookbook's build step, so revm's recipes can be built and
# checked on Linux without a Redox tree. It does what the cookbook does for one recipe
# (src/cook/cook_build.rs): builds its build dependencies first, fills a sysroot with
# their staged files, then runs the recipe's build script under `bash -e` in a build
# folder with the cookbook's variables and helper functions:
#   TARGET GNU_TARGET COOKBOOK_SOURCE COOKBOOK_BUILD COOKBOOK_STAGE COOKBOOK_SYSROOT
#   COOKBOOK_RECIPE COOKBOOK_ROOT COOKBOOK_MAKE_JOBS COOKBOOK_OFFLINE COOKBOOK_NAME
#   COOKBOOK_HOST_TARGET, CC/CXX/AR/... ; DYNAMIC_INIT, DYNAMIC_STATIC_INIT,
#   cookbook_configure, cookbook_cmake, cookbook_meson, cookbook_cargo
# Differences from the real cookbook, on purpose:
#   - The host's compiler stands in for the Redox cross compiler: TARGET and GNU_TARGET
#     name the build machine (x86_64-unknown-linux-gnu / x86_64-linux-gnu), so
#     "${GNU_TARGET}-gcc" is the host gcc.
#   - Sources are not fetched: a recipe without [source] or with a path source builds
#     as is; a git/tar source is used only if already present in the work folder.
#     A build dependency that is not a recipe here (a Redox cookbook recipe such as
#     qemu) or whose source is not present is skipped with a note: the host's own
#     library stands in for it.
#   - No packaging (pkgar) and no automatic dependencies: the result is the stage folder.
# Usage: scripts/cookbook-standin.sh [--offline] [--work DIR] [--list] RECIPE
#   RECIPE    a recipe folder (holding recipe.toml) or a recipe name under recipes/
#   --offline sets COOKBOOK_OFFLINE=1, as `repo cook` does when offline
#   --work    where NAME/{source,build,stage,sysroot} go (default $BUILD/cookbook)
#   --list    print the staged files (relative, sorted, with type and mode) instead of
#             the stage folder's path
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$top/build}

offline='' work=$BUILD/cookbook list=''
while [ $# -gt 0 ]; do
  case $1 in
    --offline) offline=1; shift ;;
    --work) work=$2; shift 2 ;;
    --list) list=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "cookbook-standin: $1: unknown option" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--offline] [--work DIR] [--list] RECIPE" >&2; exit 2; }

die() { echo "cookbook-standin: $*" >&2; exit 1; }

find_recipe() {
  local r=$1 found
  if [ -f "$r/recipe.toml" ]; then (cd "$r" && pwd -P); return; fi
  found=$(find "$top/recipes" -name recipe.toml -path "*/$r/recipe.toml" 2>/dev/null | head -n 1)
  [ -n "$found" ] || return 1
  (cd "$(dirname "$found")" && pwd -P)
}

# read_recipe DIR OUTDIR: the parts of recipe.toml the build needs, as files.
read_recipe() {
  python3 - "$1/recipe.toml" "$2" <<'EOF'
import pathlib, sys, tomllib
recipe, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
d = tomllib.loads(recipe.read_text())
b, s = d.get("build", {}), d.get("source")
kind = "none" if s is None else next((k for k in ("path", "same_as", "git", "tar") if k in s), "none")
(out / "template").write_text(b.get("template", "none") + "\n")
(out / "script").write_text(b.get("script", ""))
(out / "deps").write_text("".join(x + "\n" for x in b.get("dependencies", [])))
(out / "source-kind").write_text(kind + "\n")
(out / "source-path").write_text((s or {}).get("path", "") + "\n")
for key in ("configureflags", "cmakeflags", "mesonflags"):
    (out / key).write_text("".join(x + "\n" for x in b.get(key, [])))
EOF
}

# The helper functions and toolchain variables the cookbook prepends to every build
# script (written from the cookbook's documented behaviour; host tools in place of the
# Redox toolchain).
prelude() {
  cat <<'EOF'
export AR="${GNU_TARGET}-gcc-ar" AS="${GNU_TARGET}-as" CC="${GNU_TARGET}-gcc"
export CXX="${GNU_TARGET}-g++" LD="${GNU_TARGET}-ld" NM="${GNU_TARGET}-gcc-nm"
export OBJCOPY="${GNU_TARGET}-objcopy" RANLIB="${GNU_TARGET}-gcc-ranlib" STRIP="${GNU_TARGET}-strip"
export PKG_CONFIG_SYSROOT_DIR="${COOKBOOK_SYSROOT}" PKG_CONFIG_PATH="${COOKBOOK_SYSROOT}/usr/lib/pkgconfig"
COOKBOOK_CONFIGURE="${COOKBOOK_SOURCE}/configure"
COOKBOOK_MAKE="make"
COOKBOOK_CONFIGURE_FLAGS=(--host="${GNU_TARGET}" --prefix="/usr" --disable-shared --enable-static)
COOKBOOK_CMAKE_FLAGS=()
COOKBOOK_MESON_FLAGS=(--buildtype release -Dprefix=/usr)
function DYNAMIC_INIT { echo "cookbook-standin: DYNAMIC_INIT: static build on the host" >&2; }
function DYNAMIC_STATIC_INIT { DYNAMIC_INIT; }
function cookbook_configure {
  "${COOKBOOK_CONFIGURE}" "${COOKBOOK_CONFIGURE_FLAGS[@]}" "$@"
  "${COOKBOOK_MAKE}" -j"${COOKBOOK_MAKE_JOBS}"
  "${COOKBOOK_MAKE}" install DESTDIR="${COOKBOOK_STAGE}"
}
function cookbook_cmake {
  cmake "${COOKBOOK_SOURCE}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DCMAKE_PREFIX_PATH="${COOKBOOK_SYSROOT}/usr" "${COOKBOOK_CMAKE_FLAGS[@]}" "$@"
  cmake --build . -j "${COOKBOOK_MAKE_JOBS}"
  DESTDIR="${COOKBOOK_STAGE}" cmake --install .
}
function cookbook_meson {
  meson setup . "${COOKBOOK_SOURCE}" "${COOKBOOK_MESON_FLAGS[@]}" "$@"
  meson compile -j "${COOKBOOK_MAKE_JOBS}"
  DESTDIR="${COOKBOOK_STAGE}" meson install
}
function cookbook_cargo { echo "cookbook-standin: cookbook_cargo: cargo recipes are not supported here" >&2; return 1; }
EOF
}

# build NAME_OR_DIR: builds one recipe (its build dependencies first); prints nothing.
declare -A built=()
build() {
  local dir name meta w dep depdir kind
  dir=$(find_recipe "$1") || die "$1: no such recipe (looked for recipes/**/$1/recipe.toml)"
  name=$(basename "$dir")
  [ -z "${built[$name]:-}" ] || return 0
  w=$work/$name
  meta=$w/meta
  rm -rf "$meta" "$w/stage.tmp" "$w/sysroot"
  mkdir -p "$meta" "$w/build" "$w/sysroot/usr"
  read_recipe "$dir" "$meta"

  # Build dependencies, then the sysroot (usr-merged like the cookbook's).
  local d
  for d in bin include lib share; do
    mkdir -p "$w/sysroot/usr/$d"
    ln -sfn "usr/$d" "$w/sysroot/$d"
  done
  while read -r dep; do
    [ -n "$dep" ] || continue
    if ! depdir=$(find_recipe "$dep"); then
      echo "cookbook-standin: $name: dependency $dep is a Redox cookbook recipe; the host provides it" >&2
      continue
    fi
    kind=$(python3 -c 'import sys,tomllib; s=tomllib.load(open(sys.argv[1],"rb")).get("source") or {}; print(next((k for k in ("git","tar") if k in s), ""))' "$depdir/recipe.toml")
    if [ -n "$kind" ] && [ ! -d "$work/$dep/source" ]; then
      echo "cookbook-standin: $name: dependency $dep has a $kind source, not fetched here; the host's library stands in" >&2
      continue
    fi
    build "$dep"
    cp -a "$work/$dep/stage/." "$w/sysroot/"
  done < "$meta/deps"

  # The source folder, as the cookbook's fetch step leaves it.
  case $(cat "$meta/source-kind") in
    none) mkdir -p "$w/source" ;;
    path)
      rm -rf "$w/source"
      cp -a "$(cd "$dir" && cd "$(cat "$meta/source-path")" && pwd)" "$w/source" ;;
    same_as) die "$name: same_as sources are not supported by the stand-in" ;;
    *) [ -d "$w/source" ] || die "$name: source not present in $w/source (the stand-in fetches nothing)" ;;
  esac

  local template
  template=$(cat "$meta/template")
  mkdir -p "$w/stage.tmp"
  case $template in
    none) ;;
    custom | configure | cmake | meson)
      local script=$meta/full-script flags
      {
        prelude
        case $template in
          custom) cat "$meta/script" ;;
          configure | cmake | meson)
            case $template in configure) flags=COOKBOOK_CONFIGURE_FLAGS ;; cmake) flags=COOKBOOK_CMAKE_FLAGS ;; meson) flags=COOKBOOK_MESON_FLAGS ;; esac
            echo "DYNAMIC_INIT"
            while read -r f; do printf '%s+=(%q)\n' "$flags" "$f"; done < "$meta/${template}flags"
            echo "cookbook_$template" ;;
        esac
      } > "$script"
      local w_abs
      w_abs=$(cd "$w" && pwd -P)
      (
        cd "$w_abs/build"
        export TARGET=x86_64-unknown-linux-gnu GNU_TARGET=x86_64-linux-gnu
        export COOKBOOK_HOST_TARGET=x86_64-unknown-linux-gnu
        export COOKBOOK_NAME=$name COOKBOOK_RECIPE=$dir COOKBOOK_ROOT=$top
        export COOKBOOK_SOURCE=$w_abs/source COOKBOOK_BUILD=$w_abs/build
        export COOKBOOK_STAGE=$w_abs/stage.tmp COOKBOOK_SYSROOT=$w_abs/sysroot
        export COOKBOOK_MAKE_JOBS=${COOKBOOK_MAKE_JOBS:-$(nproc)}
        if [ -n "$offline" ]; then export COOKBOOK_OFFLINE=1; else unset COOKBOOK_OFFLINE; fi
        unset CC CXX AR LD CFLAGS LDFLAGS
        bash -e < "$script"
      ) || die "$name: build script failed"
      ;;
    *) die "$name: template '$template' is not supported by the stand-in" ;;
  esac
  rm -rf "$w/stage"
  mv "$w/stage.tmp" "$w/stage"
  built[$name]=1
}

mkdir -p "$work"
work=$(cd "$work" && pwd -P)
build "$1"
stage=$work/$(basename "$(find_recipe "$1")")/stage
if [ -n "$list" ]; then
  (cd "$stage" && find . -mindepth 1 -printf '%y %m %P\n' | LC_ALL=C sort -k3)
else
  echo "$stage"
fi
