"""NVIDIA GPUs through TVM's CUDA codegen: stock TVM schedules (edgec's CPU ones do not apply),
the CPU side built for the target's ``host`` CPU, and the CUDA source compiled to a fatbin with
nvcc before export (compiler/cuda.py), which the runtime hands to TVM at load time."""
from __future__ import annotations

from edgec.compiler.backends import Backend

BACKEND = Backend(kind="cuda", device="gpu", edgec_schedules=False, int8_kernels=False, libraries=("so",),
                  tvm_target="edgec.compiler.tvm_target:cuda_target",
                  before_export="edgec.compiler.backends.cuda:before_export")


def before_export(executable, tvm_target, target, out_dir) -> None:
    from edgec.compiler.cuda import precompile_cuda

    precompile_cuda(executable, tvm_target, target.arch, out_dir)
