#!/usr/bin/env bash
# System packages edgec needs beyond Python: cross toolchains for ARM/RISC-V boards and qemu-user
# to run their binaries here; the bare-metal Cortex-M toolchain (newlib) and qemu-system-arm for the
# micro runtime's bare-metal target. Installs only what is missing; skips (with a note) without apt/root.
set -euo pipefail
PKGS=(g++-aarch64-linux-gnu g++-arm-linux-gnueabihf g++-riscv64-linux-gnu qemu-user cmake
      gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "[setup] no apt-get: install ${missing[*]} yourself for cross-compilation and emulation" >&2; exit 0
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "[setup] installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
