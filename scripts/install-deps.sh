#!/usr/bin/env bash
# Installs the Debian packages memtrace builds and tests with, only those that are missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libfmt-dev libabsl-dev libgtest-dev libgmock-dev libcli11-dev libzstd-dev libunwind-dev libdw-dev libelf-dev zlib1g-dev
  strace valgrind heaptrack python3 golang-go
  libc6-dbg  # libc's separate debug file: test_cxx_stacks symbolizes a libc frame from it
  libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0
  chromium
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "memtrace: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "memtrace: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
