"""CUDA artifacts that carry compiled device code.

TVM 0.27 embeds CUDA *source* in the exported library and compiles it when the library is
loaded, through the `tvm_callback_cuda_compile` hook (NVRTC or nvcc): a device with only the
driver could not load it. edgec compiles that source here with nvcc into a fatbin for the
target's architecture (SASS + PTX for forward compatibility) and ships it beside the library;
edgec.runtime answers the load-time hook with these bytes (matched by the source's sha256), so
no compiler is needed on the device.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from edgec.errors import ToolchainError

FATBIN_INDEX = "cuda_kernels.json"


def _device_sources(rt_mod) -> list[str]:
    found = []

    def walk(m):
        for imp in m.imports:
            if imp.kind == "cuda":
                found.append(imp.inspect_source("cuda"))
            walk(imp)

    walk(rt_mod)
    return found


def precompile_cuda(executable, tvm_target, arch: str, out_dir: Path) -> list[str]:
    """Compile every CUDA source module in ``executable`` to a fatbin in ``out_dir``; writes an
    index {source sha256: fatbin file}. Returns the fatbin file names."""
    if shutil.which("nvcc") is None:
        raise ToolchainError("nvcc is not installed; it is needed to build CUDA artifacts",
                             hint="install the CUDA toolkit (nvcc) on the build machine")
    from tvm.support.nvcc import compile_cuda

    suffix = arch.removeprefix("sm_")
    gencode = ["-gencode", f"arch=compute_{suffix},code=sm_{suffix}",
               "-gencode", f"arch=compute_{suffix},code=compute_{suffix}"]
    index, names = {}, []
    # TVM's nvcc helper adds --use_fast_math unless told not to: keep IEEE exp/div so results
    # stay within edgec's stated tolerance of the CPU reference.
    old = os.environ.get("TVM_CUDA_NVCC_NO_FAST_MATH")
    os.environ["TVM_CUDA_NVCC_NO_FAST_MATH"] = "1"
    try:
        for src in _device_sources(executable.mod):
            digest = hashlib.sha256(src.encode()).hexdigest()
            name = f"kernels_{digest[:12]}.fatbin"
            with tvm_target:
                binary = compile_cuda(src, target_format="fatbin", arch=gencode, compiler="nvcc")
            (out_dir / name).write_bytes(bytes(binary))
            index[digest] = name
            names.append(name)
    finally:
        if old is None:
            os.environ.pop("TVM_CUDA_NVCC_NO_FAST_MATH", None)
        else:
            os.environ["TVM_CUDA_NVCC_NO_FAST_MATH"] = old
    (out_dir / FATBIN_INDEX).write_text(json.dumps(index, indent=2) + "\n")
    return names
