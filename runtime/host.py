"""Can this artifact run here? Decided when it is loaded, on the machine that loads it.

The manifest records what the code needs (``target.requires``: the machine architecture and the
CPU features its target implies, in the target TOMLs' LLVM spelling: ``avx2``, ``avx512vnni``,
``neon``, ``dotprod``). This module describes the machine we are on, from the OS: the
architecture from ``platform.machine()``, features from /proc/cpuinfo flags on x86 and from the
ELF auxiliary vector (AT_HWCAP/AT_HWCAP2 in /proc/self/auxv) on Arm and RISC-V, which qemu-user
emulates for the CPU it models (its /proc/cpuinfo is the host's). The native runner makes the
same check in C++ (runtime/native/edgec_host.cc); the feature tables here and there must agree.

Tests fake the description (not the CPU) with ``EDGEC_HOST_CPU="aarch64:asimd,asimddp"``:
machine, then features in OS or LLVM spelling.
"""
from __future__ import annotations

import os
import platform
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from edgec.errors import ArtifactError

FAKE_ENV = "EDGEC_HOST_CPU"

# Features worth checking per machine: LLVM name -> name the OS reports (x86: /proc/cpuinfo flag;
# aarch64/armv7: /proc/cpuinfo "Features" word, the same bits as AT_HWCAP). Only features that
# generated code may use; others a -mcpu implies (aes, crc, ...) are left out on purpose: the
# Raspberry Pi 4's Cortex-A72 has no crypto extension although LLVM's cortex-a72 does.
FEATURES: dict[str, dict[str, str]] = {
    "x86_64": {
        "sse4.1": "sse4_1", "sse4.2": "sse4_2", "popcnt": "popcnt", "avx": "avx", "avx2": "avx2", "fma": "fma",
        "f16c": "f16c", "bmi": "bmi1", "bmi2": "bmi2", "avx512f": "avx512f", "avx512bw": "avx512bw",
        "avx512cd": "avx512cd", "avx512dq": "avx512dq", "avx512vl": "avx512vl", "avx512vnni": "avx512_vnni",
        "avxvnni": "avx_vnni", "avx512bf16": "avx512_bf16", "avx512fp16": "avx512_fp16",
    },
    "aarch64": {"neon": "asimd", "fullfp16": "asimdhp", "rdm": "asimdrdm", "dotprod": "asimddp", "sve": "sve",
                "sve2": "sve2", "i8mm": "i8mm", "bf16": "bf16"},
    "armv7": {"neon": "neon", "vfp3": "vfpv3", "vfp4": "vfpv4"},
    "riscv64": {x: x for x in "mafdcv"},
}
# (AT_HWCAP or AT_HWCAP2, bit) per feature, from linux/arch/*/include/uapi/asm/hwcap.h
_AT_HWCAP, _AT_HWCAP2 = 16, 26
_HWCAP_BITS: dict[str, dict[str, tuple[int, int]]] = {
    "aarch64": {"neon": (_AT_HWCAP, 1), "fullfp16": (_AT_HWCAP, 10), "rdm": (_AT_HWCAP, 12),
                "dotprod": (_AT_HWCAP, 20), "sve": (_AT_HWCAP, 22), "sve2": (_AT_HWCAP2, 1),
                "i8mm": (_AT_HWCAP2, 13), "bf16": (_AT_HWCAP2, 14)},
    "armv7": {"neon": (_AT_HWCAP, 12), "vfp3": (_AT_HWCAP, 13), "vfp4": (_AT_HWCAP, 16)},
    "riscv64": {x: (_AT_HWCAP, ord(x) - ord("a")) for x in "mafdcv"},
}
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64", "armv7l": "armv7",
             "armv7": "armv7", "armv7a": "armv7", "armv8l": "armv7", "arm": "armv7", "riscv64": "riscv64"}


@dataclass(frozen=True)
class HostCPU:
    """This machine as the OS describes it (or as EDGEC_HOST_CPU fakes it)."""

    machine: str
    features: frozenset[str]
    source: str

    def has(self, feature: str) -> bool:
        return feature in self.features


def normalize_machine(name: str) -> str:
    """x86_64 / aarch64 / armv7 / riscv64 from a uname machine or the first part of a triple."""
    n = name.lower()
    return _MACHINES.get(n, "armv7" if n.startswith("armv7") else n)


def requirements(triple: str, features: Iterable[str]) -> dict:
    """What code for ``triple`` compiled with ``features`` (LLVM names) needs from a CPU: the
    manifest's ``target.requires``. Only features this module can check are kept."""
    machine = normalize_machine(triple.split("-")[0])
    known = FEATURES.get(machine, {})
    return {"machine": machine, "cpu_features": sorted({f.lstrip("+") for f in features} & set(known))}


