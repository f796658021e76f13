"""`edgec package`: a self-contained device folder for an artifact, with no Python in it.

A micro-runtime artifact (the default) gets model.so, manifest.json, edgec-run and README.txt
(edgec/micro_bundle.py). A VM artifact (`--runtime vm`):

bundle/
  model.so             the artifact's library (cross-compiled for the device)
  manifest.json        the artifact's manifest (signature, target, hashes)
  libtvm_runtime.so    TVM's runtime and tvm-ffi, for the device's architecture, taken from the
  libtvm_ffi.so        apache-tvm / apache-tvm-ffi wheels for that platform (pip download)
  libedgec_runtime.so  edgec's C API (runtime/native), built here with the target's toolchain
  edgec-run            the runner
  edgec-rpc-server     a TVM RPC server (for `edgec bench --rpc`), also with no Python
  README.txt           the one command to run it on the device

Runtime wheels and native builds are cached under EDGEC_CACHE so a second bundle is instant.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path

from edgec import outdir
from edgec.errors import EdgecError, ToolchainError, UserInputError
from edgec.log import shows_progress
from edgec.models import cache_dir
from edgec.runtime.artifact import Artifact
from edgec.runtime.host import is_foreign
from edgec.runtime.manifest import MANIFEST

NATIVE_SRC = Path(str(resources.files("edgec.runtime") / "native"))  # package data of edgec.runtime
_WHEEL_PLATFORMS = {"x86_64": "manylinux_2_28_x86_64", "aarch64": "manylinux_2_28_aarch64"}
_RUNTIME_LIBS = {"apache-tvm": "tvm/lib/libtvm_runtime.so", "apache-tvm-ffi": "tvm_ffi/lib/libtvm_ffi.so"}


@dataclass
class Bundle:
    path: Path
    bytes: int
    runner: str
    files: dict[str, int]
    sizes: dict[str, int] = field(default_factory=dict)  # micro bundles: runtime, kernels, weights, arena bytes

    def to_dict(self) -> dict:
        return {"path": str(self.path), "bytes": self.bytes, "runner": self.runner, "files": self.files,
                "sizes": self.sizes}


log = logging.getLogger(__name__)


def _log(msg: str, quiet: bool) -> None:
    log.info(msg)  # ``quiet`` is the caller's: package() shows INFO on stderr unless quiet (edgec/log.py)


def runtime_libs(arch: str, quiet: bool = False) -> Path:
    """Folder with libtvm_runtime.so and libtvm_ffi.so for ``arch``: from this Python's installed
    wheels on the host architecture, else downloaded (pip, --platform) and cached."""
    from edgec.targets import host_arch

    out = cache_dir() / "runtime" / arch
    if all((out / Path(p).name).exists() for p in _RUNTIME_LIBS.values()):
        return out
    out.mkdir(parents=True, exist_ok=True)
    if arch == host_arch():
        import tvm_ffi

        import tvm

        shutil.copy2(Path(tvm.__file__).parent / "lib" / "libtvm_runtime.so", out / "libtvm_runtime.so")
        shutil.copy2(Path(tvm_ffi.__file__).parent / "lib" / "libtvm_ffi.so", out / "libtvm_ffi.so")
        return out
    if arch not in _WHEEL_PLATFORMS:
        raise ToolchainError(f"no prebuilt TVM runtime wheels exist for {arch}",
                             hint="build libtvm_runtime for it from TVM's sources (see docs/targets.md)")
    with tempfile.TemporaryDirectory(prefix="edgec-wheels-") as tmp:
        for dist, member in _RUNTIME_LIBS.items():
            version = metadata.version(dist)
            _log(f"fetching {dist}=={version} for {arch} (pip download --platform {_WHEEL_PLATFORMS[arch]}) ...", quiet)
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                   "--disable-pip-version-check", "--platform", _WHEEL_PLATFORMS[arch],
                   "--python-version", f"{sys.version_info.major}.{sys.version_info.minor}", "-d", tmp,
                   f"{dist}=={version}"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wheels = [w for w in Path(tmp).glob("*.whl") if w.name.replace("_", "-").startswith(dist)]
            if proc.returncode or not wheels:
                raise EdgecError(f"could not download the {arch} wheel of {dist}=={version}: "
                                 f"{(proc.stderr or 'no wheel').strip().splitlines()[-1]}")
            with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src, open(out / Path(member).name, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return out


# runtime/micro files the native build compiles too (CMakeLists.txt): part of its sources' hash
_SHARED_MICRO = ("sha256.c", "sha256.h")


def native_sources_hash() -> str:
    """sha256 over runtime/native and the runtime/micro files it shares: cached builds and
    bundles are keyed by it."""
    h = hashlib.sha256()
    files = [p for p in sorted(NATIVE_SRC.glob("*")) if p.is_file()]
    for p in files + [NATIVE_SRC.parent / "micro" / name for name in _SHARED_MICRO]:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _native_build(arch: str, cxx: str | None, libs: Path, quiet: bool) -> Path:
    """Build runtime/native for ``arch`` (cached by a hash of its sources and toolchain)."""
    if shutil.which("cmake") is None:
        raise ToolchainError("cmake is not installed", hint="apt-get install cmake (make setup does this)")
    if cxx and shutil.which(cxx) is None:
        raise ToolchainError(f"cross compiler '{cxx}' is not installed", hint="make setup installs the cross toolchains")
    h = hashlib.sha256(f"{arch} {cxx} {native_sources_hash()}".encode())
    build = cache_dir() / "native" / f"{arch}-{h.hexdigest()[:12]}"
    if (build / "edgec-run").exists() and (build / "edgec-rpc-server").exists():
        return build
    import tvm_ffi

    include = Path(tvm_ffi.__file__).parent / "include"
    _log(f"building the native runtime for {arch} (cmake) ...", quiet)
    build.mkdir(parents=True, exist_ok=True)
    cfg = ["cmake", "-S", str(NATIVE_SRC), "-B", str(build), f"-DTVM_FFI_INCLUDE={include}", f"-DTVM_LIB_DIR={libs}",
           "-DCMAKE_BUILD_TYPE=Release"]
    if cxx:
        cfg += [f"-DCMAKE_CXX_COMPILER={cxx}", "-DCMAKE_SYSTEM_NAME=Linux", f"-DCMAKE_SYSTEM_PROCESSOR={arch}"]
    for cmd in (cfg, ["cmake", "--build", str(build), "-j", "2"]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            shutil.rmtree(build, ignore_errors=True)
            raise EdgecError(f"native runtime build failed: {' '.join(cmd[:3])}\n{(proc.stdout + proc.stderr)[-2000:]}")
    return build


def _cross_compiler(target: dict) -> str:
    """The C++ cross compiler for an artifact's architecture, from edgec's own target database:
    never a command named in the manifest (see edgec.targets.trusted_tools)."""
    from edgec.targets import trusted_tools

    known = trusted_tools(target)
    if known is None or not known.toolchain.cxx:
        raise ToolchainError(f"edgec knows no cross compiler for {target.get('triple')!r} (target {target.get('name')!r})",
                             hint="build runtime/native on the device with its own compiler (see docs/targets.md)")
    return known.toolchain.cxx


@shows_progress("quiet")
def package(artifact: "str | Path | Artifact", out: "str | Path", force: bool = False, quiet: bool = False) -> Bundle:
    """Write a self-contained device folder for ``artifact`` into ``out``."""
    art = artifact if isinstance(artifact, Artifact) else Artifact.open(artifact)
    out = Path(out)
    if art.manifest.compile_options.get("runtime") == "micro":
        from edgec.micro_bundle import package_micro

        return package_micro(art, out, force, quiet)
    outdir.prepare(out, force, "bundle", outdir.bundle_files)
    t = art.manifest.target
    if t.get("kind", "llvm") != "llvm":
        raise UserInputError("device bundles are for CPU targets; GPU artifacts run through the TVM runtime with CUDA")
    if art.manifest.library.endswith(".tar"):
        raise UserInputError(f"{t['name']} artifacts carry objects to link on the device toolchain (NDK); "
                             "link model.tar there, then use the native runtime sources in runtime/native")
    arch = t["triple"].split("-")[0]
    arch = {"armv7a": "armv7", "arm": "armv7"}.get(arch, arch)
    cxx = _cross_compiler(t) if is_foreign(t) else None
    libs = runtime_libs(arch, quiet)
    build = _native_build(arch, cxx, libs, quiet)
    files = {lib: libs / lib for lib in ("libtvm_runtime.so", "libtvm_ffi.so")}
    files |= {name: build / name for name in ("libedgec_runtime.so", "edgec-run", "edgec-rpc-server")}
    run, sig = usage(art)
    readme = (
        f"edgec bundle for {t['name']} ({t['triple']}, {t.get('cpu')})\n\n"
        f"On the device, in this folder:\n  mkdir -p out && {run}\n\n"
        f"Inputs are .npy files in the order below; outputs are written as out/N.npy.\n{sig}\n"
        "No Python is needed: the runner links libtvm_runtime and libtvm_ffi from this folder ($ORIGIN).\n\n"
        "To time it from a workstation: the RPC server listens on loopback only, so tunnel to it:\n"
        "  ./edgec-rpc-server --port 9090                       (here, on the device)\n"
        "  ssh -N -L 9090:127.0.0.1:9090 DEVICE &               (on the workstation), then there:\n"
        f"  edgec bench MODEL -t {t['name']} --rpc 127.0.0.1:9090\n"
        "or, on a trusted network only, expose it with a key of your own:\n"
        "  ./edgec-rpc-server --host 0.0.0.0 --port 9090 --key SECRET\n"
        f"  edgec bench MODEL -t {t['name']} --rpc DEVICE_IP:9090 --key SECRET\n"
        "Any client with the key can run code on the device as this user. Uploads stay in the server's\n"
        "private temporary folder, which is removed when it exits.\n")
    return write_bundle(art, out, files, readme, {"run": run, "arch": arch, "target": t["name"]})


def usage(art: Artifact) -> tuple[str, str]:
    """A bundle's run command and its README's lines for the inputs and outputs (both runners
    take the same arguments)."""
    ins = " ".join(f"--input {i.name}.npy" for i in art.manifest.inputs)
    run = f"./edgec-run {art.manifest.library} {ins} --output-dir out --repeat 20"
    sig = "\n".join(f"  input {n}: {i.name} {i.dtype}{list(i.shape)}" for n, i in enumerate(art.manifest.inputs))
    sig += "\n" + "\n".join(f"  output {n}: {o.name} {o.dtype}{list(o.shape)} -> out/{n}.npy"
                            for n, o in enumerate(art.manifest.outputs))
    return run, sig


def write_bundle(art: Artifact, out: Path, files: dict[str, Path], readme: str, record: dict,
                 sizes: "dict[str, int] | None" = None) -> Bundle:
    """The artifact's library and manifest, ``files`` (name in the bundle -> built file), README.txt
    and the bundle record (``record`` + the files written: what --force may replace, edgec/outdir.py),
    staged beside ``out`` and moved into place whole, so a failure leaves no half bundle."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        shutil.copy2(art.library, staging / art.manifest.library)
        shutil.copy2(art.path / MANIFEST, staging / MANIFEST)
        for name, src in files.items():
            shutil.copy2(src, staging / name)
        (staging / "README.txt").write_text(readme)
        if sizes is not None:
            record = record | {"sizes": sizes}
        written = sorted(p.name for p in staging.iterdir())
        (staging / outdir.BUNDLE_RECORD).write_text(json.dumps(record | {"files": written}, indent=2))
        outdir.replace(staging, out, "bundle", outdir.bundle_files)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    written = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    return Bundle(out, sum(written.values()), record["run"], written, sizes or {})
