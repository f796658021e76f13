"""Which integer multiply-accumulate instruction a target has: the int8 kernels are built around it.

Each kind multiplies ``group`` consecutive input channels of one pixel (a broadcast) with
``group`` weights per output channel (one vector of ``lanes`` output channels) into int32 lanes:

- x86 AVX-512 VNNI ``vpdpbusd``: 16 lanes += 4 u8 x s8 products (64 MACs per instruction).
- aarch64 ``sdot`` (+dotprod): 4 lanes += 4 s8 x s8 products.
- x86 AVX2 ``vpmaddwd``: 8 lanes += 2 s16 x s16 products, then ``vpaddd`` (16 MACs per pair of
  instructions, 2x an fp32 FMA's 8). Activations are widened to int16 when packed, weights stay
  int8 in the library and are sign-extended by the load (``vpmovsxbw``). Exact: no int16 sums.
- aarch64 NEON without dotprod (Cortex-A53/A72): ``smull`` + ``smlal`` (two int8 x int8 pairs
  into int16 lanes), then ``sadalp`` (pairwise into int32): what gemmlowp and XNNPACK do there.
  Two products of int8 fit int16 unless both are (-128)(-128): layers whose weights use -128
  stay float (symmetric quantizers write [-127, 127]).
"""
from __future__ import annotations

from dataclasses import dataclass

import tvm


@dataclass(frozen=True)
class DotISA:
    name: str        # "vnni" | "sdot" | "pmaddwd" | "smlal"
    lanes: int       # int32 accumulators per instruction (output channels per vector)
    act_dtype: str   # dtype activations are packed to (the broadcast operand)
    llvm_intrin: str  # called directly: TVM 0.27's tensorize segfaults and its VNNI impl still
                      # passes <16 x i32> operands where the bundled LLVM wants <64 x i8>
    max_tile: int    # accumulators + weight vectors that fit the register file
    group: int = 4   # input channels per lane per step (the reduction axis is packed [C/group][group])
    full_range_weights: bool = True  # False: a weight of -128 could overflow the int16 partial sums
    float_lanes: int = 8  # fp32 lanes of the target's vectors (the float layers between int8 ones)


VNNI = DotISA("vnni", 16, "uint8", "llvm.x86.avx512.vpdpbusd.512", 30, float_lanes=16)
SDOT = DotISA("sdot", 4, "int8", "llvm.aarch64.neon.sdot.v4i32.v16i8", 30, float_lanes=4)
# 16 ymm registers: U*V accumulators + V weight vectors + 1 broadcast
PMADDWD = DotISA("pmaddwd", 8, "int16", "llvm.x86.avx2.pmadd.wd", 15, group=2)
SMLAL = DotISA("smlal", 4, "int8", "llvm.aarch64.neon.smull.v8i16", 28, full_range_weights=False, float_lanes=4)


def dot_isa(target: "tvm.target.Target") -> DotISA | None:
    """The integer multiply-accumulate ISA of an llvm ``target``, or None (no SIMD integer path)."""
    from tvm.target import codegen

    if target.kind.name != "llvm":
        return None
    triple = str(target.attrs.get("mtriple", "")) or codegen.llvm_get_system_triple()
    if triple.startswith(("x86_64", "i686")):
        if codegen.llvm_cpu_has_features(["avx512vnni"], target):
            return VNNI
        if codegen.llvm_cpu_has_features(["avx2"], target):
            return PMADDWD
        return None
    if triple.startswith(("aarch64", "arm64")):
        if codegen.llvm_cpu_has_features(["dotprod"], target):
            return SDOT
        if codegen.llvm_cpu_has_features(["neon"], target):
            return SMLAL
    return None
