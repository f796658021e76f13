"""The artifact manifest: what a compiled model directory contains and promises.

An artifact is a directory: the compiled library plus ``manifest.json``. The manifest carries a
schema version, the target, the input/output signature, the sha256 of every file and the compile
options, so nothing about an artifact is guessed from file names.

An artifact is a trust boundary: everything in it is checked before it is used.
- The manifest covers itself: ``manifest_sha256`` is the sha256 of the file's exact bytes with
  that field's 64 hex digits replaced by 64 zeros. Byte-exact, so the native runner checks it
  with the same few lines (runtime/native/manifest.cc) without canonicalizing JSON.
- Every file it names (``library``, ``files``) is a plain relative path inside the directory:
  no ``..``, no absolute path, no symlink anywhere on the way; each is a regular file whose
  sha256 matches.
- Its fields are type-checked (names, shapes, a known dtype) and never name a command: tools come
  from edgec's own target database (edgec.targets.trusted_tools).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from edgec.errors import ArtifactError
from edgec.runtime.files import MANIFEST_LIMIT, check_regular, read_bytes

SCHEMA_VERSION = 2  # 2: manifest_sha256 (self-hash), validated paths and dtypes
MANIFEST = "manifest.json"
HASH_FIELD = "manifest_sha256"
_HASH_KEY = f'"{HASH_FIELD}": "'.encode()
_ZEROS = "0" * 64
_HEX64 = re.compile(r"[0-9a-f]{64}")
# dtypes an edgec artifact can take or return (numpy spelling; the native runner knows the same)
DTYPES = frozenset({"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
                    "uint32", "uint64", "bool"})
# the compiler's frontends by name (compiler/frontends/registry.py; the runtime cannot import it,
# tests/compiler/test_frontends.py checks the two agree)
SOURCE_FORMATS = ("onnx", "tflite")
MAX_DIM = 1 << 31  # dims are below it (compiler/frontends/imported.py refuses larger ones)
MAX_DEPTH = 64  # JSON nesting, as runtime/native/json.h


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, d: dict) -> "TensorSpec":
        if not isinstance(d, dict):
            raise ValueError(f"a tensor spec must be an object, got {type(d).__name__}")
        name, shape, dtype = d["name"], d["shape"], d["dtype"]
        if not isinstance(name, str) or not name:
            raise ValueError(f"tensor name {name!r} is not a non-empty string")
        if not isinstance(shape, list) or not all(type(x) is int and 0 <= x < MAX_DIM for x in shape):
            raise ValueError(f"shape of '{name}' must be a list of non-negative integers, got {shape!r}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype of '{name}' is {dtype!r}, not one of {sorted(DTYPES)}")
        return cls(name, tuple(shape), dtype)


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
        """The manifest's text, its self-hash filled in (see the module docstring)."""
        d = asdict(self)
        d["inputs"] = [t.to_dict() for t in self.inputs]
        d["outputs"] = [t.to_dict() for t in self.outputs]
        return seal(d)

    @classmethod
    def from_dict(cls, d: dict) -> "Manifest":
        for key, kind in (("target", dict), ("inputs", list), ("outputs", list), ("library", str), ("files", dict)):
            if not isinstance(d[key], kind):
                raise ValueError(f"'{key}' must be a {kind.__name__}, got {type(d[key]).__name__}")
        for key in ("compile_options", "source_model", "versions"):
            if not isinstance(d.get(key, {}), dict):
                raise ValueError(f"'{key}' must be an object")
        if not all(isinstance(k, str) and isinstance(v, str) and _HEX64.fullmatch(v) for k, v in d["files"].items()):
            raise ValueError("'files' must map file names to sha256 hex digests")
        if type(d["schema_version"]) is not int:
            raise ValueError("'schema_version' must be an integer")
        target = d["target"]
        if not isinstance(target.get("name"), str) or not target["name"]:
            raise ValueError("target.name must be a non-empty string")
        if target.get("kind", "llvm") not in ("llvm", "cuda"):
            raise ValueError(f"target.kind must be llvm or cuda, got {target.get('kind')!r}")
        for key in ("triple", "cpu", "arch"):
            if not isinstance(target.get(key, ""), str):
                raise ValueError(f"target.{key} must be a string")
        if target.get("kind", "llvm") == "llvm" and not target.get("triple"):
            raise ValueError("target.triple is required for a CPU artifact")
        for key in ("requires", "host", "toolchain", "emulator"):
            if not isinstance(target.get(key) or {}, dict):
                raise ValueError(f"target.{key} must be an object")
        _check_consumed(d)
        return cls(
            target=d["target"], inputs=[TensorSpec.from_dict(t) for t in d["inputs"]],
            outputs=[TensorSpec.from_dict(t) for t in d["outputs"]], library=d["library"],
            files=dict(d["files"]), compile_options=d.get("compile_options", {}),
            source_model=d.get("source_model", {}), versions=d.get("versions", {}),
            schema_version=d["schema_version"],
        )


