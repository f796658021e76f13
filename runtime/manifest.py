"""The artifact manifest: what a compiled model directory contains and promises.

An artifact is a directory: the compiled library plus ``manifest.json``. The manifest carries a
schema version, the target, the input/output signature, the sha256 of every file and the compile
options, so nothing about an artifact is guessed from file names.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgec.errors import ArtifactError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, d: dict) -> "TensorSpec":
        return cls(str(d["name"]), tuple(int(x) for x in d["shape"]), str(d["dtype"]))


@dataclass
class Manifest:
    target: dict
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    library: str
    files: dict[str, str] = field(default_factory=dict)
    compile_options: dict = field(default_factory=dict)
    source_model: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        d = asdict(self)
        d["inputs"] = [t.to_dict() for t in self.inputs]
        d["outputs"] = [t.to_dict() for t in self.outputs]
        return json.dumps(d, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> "Manifest":
        return cls(
            target=d["target"], inputs=[TensorSpec.from_dict(t) for t in d["inputs"]],
            outputs=[TensorSpec.from_dict(t) for t in d["outputs"]], library=d["library"],
            files=dict(d["files"]), compile_options=d.get("compile_options", {}),
            source_model=d.get("source_model", {}), versions=d.get("versions", {}),
            schema_version=int(d["schema_version"]),
        )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    """Hash every file in ``directory`` (except the manifest) and write manifest.json."""
    manifest.files = {
        p.relative_to(directory).as_posix(): sha256_file(p)
        for p in sorted(directory.rglob("*")) if p.is_file() and p.name != MANIFEST
    }
    out = directory / MANIFEST
    out.write_text(manifest.to_json())
    return out


def read_manifest(directory: Path, check_files: bool = True) -> Manifest:
    """Read and validate an artifact's manifest; with ``check_files`` verify every file's sha256."""
    directory = Path(directory)
    if not directory.exists():
        raise ArtifactError(f"artifact not found: {directory}")
    if not directory.is_dir():
        raise ArtifactError(f"{directory} is not an artifact directory (expected a folder with {MANIFEST})")
    mpath = directory / MANIFEST
    if not mpath.exists():
        raise ArtifactError(f"{directory} has no {MANIFEST}: not an edgec artifact")
    try:
        raw = json.loads(mpath.read_text())
        manifest = Manifest.from_dict(raw)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ArtifactError(f"{mpath} is corrupt or incomplete ({type(e).__name__}: {e})") from None
    if manifest.schema_version != SCHEMA_VERSION:
        raise ArtifactError(
            f"{directory} has manifest schema {manifest.schema_version}; this edgec reads schema {SCHEMA_VERSION}",
            hint="recompile the model with this edgec version")
    if manifest.library not in manifest.files:
        raise ArtifactError(f"{mpath}: library {manifest.library!r} is not listed in files")
    if check_files:
        for rel, digest in manifest.files.items():
            p = directory / rel
            if not p.is_file():
                raise ArtifactError(f"artifact {directory} is incomplete: {rel} is missing")
            if sha256_file(p) != digest:
                raise ArtifactError(
                    f"artifact {directory} was modified or truncated: sha256 of {rel} does not match the manifest",
                    hint="recompile, or copy the artifact again from where it was built")
    return manifest
