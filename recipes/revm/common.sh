# shellcheck shell=bash
# Shared by the revm recipes' build scripts (sourced from recipe.toml as
# . "${COOKBOOK_RECIPE}/../common.sh"). The recipes build from the revm source tree
# that holds them: recipes/revm/NAME/ -> three levels up, or $REVM_SOURCE.
# Runs under the cookbook's bash -e with its variables (COOKBOOK_*, TARGET, GNU_TARGET).

REVM_SOURCE=${REVM_SOURCE:-$(cd "${COOKBOOK_RECIPE}/../../.." && pwd -P)}
if [ ! -f "${REVM_SOURCE}/scripts/mkimage-args.sh" ] || [ ! -d "${REVM_SOURCE}/bridge" ]; then
  echo "revm recipe: ${REVM_SOURCE}: not a revm source tree (set REVM_SOURCE)" >&2
  exit 1
fi
REVM_JOBS=${COOKBOOK_MAKE_JOBS:-1}
# Tools that run on the build machine (mkimage, the guest daemon's musl compiler) use
# the build machine's compilers whatever the cookbook's CC points at.
REVM_HOST_CC=${REVM_HOST_CC:-cc}
REVM_MUSLCC=${REVM_MUSLCC:-musl-gcc}

# revm_build_guestd OUT: the static musl guest daemon, built for Linux x86_64 (it runs
# inside the VMs, never on Redox). Prints its path.
revm_build_guestd() {
  local out=$1
  make -s -C "${REVM_SOURCE}/bridge" -j"${REVM_JOBS}" BUILD="${out}" TOP="${REVM_SOURCE}" \
    MUSLCC="${REVM_MUSLCC}" "${out}/lib/revm/revm-guestd" >&2
  echo "${out}/lib/revm/revm-guestd"
}

# revm_host_mkimage: the mkimage to run: $REVM_MKIMAGE, else one built here for the
# build machine (with its data files beside it, <prefix>/lib/revm/). Prints its path.
revm_host_mkimage() {
  if [ -n "${REVM_MKIMAGE:-}" ]; then
    [ -x "${REVM_MKIMAGE}" ] || { echo "revm recipe: REVM_MKIMAGE=${REVM_MKIMAGE}: not executable" >&2; return 1; }
    echo "${REVM_MKIMAGE}"
    return
  fi
  local out=${COOKBOOK_BUILD}/host
  make -s -C "${REVM_SOURCE}/mkimage" -j"${REVM_JOBS}" BUILD="${out}" TOP="${REVM_SOURCE}" \
    CC="${REVM_HOST_CC}" all >&2
  echo "${out}/bin/mkimage"
}

# revm_build_variant VARIANT: the VM image of one variant, made by mkimage exactly as
# scripts/regen-images.sh makes it, staged under /usr/lib/revm/:
#   images/VARIANT.qcow2, images/VARIANT.vmlinuz, images/VARIANT.initramfs
#   profiles/VARIANT.ini                (the launch profile revmd reads)
#   /usr/lib/init.d/NN_revm-VARIANT.service, when the variant starts at boot
revm_build_variant() {
  local variant=$1 mkimage bridge out unit
  # shellcheck source=scripts/mkimage-args.sh
  . "${REVM_SOURCE}/scripts/mkimage-args.sh"
  revm_images_resolve
  revm_offline_check
  revm_kernel_fetch
  bridge=${COOKBOOK_SYSROOT}/usr/lib/revm/revm-guestd
  [ -x "${bridge}" ] || { echo "revm recipe: ${bridge}: missing (build dependency revm-guestd)" >&2; return 1; }
  mkimage=$(revm_host_mkimage)
  out=${COOKBOOK_BUILD}/images
  rm -rf "${out}"
  revm_mkimage_args "${variant}" "${out}" "${bridge}"
  "${mkimage}" "${MKIMAGE_ARGS[@]}" >&2 # its summary table is for people; stdout stays clean
  install -D -m0644 "${out}/${variant}.qcow2" "${COOKBOOK_STAGE}/usr/lib/revm/images/${variant}.qcow2"
  install -D -m0644 "${out}/${variant}.vmlinuz" "${COOKBOOK_STAGE}/usr/lib/revm/images/${variant}.vmlinuz"
  install -D -m0644 "${out}/${variant}.initramfs" "${COOKBOOK_STAGE}/usr/lib/revm/images/${variant}.initramfs"
  install -D -m0644 "${REVM_SOURCE}/bridge/profiles/${variant}.ini" "${COOKBOOK_STAGE}/usr/lib/revm/profiles/${variant}.ini"
  for unit in "${REVM_SOURCE}"/recipes/init.d/[0-9][0-9]_revm-"${variant}".service; do
    [ -f "${unit}" ] && install -D -m0644 "${unit}" "${COOKBOOK_STAGE}/usr/lib/init.d/${unit##*/}"
  done
  return 0
}