def seal(d: dict) -> str:
    """A manifest dict as text with its self-hash filled in (tests and tools/fuzz.py use it to
    make a tampered artifact whose manifest is consistent, as an attacker would)."""
    d = {k: v for k, v in d.items() if k != HASH_FIELD} | {HASH_FIELD: _ZEROS}
    text = json.dumps(d, indent=2, sort_keys=True) + "\n"  # ASCII: ensure_ascii is on
    return text.replace(f'"{HASH_FIELD}": "{_ZEROS}"',
                        f'"{HASH_FIELD}": "{hashlib.sha256(text.encode()).hexdigest()}"', 1)


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_consumed(d: dict) -> None:
    """Type-check the nested fields edgec reads back (load checks, verify inputs, inspect), so a
    manifest with the right hash but the wrong shape of data is a clear error, not a KeyError."""
    req = d["target"].get("requires") or {}
    if req and not (isinstance(req.get("machine"), str) and isinstance(req.get("cpu_features"), list)
                    and all(isinstance(f, str) for f in req["cpu_features"])):
        raise ValueError("target.requires must hold machine (a string) and cpu_features (a list of strings)")
    src = d.get("source_model")
    if not (isinstance(src, dict) and src.get("format") in SOURCE_FORMATS and isinstance(src.get("sha256"), str)
            and all(isinstance(src.get(k, ""), str) for k in ("path", "zoo"))):
        raise ValueError(f"source_model must hold format ({'/'.join(SOURCE_FORMATS)}), sha256, path and zoo strings")
    opts = d.get("compile_options") or {}
    ranges, samples = opts.get("input_ranges", {}), opts.get("input_samples", {})
    if not (isinstance(ranges, dict) and all(isinstance(v, list) and len(v) == 2 and all(map(_is_num, v))
                                             for v in ranges.values())):
        raise ValueError("compile_options.input_ranges must map input names to [low, high]")
    if not (isinstance(samples, dict) and all(isinstance(v, str) for v in samples.values())):
        raise ValueError("compile_options.input_samples must map input names to sample names")
    if opts.get("weight_bytes") is not None and not _is_num(opts["weight_bytes"]):
        raise ValueError("compile_options.weight_bytes must be a number")
    q = opts.get("int8")
    if q is not None and not (isinstance(q, dict) and all(_is_num(q.get(k)) for k in
                                                          ("int8_layers", "int8_macs", "fused_epilogue_ops"))
                              and isinstance(q.get("float_layers"), dict)):
        raise ValueError("compile_options.int8 is not an int8 summary")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def self_hash_problem(data: bytes) -> str | None:
    """Why the manifest's bytes fail their own ``manifest_sha256``, or None when they pass."""
    at = data.find(_HASH_KEY)
    if at < 0:
        return f"it has no {HASH_FIELD}"
    if data.find(_HASH_KEY, at + 1) >= 0:
        return f"it has more than one {HASH_FIELD}"
    start = at + len(_HASH_KEY)
    digest = data[start:start + 64]
    if not _HEX64.fullmatch(digest.decode("ascii", "replace")) or data[start + 64:start + 65] != b'"':
        return f"its {HASH_FIELD} is not a sha256 hex digest"
    if hashlib.sha256(data[:start] + _ZEROS.encode() + data[start + 64:]).hexdigest() != digest.decode():
        return f"its content does not match its {HASH_FIELD}"
    return None


