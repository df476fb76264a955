#!/usr/bin/env bash
# Installs the Debian 12 packages revm needs to build, test and benchmark.
# Usage: scripts/install-deps.sh [--check]
#   --check  only report missing packages (exit 1 if any are missing)
# As root it installs what is missing with apt-get; otherwise it names the
# missing packages and the command to install them, and fails.
set -euo pipefail

packages=(
  # build
  build-essential pkg-config clang libclang-rt-14-dev musl-tools
  libarchive-dev libcurl4-openssl-dev libssl-dev libsodium-dev libinih-dev libcmocka-dev
  # image pipeline
  btrfs-progs e2fsprogs qemu-utils fakeroot xz-utils zstd kmod cpio
  # VMs
  qemu-system-x86
  # fixtures and tests
  debootstrap busybox-static b3sum minisign tmux desktop-file-utils socat python3 util-linux attr libcap2-bin time bc
  dpkg-dev file  # app-packages e2e: dpkg-scanpackages, icon type check
  libfuse3-dev fuse3  # revm-fuse (revm mount) and its tests
  openssl openssh-client  # void-kernel-repo e2e: test repository key, .sig2 signatures, xbps fingerprint
  libxcb1-dev libxcb-composite0-dev libxcb-damage0-dev libxcb-xfixes0-dev libxcb-xtest0-dev  # window service: agent and X11 back end
  xvfb xterm x11-apps x11-utils xdotool xclip  # window-service tests: displays, input, screenshots, clipboard
  iproute2 iputils-ping ethtool  # device-service tests: namespaces, ping, veth offloads off
  libnbd-bin  # dev-block e2e: nbdfuse, the NBD export as a file to make a filesystem on
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  echo "install-deps: missing Debian packages: ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing Debian packages: ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