def required(target: dict) -> dict:
    """``target.requires`` of a manifest; for one written before it existed, derived from the triple
    and the TOML's ``+features`` (CUDA artifacts: their host CPU)."""
    if target.get("requires"):
        return target["requires"]
    cpu = (target.get("host") or {}) if target.get("kind") == "cuda" else target
    if not cpu.get("triple"):
        return {}
    return requirements(cpu["triple"], [f for f in cpu.get("features", []) if f.startswith("+")])


def _parse_fake(text: str) -> HostCPU:
    machine, _, feats = text.partition(":")
    machine = normalize_machine(machine.strip())
    names = {f.strip() for f in feats.split(",")}
    table = FEATURES.get(machine, {})
    return HostCPU(machine, frozenset(f for f, os_name in table.items() if f in names or os_name in names), FAKE_ENV)


def _machine() -> str:
    m = normalize_machine(platform.machine())
    if m == "aarch64" and struct.calcsize("P") == 4:  # 32-bit userland on a 64-bit kernel
        return "armv7"
    return m


def _auxv() -> dict[int, int]:
    """AT_* entries of this process's auxiliary vector (native word size)."""
    word = struct.calcsize("P")
    fmt = "QQ" if word == 8 else "II"
    with open("/proc/self/auxv", "rb") as f:
        data = f.read()
    out = {}
    for i in range(0, len(data) - 2 * word + 1, 2 * word):
        key, val = struct.unpack_from(fmt, data, i)
        if key == 0:
            break
        out[key] = val
    return out


def _cpuinfo_words(key: str) -> set[str]:
    with open("/proc/cpuinfo") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name.strip().lower() == key:
                return set(value.split())
    return set()


def features_from_hwcap(machine: str, hwcap: int, hwcap2: int = 0) -> frozenset[str]:
    """Checkable features set in AT_HWCAP / AT_HWCAP2 of an Arm or RISC-V process."""
    words = {_AT_HWCAP: hwcap, _AT_HWCAP2: hwcap2}
    return frozenset(f for f, (at, bit) in _HWCAP_BITS.get(machine, {}).items() if words[at] >> bit & 1)


def features_from_flags(machine: str, words: Iterable[str]) -> frozenset[str]:
    """Checkable features among /proc/cpuinfo words (x86 "flags", Arm "Features")."""
    have = set(words)
    return frozenset(f for f, os_name in FEATURES.get(machine, {}).items() if os_name in have)


def _detect() -> HostCPU:
    machine = _machine()
    try:
        if machine in _HWCAP_BITS:
            try:
                aux = _auxv()
                return HostCPU(machine, features_from_hwcap(machine, aux.get(_AT_HWCAP, 0), aux.get(_AT_HWCAP2, 0)),
                               "/proc/self/auxv")
            except OSError:
                return HostCPU(machine, features_from_flags(machine, _cpuinfo_words("features")), "/proc/cpuinfo")
        return HostCPU(machine, features_from_flags(machine, _cpuinfo_words("flags")), "/proc/cpuinfo")
    except OSError:
        return HostCPU(machine, frozenset(), "unknown")


@lru_cache(maxsize=4)
def _cached(fake: str | None) -> HostCPU:
    return _parse_fake(fake) if fake else _detect()


def describe() -> HostCPU:
    """This machine: architecture and the checkable CPU features it has."""
    return _cached(os.environ.get(FAKE_ENV) or None)


def is_foreign(target: dict) -> bool:
    """True when the artifact's code is for another architecture than this machine's (it can
    only run here under an emulator, through its device bundle)."""
    if target.get("kind") == "cuda":
        return False
    machine = required(target).get("machine")
    return bool(machine) and machine != describe().machine


def check(target: dict, what: str = "this artifact") -> None:
    """Raise ArtifactError naming the architecture or the CPU features ``what`` needs and this
    machine lacks; return quietly when it can run here."""
    need = required(target)
    if not need:
        return
    host = describe()
    name = target.get("name", "?")
    built = f"{name} ({target.get('triple') or (target.get('host') or {}).get('triple', '?')}" \
            f"{', ' + target['cpu'] if target.get('cpu') else ''})"
    if need["machine"] != host.machine:
        raise ArtifactError(f"{what} was compiled for {built}: {need['machine']} code; this machine is {host.machine}",
                            hint="copy it to the device and load it there, or run it under qemu with "
                                 "`edgec run --emulate` / `edgec verify`")
    lacking = [f for f in need.get("cpu_features", []) if not host.has(f)]
    if lacking and host.source != "unknown":  # no /proc to read: let it try rather than refuse all
        raise ArtifactError(
            f"{what} was compiled for {built} and needs CPU feature(s) {', '.join(lacking)}, which this "
            f"{host.machine} CPU lacks (read from {host.source})",
            hint="compile it for this machine (-t host) or for a target this CPU has everything of")
