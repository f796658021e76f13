"""Build runtime/micro (C99) with a C compiler: libedgec_micro.so for Python on this machine,
edgec-run (the runtime linked in) for bundles. Cached by a hash of the sources and the compiler,
so each is built once."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgec.errors import EdgecError, ToolchainError

MICRO_SRC = Path(__file__).resolve().parent / "micro"
RUNTIME_SOURCES = ("runtime.c", "pool.c", "loader.c", "host.c", "sha256.c", "json.c")
RUNNER_SOURCES = ("edgec_run.c", "npy.c")
CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-ffunction-sections", "-fdata-sections")


def sources_hash() -> str:
    h = hashlib.sha256()
    for p in sorted(MICRO_SRC.glob("*.[ch]")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _cache_root() -> Path:
    env = os.environ.get("EDGEC_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("edgec"))


def host_cc() -> str:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise ToolchainError("the micro runtime is built with a C compiler, and this machine has none",
                             hint="apt-get install gcc (make setup does this)")
    return cc


# FPU of each Cortex-M core gcc needs to be told about (hard-float: the kernels pass floats in VFP registers)
_M_FPU = {"cortex-m4": "fpv4-sp-d16", "cortex-m7": "fpv5-d16", "cortex-m33": "fpv5-sp-d16", "cortex-m55": "auto"}


def is_bare_metal(triple: str) -> bool:
    return triple.endswith("-none-eabi") or triple.endswith("-none-elf")


def bare_metal_cflags(target) -> list[str]:
    """gcc's flags for code that links with the kernels TVM built for a microcontroller
    (``target``: an edgec Target or a manifest's target dict)."""
    get = target.get if isinstance(target, dict) else lambda k, d="": getattr(target, k, d)
    cpu, float_abi = str(get("cpu", "")), str(get("float_abi", "") or "soft")
    flags = [f"-mcpu={cpu}", "-mthumb", f"-mfloat-abi={float_abi}"]
    if float_abi != "soft":
        flags.append(f"-mfpu={_M_FPU.get(cpu, 'auto')}")
    return flags


def page_size_flags(cc: str) -> list[str]:
    """aarch64 linkers pad segments to 64 KB pages by default (a 25 KB runner became a 68 KB file);
    16 KB pages still load on 4 KB and 16 KB kernels (Raspberry Pi 5 runs 16 KB pages)."""
    return ["-Wl,-z,max-page-size=16384"] if "aarch64" in Path(cc).name else []


def _run(cmd: list[str], cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise EdgecError(f"building the micro runtime failed: {' '.join(cmd[:2])} ...\n{proc.stderr[-2000:]}")
    return proc.stderr


def build(cc: str | None = None) -> Path:
    """Folder holding libedgec_micro.so and edgec-run built with ``cc`` (the host's by default)."""
    cc = cc or host_cc()
    if shutil.which(cc) is None:
        raise ToolchainError(f"C compiler '{cc}' is not installed", hint="make setup installs the cross toolchains")
    key = hashlib.sha256(f"{cc} {sources_hash()}".encode() + Path(__file__).read_bytes()).hexdigest()[:16]
    out = _cache_root() / "micro" / key
    if (out / "edgec-run").exists() and (out / "libedgec_micro.so").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=out.parent))
    try:
        srcs = [str(MICRO_SRC / s) for s in RUNTIME_SOURCES]
        link = ["-Wl,--gc-sections", "-s", "-pthread", "-ldl", *page_size_flags(cc)]
        warnings = _run([cc, *CFLAGS, "-fPIC", "-shared", "-o", "libedgec_micro.so", *srcs, *link], tmp)
        warnings += _run([cc, *CFLAGS, "-o", "edgec-run", *srcs, *(str(MICRO_SRC / s) for s in RUNNER_SOURCES),
                          *link], tmp)
        (tmp / "warnings.txt").write_text(warnings)
        try:
            tmp.rename(out)
        except OSError:  # built meanwhile by another process
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
