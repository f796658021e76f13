"""Run a cross-compiled artifact here, under qemu-user, through its device bundle.

Correctness only: emulated timings are labelled emulated and never reported as device latency.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from edgec.errors import ArtifactError, ToolchainError
from edgec.runtime.artifact import Artifact
from edgec.runtime.host import is_foreign


def emulator_command(target: dict) -> list[str]:
    """qemu-user and its sysroot for a foreign artifact, from edgec's own target database (the
    manifest's target only says which architecture): an artifact never chooses a command."""
    from edgec.targets import trusted_tools

    if not is_foreign(target):
        return []
    known = trusted_tools(target)
    emu = known.emulator if known else None
    if not emu or not emu.command:
        raise ToolchainError(f"edgec knows no emulator for {target.get('triple')!r} (target {target.get('name')!r}); "
                             "run the bundle on the device")
    if shutil.which(emu.command) is None:
        raise ToolchainError(f"emulator '{emu.command}' is not installed",
                             hint=f"apt-get install {emu.package or 'qemu-user'} (make setup does this)")
    return [emu.command] + (["-L", emu.sysroot] if emu.sysroot else [])


def bundle_for(art: Artifact, quiet: bool = True) -> Path:
    """The artifact's device bundle, built once and cached by the manifest's hash."""
    from edgec.bundle import native_sources_hash, package
    from edgec.models import cache_dir

    manifest = (art.path / "manifest.json").read_bytes()  # checked by Artifact.open
    from edgec.runtime.micro_build import sources_hash

    key = hashlib.sha256(manifest + native_sources_hash().encode() + sources_hash().encode()).hexdigest()[:16]
    out = cache_dir() / "bundles" / key
    if not (out / "edgec-run").exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        package(art, out, force=True, quiet=quiet)
    return out


def run_bundle(art: Artifact, feeds: dict, repeat: int = 0, threads: int | None = None) -> tuple[dict, dict | None]:
    """Run the bundle (under qemu for a cross target); returns (outputs, timing json or None)."""
    from edgec.runtime.session import check_feeds

    names = [i.name for i in art.manifest.inputs]
    check_feeds(art.manifest.inputs, feeds)
    bundle = bundle_for(art)
    with tempfile.TemporaryDirectory(prefix="edgec-emu-") as tmp:
        cmd = emulator_command(art.manifest.target) + [str(bundle / "edgec-run"), str(bundle / art.manifest.library)]
        for i, name in enumerate(names):
            np.save(Path(tmp) / f"in{i}.npy", np.ascontiguousarray(feeds[name]))
            cmd += ["--input", str(Path(tmp) / f"in{i}.npy")]
        cmd += ["--output-dir", tmp]
        if repeat:
            cmd += ["--repeat", str(repeat)]
        if threads:
            cmd += ["--threads", str(threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            raise ArtifactError(f"the device runner failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        outs = _read_outputs(art, Path(tmp))
    timing = None
    if repeat:
        import json

        timing = json.loads(proc.stdout.strip().splitlines()[-1])
    return outs, timing


def _read_outputs(art: Artifact, folder: Path) -> dict[str, np.ndarray]:
    """The runner's N.npy files, held to the manifest's output count, shapes and dtypes."""
    from edgec.runtime.session import check_outputs, output_specs

    written = sorted(p.name for p in folder.glob("[0-9]*.npy"))
    arrays = []
    for i in range(len(written)):
        try:
            arrays.append(np.load(folder / f"{i}.npy", allow_pickle=False))
        except (OSError, ValueError) as e:
            raise ArtifactError(f"the device runner wrote an unreadable output {i}.npy: {e}") from None
    return check_outputs(output_specs(art.manifest.outputs), arrays, f"artifact {art.path}")


def run_emulated(art: Artifact, feeds: dict) -> dict:
    from edgec.runtime.micro_build import is_bare_metal

    if is_bare_metal(str(art.manifest.target.get("triple", ""))):  # an image under qemu-system-arm
        from edgec.runtime.micro_baremetal import run_baremetal

        return run_baremetal(art, feeds)
    return run_bundle(art, feeds)[0]
