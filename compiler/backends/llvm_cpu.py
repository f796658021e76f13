"""CPUs through LLVM (x86_64, aarch64, armv7, riscv64): edgec's schedules, int8 kernels and
tuning apply. A library is a shared object linked by the target's cross g++ (toolchain.cxx), or
for Android (``library = "tar"``) the objects in a tar that the app links with the NDK."""
from __future__ import annotations

from edgec.compiler.backends import Backend

BACKEND = Backend(kind="llvm", device="cpu", edgec_schedules=True, int8_kernels=True, libraries=("so", "tar"),
                  tvm_target="edgec.compiler.tvm_target:llvm_target")
