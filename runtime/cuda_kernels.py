"""Serve an artifact's precompiled CUDA kernels to TVM's load-time compile hook.

TVM 0.27 libraries carry CUDA source and call `tvm_callback_cuda_compile` when loaded; edgec
artifacts also carry the fatbin compiled from that source at build time (see
edgec/compiler/cuda.py). This hook returns those bytes, matched by the source's sha256, so the
device needs only the NVIDIA driver. Unknown source is refused rather than compiled.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from edgec.errors import ArtifactError

INDEX = "cuda_kernels.json"
_KERNELS: dict[str, bytes] = {}


def _load_cuda_runtime() -> None:
    """TVM keeps its CUDA runtime in a sidecar library (libtvm_runtime_cuda, linked to libcudart)
    that a runtime-only `import tvm` does not load: load it here, next to libtvm_runtime. Without
    the CUDA libraries this fails quietly and gpu_available() says no."""
    from pathlib import Path

    from tvm.base import _LOADED_LIBS
    from tvm_ffi.libinfo import load_lib_ctypes

    if "tvm_runtime_cuda" in _LOADED_LIBS:
        return
    try:
        _LOADED_LIBS["tvm_runtime_cuda"] = load_lib_ctypes(
            package="tvm", target_name="tvm_runtime_cuda", mode="RTLD_LOCAL",
            extra_lib_paths=[Path(_LOADED_LIBS["tvm_runtime"]._name).resolve().parent])
    except (OSError, FileNotFoundError, RuntimeError):
        pass


def gpu_available() -> bool:
    """True when TVM's CUDA runtime is loaded and sees a device (False without driver or GPU)."""
    import tvm_ffi

    if tvm_ffi.get_global_func("ffi.Module.load_from_bytes.cuda", allow_missing=True) is None:
        _load_cuda_runtime()
    if tvm_ffi.get_global_func("ffi.Module.load_from_bytes.cuda", allow_missing=True) is None:
        return False
    try:
        import tvm

        return bool(tvm.cuda(0).exist)
    except Exception:  # noqa: BLE001 - no CUDA device API registered
        return False


def install_precompiled_kernels(artifact_dir: Path) -> int:
    import tvm_ffi

    index_path = Path(artifact_dir) / INDEX
    if not index_path.exists():
        raise ArtifactError(f"{artifact_dir} is a CUDA artifact without {INDEX}; recompile it with this edgec")
    from edgec.runtime.manifest import confined

    try:
        index = json.loads(index_path.read_text())
        assert isinstance(index, dict)
    except (ValueError, RecursionError, AssertionError):
        raise ArtifactError(f"{index_path} is corrupt") from None
    for digest, name in index.items():
        _KERNELS[digest] = confined(Path(artifact_dir), name, "CUDA kernel file").read_bytes()

    def precompiled(code, *_):
        digest = hashlib.sha256(str(code).encode()).hexdigest()
        if digest not in _KERNELS:
            raise ArtifactError("the library asked for CUDA kernels this artifact does not carry")
        return tvm_ffi.Bytes(_KERNELS[digest]) if hasattr(tvm_ffi, "Bytes") else bytearray(_KERNELS[digest])

    tvm_ffi.register_global_func("tvm_callback_cuda_compile", precompiled, override=True)
    return len(_KERNELS)
