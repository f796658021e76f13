"""Bit-exact encode/decode tables for the small ONNX dtypes (bfloat16, the float8s, float4e2m1,
float8e8m0, int4/uint4, int2/uint2), built from onnx's reference Cast so the compiled graph gives
the reference's bits.

Why tables: TVM 0.27's CPU build computes in none of these types and has no bit reinterpret op,
so ``exotic_dtypes`` carries such a tensor as its bits in an unsigned integer (``carrier``: uint16
for bfloat16, one uint8 per element for the rest: ml_dtypes' layout) and converts with ops TVM has.
Decoding is a Gather from a table indexed by the bits (256 entries, 65,536 for bfloat16).
Encoding a float is a step function of its magnitude (round-to-nearest-even, saturation and
overflow included): the smallest float32 of each step is found by bisection over float32 bit
patterns against the reference, and a value's code is the number of steps at or below it
(``searchsorted``), one comparison per step (two levels of at most 256 for bfloat16).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import onnx
from onnx import TensorProto, helper

FLOAT_CODES = {TensorProto.BFLOAT16, TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2,
               TensorProto.FLOAT8E5M2FNUZ, TensorProto.FLOAT4E2M1, TensorProto.FLOAT8E8M0}
INT_BITS = {TensorProto.INT4: 4, TensorProto.UINT4: 4, TensorProto.INT2: 2, TensorProto.UINT2: 2}
EXOTIC = FLOAT_CODES | set(INT_BITS)
SATURATING = {TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2, TensorProto.FLOAT8E5M2FNUZ}
_INF_BITS = 0x7F800000  # float32 +inf: non-negative float32s are ordered like their bit patterns


def carrier(t: int) -> int:
    """The ONNX type that carries a tensor of exotic type ``t`` as its bits."""
    return TensorProto.UINT16 if t == TensorProto.BFLOAT16 else TensorProto.UINT8


def carrier_np(t: int) -> type:
    return np.uint16 if t == TensorProto.BFLOAT16 else np.uint8


def to_bits(a: np.ndarray, t: int) -> np.ndarray:
    """An array of exotic type ``t`` (ml_dtypes) as its carrier bits."""
    return np.ascontiguousarray(a).view(carrier_np(t))


def from_bits(bits: np.ndarray, t: int) -> np.ndarray:
    return np.ascontiguousarray(bits).view(helper.tensor_dtype_to_np_dtype(t))


def reference_cast(x: np.ndarray, t: int, saturate: bool, round_mode: str = "up") -> np.ndarray:
    from onnx.reference.ops.op_cast import cast_to

    return cast_to(x, t, saturate, round_mode)


@lru_cache(maxsize=64)
def decode_table(t: int, to: int) -> np.ndarray:
    """table[bits] = the value of those bits of type ``t``, as ONNX type ``to`` (reference Cast)."""
    n = 1 << (16 if t == TensorProto.BFLOAT16 else 8)
    codes = np.arange(n, dtype=np.uint32).astype(carrier_np(t))
    if t in INT_BITS:  # only the low bits are meaningful; mask so every entry is a valid value
        codes = codes & np.uint8((1 << INT_BITS[t]) - 1)
    vals = from_bits(codes, t)
    with np.errstate(all="ignore"):
        return reference_cast(vals, to, saturate=True)


@lru_cache(maxsize=64)
def encode_steps(t: int, saturate: bool, round_mode: str, negative: bool) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds float32[K], codes carrier[K+1]): for a >= 0, the reference's bits of ``-a`` (when
    ``negative``) or ``a`` are codes[count(thresholds <= a)]."""
    width = 16 if t == TensorProto.BFLOAT16 else 8

    def f(bits: np.ndarray) -> np.ndarray:  # float32 bit patterns -> codes of the reference cast
        a = bits.astype(np.uint32).view(np.float32)
        with np.errstate(all="ignore"):
            return to_bits(reference_cast(-a if negative else a, t, saturate, round_mode), t)

    all_codes = np.arange(1 << width, dtype=np.uint32).astype(carrier_np(t))
    with np.errstate(all="ignore"):
        mags = np.abs(from_bits(all_codes, t).astype(np.float32))
    levels = np.unique(mags[~np.isnan(mags)])  # magnitudes in order; NaN ranks above them all

    def rank(codes: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            m = np.abs(from_bits(codes, t).astype(np.float32))
        return np.where(np.isnan(m), len(levels), np.searchsorted(levels, np.nan_to_num(m, posinf=np.inf)))

    ks = np.arange(1, len(levels) + 1)
    lo = np.zeros(len(ks), dtype=np.int64)
    hi = np.full(len(ks), _INF_BITS + 1, dtype=np.int64)  # _INF_BITS + 1: the step is never reached
    while np.any(lo < hi):
        mid = (lo + hi) // 2
        reached = rank(f(np.minimum(mid, _INF_BITS))) >= ks
        reached &= mid <= _INF_BITS
        hi = np.where(reached & (lo < hi), mid, hi)
        lo = np.where(~reached & (lo < hi), mid + 1, lo)
    ok = lo <= _INF_BITS  # steps above +inf are never reached: dropped (only the top ones can be)
    starts = np.concatenate([[0], lo[ok]])
    codes = f(starts)
    return starts[1:].astype(np.uint32).view(np.float32), codes


def nan_code(t: int, saturate: bool, round_mode: str) -> np.ndarray:
    with np.errstate(all="ignore"):
        return to_bits(reference_cast(np.array([np.nan], np.float32), t, saturate, round_mode), t)


def encode_numpy(x: np.ndarray, t: int, saturate: bool, round_mode: str = "up") -> np.ndarray:
    """What the ONNX graph built by ``exotic_dtypes`` computes, in numpy (tests compare it with the reference)."""
    x = x.astype(np.float32)
    a = np.abs(x)
    out = []
    for negative in (False, True):
        th, codes = encode_steps(t, saturate, round_mode, negative)
        out.append(codes[np.searchsorted(th, a, side="right")])
    bits = np.where(x < 0, out[1], out[0])
    return np.where(np.isnan(x), nan_code(t, saturate, round_mode)[0], bits).astype(carrier_np(t))


def opset_of(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