def confined(directory: Path, rel: object, what: str = "file") -> Path:
    """``directory / rel`` for a manifest path that stays inside the directory: relative, no
    ``..``/``.``/empty parts, no backslash, and no symlink on the way (a link could leave it)."""
    if not isinstance(rel, str) or not rel or "\\" in rel or "\x00" in rel:
        raise ArtifactError(f"artifact {directory}: {what} {rel!r} is not a relative file name")
    parts = rel.split("/")
    if PurePosixPath(rel).is_absolute() or any(p in ("", ".", "..") for p in parts):
        raise ArtifactError(f"artifact {directory}: {what} {rel!r} points outside the artifact directory",
                            hint="an artifact only names files inside its own folder; this one was tampered with")
    cur = Path(directory)
    for p in parts:
        cur = cur / p
        if cur.is_symlink():
            raise ArtifactError(f"artifact {directory}: {rel} is (or goes through) a symlink; "
                                "artifacts hold regular files only")
    return cur


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    """Hash every file in ``directory`` (except the manifest) and write manifest.json."""
    manifest.files = {
        p.relative_to(directory).as_posix(): sha256_file(p)
        for p in sorted(directory.rglob("*")) if p.is_file() and not p.is_symlink() and p.name != MANIFEST
    }
    out = directory / MANIFEST
    out.write_text(manifest.to_json())
    return out


def _depth(v, limit: int = 0) -> int:
    if limit > MAX_DEPTH:
        return limit
    if isinstance(v, dict):
        return 1 + max((_depth(x, limit + 1) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((_depth(x, limit + 1) for x in v), default=0)
    return 0


def parse_manifest(data: bytes, where: "str | Path") -> Manifest:
    """Validate a manifest's bytes: JSON, schema, self-hash, field types. No file is touched."""
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise ArtifactError(f"{where} is corrupt ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(raw, dict):
        raise ArtifactError(f"{where} is corrupt (a JSON {type(raw).__name__}, expected an object)")
    if _depth(raw) > MAX_DEPTH:
        raise ArtifactError(f"{where} is corrupt (JSON nested deeper than {MAX_DEPTH} levels)")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ArtifactError(f"{where} has manifest schema {version!r}; this edgec reads schema {SCHEMA_VERSION}",
                            hint="recompile the model with this edgec version")
    problem = self_hash_problem(data)
    if problem is None and raw.get(HASH_FIELD) != data[data.find(_HASH_KEY) + len(_HASH_KEY):][:64].decode():
        problem = f"its top-level {HASH_FIELD} is not the one hashed"
    if problem:
        raise ArtifactError(f"{where} was modified: {problem}",
                            hint="recompile, or copy the artifact again from where it was built")
    try:
        return Manifest.from_dict(raw)
    except (KeyError, TypeError, ValueError) as e:
        raise ArtifactError(f"{where} is corrupt or incomplete ({type(e).__name__}: {e})") from None


def read_manifest(directory: Path, check_files: bool = True) -> Manifest:
    """Read and validate an artifact's manifest; with ``check_files`` verify every file's sha256."""
    directory = Path(directory)
    if not directory.exists():
        raise ArtifactError(f"artifact not found: {directory}")
    if not directory.is_dir():
        raise ArtifactError(f"{directory} is not an artifact directory (expected a folder with {MANIFEST})")
    mpath = directory / MANIFEST
    if not mpath.exists() and not mpath.is_symlink():
        raise ArtifactError(f"{directory} has no {MANIFEST}: not an edgec artifact")
    if mpath.is_symlink():
        raise ArtifactError(f"{mpath} is a symlink; artifacts hold regular files only")
    manifest = parse_manifest(read_bytes(mpath, "manifest", MANIFEST_LIMIT, ArtifactError), mpath)
    if manifest.library not in manifest.files:
        raise ArtifactError(f"{mpath}: library {manifest.library!r} is not listed in files")
    paths = {rel: confined(directory, rel) for rel in manifest.files}
    if check_files:
        for rel, digest in manifest.files.items():
            p = paths[rel]
            try:
                st = os.stat(p)
            except FileNotFoundError:
                raise ArtifactError(f"artifact {directory} is incomplete: {rel} is missing") from None
            if not stat.S_ISREG(st.st_mode):
                raise ArtifactError(f"artifact {directory}: {rel} is not a regular file")
            check_regular(st, p, "artifact file", 1 << 40, ArtifactError)
            if sha256_file(p) != digest:
                raise ArtifactError(
                    f"artifact {directory} was modified or truncated: sha256 of {rel} does not match the manifest",
                    hint="recompile, or copy the artifact again from where it was built")
    return manifest
