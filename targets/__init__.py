"""Target descriptions: one TOML file per device in this folder, validated by one loader.

A target says what code to generate (LLVM triple, CPU, features, or a CUDA arch), how to link it
(cross toolchain) and how to run it here when the host cannot (emulator). ``-t`` accepts a name
of a file in this folder or a path to a user's own TOML file.
"""
from __future__ import annotations

import platform
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from edgec.errors import UserInputError
from edgec.runtime.files import read_bytes

TARGETS_DIR = Path(str(resources.files(__name__)))  # the shipped *.toml files are package data
_KINDS = ("llvm", "cuda")
_HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


@dataclass(frozen=True)
class Toolchain:
    """Cross compiler that links the model library, and the Debian package that provides it."""

    cxx: str = ""
    package: str = ""


@dataclass(frozen=True)
class Emulator:
    """How to run this target's binaries on a host of another architecture (qemu-user)."""

    command: str = ""
    sysroot: str = ""
    package: str = ""


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    kind: str = "llvm"
    triple: str = ""
    cpu: str = ""
    features: tuple[str, ...] = ()
    cores: int = 0
    arch: str = ""  # CUDA compute capability, e.g. sm_87
    float_abi: str = ""
    abi: str = ""
    host: "Target | None" = None  # CPU side of a GPU target
    library: str = ""  # library format when not the backend's default: "tar" (objects, linked on the device's NDK)
    toolchain: Toolchain = field(default_factory=Toolchain)
    emulator: Emulator = field(default_factory=Emulator)

    @property
    def arch_family(self) -> str:
        """First component of the triple (x86_64, aarch64, armv7a, riscv64) or 'cuda'."""
        return "cuda" if self.kind == "cuda" else self.triple.split("-")[0]

    @property
    def is_cross(self) -> bool:
        """True when code for this target cannot run natively on this machine."""
        if self.kind == "cuda":
            return False
        return self.arch_family != host_arch()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, d: dict, source: str = "<dict>") -> "Target":
        return _parse(dict(d), source)


def host_arch() -> str:
    return _HOST_ARCH.get(platform.machine().lower(), platform.machine().lower())


def _parse(raw: dict, source: str) -> Target:
    known = {"name", "description", "kind", "triple", "cpu", "features", "cores", "arch", "float_abi",
             "abi", "host", "library", "toolchain", "emulator"}
    unknown = set(raw) - known
    if unknown:
        raise UserInputError(f"{source}: unknown target key(s) {sorted(unknown)}; known: {sorted(known)}")
    for key in ("name", "description"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise UserInputError(f"{source}: '{key}' must be a non-empty string")
    kind = raw.get("kind", "llvm")
    if kind not in _KINDS:
        raise UserInputError(f"{source}: kind must be one of {_KINDS}, got {kind!r}")
    if kind == "llvm" and not raw.get("triple"):
        raise UserInputError(f"{source}: an llvm target needs 'triple' (e.g. aarch64-linux-gnu)")
    if kind == "cuda" and not str(raw.get("arch", "")).startswith("sm_"):
        raise UserInputError(f"{source}: a cuda target needs 'arch' like 'sm_80'")
    features = raw.get("features", [])
    if not isinstance(features, list) or not all(isinstance(f, str) and f[:1] in "+-" for f in features):
        raise UserInputError(f"{source}: 'features' must be a list like ['+neon', '+dotprod']")
    cores = raw.get("cores", 0)
    if not isinstance(cores, int) or cores < 0:
        raise UserInputError(f"{source}: 'cores' must be a non-negative integer")
    host = raw.get("host")
    if host is not None:
        host = _parse({"name": f"{raw['name']}-host", "description": "host CPU",
                       "toolchain": raw.get("toolchain") or {}, **host}, source)
    return Target(
        name=raw["name"], description=raw["description"], kind=kind, triple=raw.get("triple", ""),
        cpu=raw.get("cpu", ""), features=tuple(features), cores=cores, arch=raw.get("arch", ""),
        float_abi=raw.get("float_abi", ""), abi=raw.get("abi", ""), host=host, library=_library(raw, source),
        toolchain=Toolchain(**_section(raw, "toolchain", source, Toolchain)),
        emulator=Emulator(**_section(raw, "emulator", source, Emulator)),
    )


def _library(raw: dict, source: str) -> str:
    lib = raw.get("library", "")
    if lib not in ("", "so", "tar"):
        raise UserInputError(f"{source}: 'library' must be \"so\" or \"tar\", got {lib!r}")
    return lib


def _section(raw: dict, key: str, source: str, cls: type) -> dict:
    sec = raw.get(key) or {}
    allowed = set(cls.__dataclass_fields__)
    if not isinstance(sec, dict) or set(sec) - allowed:
        raise UserInputError(f"{source}: [{key}] may only hold {sorted(allowed)}")
    return sec


def available() -> list[str]:
    """Names of the targets shipped with edgec."""
    return sorted(p.stem for p in TARGETS_DIR.glob("*.toml"))


def load_target(name_or_path: "str | Path | Target") -> Target:
    """Load a shipped target by name, or a user's TOML file by path."""
    if isinstance(name_or_path, Target):
        return name_or_path
    s = str(name_or_path)
    path = Path(s)
    if not s.endswith(".toml"):
        path = TARGETS_DIR / f"{s}.toml"
        if not path.exists():
            raise UserInputError(f"unknown target '{s}'", hint=f"known targets: {', '.join(available())}; or pass a .toml path")
    if not path.exists():
        raise UserInputError(f"target file not found: {path}")
    try:
        raw = tomllib.loads(read_bytes(path, "target file", 1 << 20).decode("utf-8", "replace"))
    except tomllib.TOMLDecodeError as e:
        raise UserInputError(f"{path}: not valid TOML: {e}") from None
    target = _parse(raw, str(path))
    return _resolve_host(target) if target.triple == "native" else target


def _resolve_host(t: Target) -> Target:
    """'host' is detected: the triple of this machine (the CPU is resolved by the compiler)."""
    arch = host_arch()
    triple = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}.get(arch, f"{arch}-linux-gnu")
    import os

    return Target(**{**t.__dict__, "triple": triple, "cores": t.cores or (os.cpu_count() or 1)})


def trusted_tools(target: dict) -> Target | None:
    """The shipped target whose toolchain and emulator serve an artifact built for ``target`` (a
    manifest's target dict): the one of the same name when its triple agrees, else the first
    shipped target with the same triple, else with the same architecture. Commands are never
    taken from the manifest: an artifact is data, and running what it names would let a
    downloaded artifact choose a program to execute. None when edgec ships nothing for it."""
    triple = str(target.get("triple") or "")
    arch = triple.split("-")[0]
    shipped = [load_target(n) for n in available()]
    shipped = [t for t in shipped if t.kind == "llvm" and t.triple != "native"]
    for ok in (lambda t: t.name == target.get("name") and t.triple == triple, lambda t: t.triple == triple,
               lambda t: t.arch_family == arch):
        for t in shipped:
            if ok(t) and (t.toolchain.cxx or t.emulator.command):
                return t
    return None
