"""Which integer dot-product instruction a target has: the int8 kernels are built around it.

x86 VNNI ``vpdpbusd``: 16 int32 lanes, each += 4 u8 x s8 products (64 MACs per instruction, 4x
fp32 FMA). aarch64 ``sdot``: 4 lanes x 4 s8 x s8 products. Without one of them int8 compute is not
faster than fp32 here, so edgec keeps those layers in float (the speed guard's static half)."""
from __future__ import annotations

from dataclasses import dataclass

import tvm


@dataclass(frozen=True)
class DotISA:
    name: str        # "vnni" | "sdot"
    lanes: int       # int32 accumulators per instruction (output channels per vector)
    act_dtype: str   # dtype of the broadcast operand: activations
    llvm_intrin: str  # called directly: TVM 0.27's tensorize segfaults and its VNNI impl still
                      # passes <16 x i32> operands where the bundled LLVM wants <64 x i8>
    max_tile: int    # accumulators + weight vectors that fit the register file


VNNI = DotISA("vnni", 16, "uint8", "llvm.x86.avx512.vpdpbusd.512", 30)
SDOT = DotISA("sdot", 4, "int8", "llvm.aarch64.neon.sdot.v4i32.v16i8", 30)


def dot_isa(target: "tvm.target.Target") -> DotISA | None:
    """The dot-product ISA of an llvm ``target``, or None."""
    from tvm.target import codegen

    if target.kind.name != "llvm":
        return None
    triple = str(target.attrs.get("mtriple", "")) or codegen.llvm_get_system_triple()
    if triple.startswith(("x86_64", "i686")) and codegen.llvm_cpu_has_features(["avx512vnni"], target):
        return VNNI
    if triple.startswith(("aarch64", "arm64")) and codegen.llvm_cpu_has_features(["dotprod"], target):
        return SDOT
    return None
