"""`edgec package` for a micro-runtime artifact: the model library, its manifest and edgec-run (the
C runtime linked in), built with the target's C compiler. No TVM runtime, no C++ runtime.

bundle/
  model.so        kernels + static plan + weights (the artifact's library, unchanged)
  manifest.json   checked by edgec-run before any of the model's code is loaded
  edgec-run       the runner: runtime/micro compiled for the device
  README.txt      the one command to run it on the device
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgec import outdir
from edgec.errors import ToolchainError, UserInputError
from edgec.runtime.artifact import Artifact
from edgec.runtime.host import is_foreign

if TYPE_CHECKING:  # edgec.bundle imports this module
    from edgec.bundle import Bundle


def device_cc(target: dict) -> str | None:
    """The device's C compiler from edgec's own target database (never a command from the
    manifest): its cross g++ with gcc in its place; None for this machine."""
    from edgec.targets import trusted_tools

    if not is_foreign(target):
        return None
    known = trusted_tools(target)
    cxx = known.toolchain.cxx if known else ""
    if not cxx:
        raise ToolchainError(f"edgec knows no cross compiler for {target.get('triple')!r} (target {target.get('name')!r})")
    return cxx[:-3] + "gcc" if cxx.endswith("g++") else cxx


def runner_build(target: dict, quiet: bool = True) -> Path:
    """Folder with edgec-run and libedgec_micro.so for the artifact's device."""
    from edgec.runtime.micro_build import build

    return build(device_cc(target))


def package_micro(art: Artifact, out: Path, force: bool, quiet: bool) -> Bundle:
    """The micro runtime's bundle (edgec.bundle.package calls this for a micro artifact)."""
    from edgec.bundle import usage, write_bundle
    from edgec.runtime.micro_build import is_bare_metal

    t = art.manifest.target
    if is_bare_metal(str(t.get("triple", ""))):
        raise UserInputError(f"{t['name']} is bare metal: its artifact is {art.manifest.library}, to link into your "
                             "firmware with runtime/micro (runtime/micro/baremetal shows how)",
                             hint="edgec verify runs it under qemu-system-arm")
    outdir.prepare(out, force, "bundle", outdir.bundle_files)
    build = runner_build(t, quiet)
    run, sig = usage(art)
    micro = art.manifest.compile_options.get("micro") or {}
    readme = (
        f"edgec bundle for {t['name']} ({t['triple']}, {t.get('cpu')}), micro runtime\n\n"
        f"On the device, in this folder:\n  mkdir -p out && {run}\n\n"
        f"Inputs are .npy files in the order below; outputs are written as out/N.npy.\n{sig}\n"
        "No Python and no TVM runtime: edgec-run holds edgec's C runtime and needs only libc.\n"
        f"Memory: arena {micro.get('arena_bytes', '?')} bytes, workspace {micro.get('workspace_bytes', '?')} "
        "bytes per thread, weights inside model.so.\n")
    sizes = bundle_sizes((build / "edgec-run").stat().st_size, art.library, micro)
    record = {"run": run, "arch": t["triple"].split("-")[0], "target": t["name"], "runtime": "micro"}
    return write_bundle(art, out, {"edgec-run": build / "edgec-run"}, readme, record, sizes)


def bundle_sizes(runtime_bytes: int, library: Path, micro: dict) -> dict[str, int]:
    """Bytes per part on the device: the runtime (in a bundle: edgec-run, edgec's runtime + .npy
    I/O, stripped), the model library's code (kernels + plan) and weights, and the memory a run
    uses (arena, workspace)."""
    lib = library.stat().st_size
    weights = int(micro.get("weights_bytes", 0))
    return {"runtime_bytes": runtime_bytes, "kernels_bytes": lib - weights, "weights_bytes": weights,
            "arena_bytes": int(micro.get("arena_bytes", 0)), "workspace_bytes": int(micro.get("workspace_bytes", 0))}


def artifact_sizes(art: Artifact) -> dict[str, int] | None:
    """``bundle_sizes`` of a micro artifact for its device, without writing a bundle (`edgec
    bench`); None for a VM artifact. On bare metal the runtime is its code in the image
    (edgec.baremetal.runtime_code_bytes) and kernels+plan the model archive less its weights."""
    from edgec.runtime.micro_build import is_bare_metal

    opts = art.manifest.compile_options
    if opts.get("runtime") != "micro":
        return None
    micro = opts.get("micro") or {}
    t = art.manifest.target
    if not is_bare_metal(str(t.get("triple", ""))):
        return bundle_sizes((runner_build(t) / "edgec-run").stat().st_size, art.library, micro)
    from edgec.baremetal import runtime_code_bytes

    return bundle_sizes(runtime_code_bytes(t), art.library, micro)
