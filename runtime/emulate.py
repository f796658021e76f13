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

from edgec.errors import ArtifactError, InputSpecError, ToolchainError
from edgec.runtime.artifact import Artifact
from edgec.runtime.host import is_foreign


def _emulator(art: Artifact) -> list[str]:
    t = art.manifest.target
    emu = t.get("emulator") or {}
    if not is_foreign(t):
        return []
    if not emu.get("command"):
        raise ToolchainError(f"target {t['name']} names no emulator; run the bundle on the device")
    if shutil.which(emu["command"]) is None:
        raise ToolchainError(f"emulator '{emu['command']}' is not installed",
                             hint=f"apt-get install {emu.get('package') or 'qemu-user'} (make setup does this)")
    cmd = [emu["command"]]
    if emu.get("sysroot"):
        cmd += ["-L", emu["sysroot"]]
    return cmd


def bundle_for(art: Artifact, quiet: bool = True) -> Path:
    """The artifact's device bundle, built once and cached by the manifest's hash."""
    from edgec.models import cache_dir
    from edgec.bundle import package

    key = hashlib.sha256((art.path / "manifest.json").read_bytes()).hexdigest()[:16]
    out = cache_dir() / "bundles" / key
    if not (out / "edgec-run").exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        package(art, out, force=True, quiet=quiet)
    return out


def run_bundle(art: Artifact, feeds: dict, repeat: int = 0, threads: int | None = None) -> tuple[dict, dict | None]:
    """Run the bundle (under qemu for a cross target); returns (outputs, timing json or None)."""
    names = [i.name for i in art.manifest.inputs]
    if sorted(feeds) != sorted(names):
        raise InputSpecError(f"input names do not match the model: got {sorted(feeds)}, the model takes {names}")
    for spec in art.manifest.inputs:
        a = np.asarray(feeds[spec.name])
        if tuple(a.shape) != spec.shape or a.dtype != np.dtype(spec.dtype):
            raise InputSpecError(f"input '{spec.name}' is {a.dtype}{list(a.shape)}, the model expects "
                                 f"{spec.dtype}{list(spec.shape)}")
    bundle = bundle_for(art)
    with tempfile.TemporaryDirectory(prefix="edgec-emu-") as tmp:
        cmd = _emulator(art) + [str(bundle / "edgec-run"), str(bundle / art.manifest.library)]
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
        outs = {o.name: np.load(Path(tmp) / f"{i}.npy") for i, o in enumerate(art.manifest.outputs)}
    timing = None
    if repeat:
        import json

        timing = json.loads(proc.stdout.strip().splitlines()[-1])
    return outs, timing


def run_emulated(art: Artifact, feeds: dict) -> dict:
    return run_bundle(art, feeds)[0]
