"""BitCast between integers of one width (a wrapping Cast), float32 <-> int32/uint32 bits by exact
double arithmetic, and Det of 2x2 / 3x3 matrices by their cofactor formula.

Why: TVM's importer has neither op and Relax has no bit reinterpret. A float32's bits are its sign,
its biased exponent (how many powers of two from 2^-126 up to +inf lie at or below it: one
comparison each) and its mantissa (the magnitude times a power of two, exact in double); reading
bits back reverses that. NaN becomes the quiet NaN 0x7FC00000 (a NaN's sign and payload are not
seen by float compares). float64/float16 BitCast and larger Det are left to the importer's error.
"""
from __future__ import annotations

import itertools

import numpy as np
import onnx
from onnx import TensorProto as T

from edgec.compiler.passes.legalize_common import Builder, GraphInfo, attrs_of, rewrite_nodes
from edgec.compiler.passes.registry import PassContext, register

_INTS = {T.INT8: 8, T.UINT8: 8, T.BOOL: 8, T.INT16: 16, T.UINT16: 16, T.INT32: 32, T.UINT32: 32, T.INT64: 64,
         T.UINT64: 64}
_EXP = np.arange(256)
# per biased exponent E: the scale that makes the magnitude an integer mantissa, and the implicit 1
_TO_MANT = np.where(_EXP == 0, 2.0 ** 149, 2.0 ** (150 - np.minimum(_EXP, 254).astype(np.float64)))
_IMPLICIT = np.where((_EXP >= 1) & (_EXP <= 254), 2.0 ** 23, 0.0)
_FROM_MANT = np.where(_EXP == 0, 2.0 ** -149, 2.0 ** (np.maximum(_EXP, 1).astype(np.float64) - 150))


def _float_bits(b: Builder, x: str) -> str:
    """float32 x -> its bits as an int64 in [0, 2^32)."""
    xd = b.op("Cast", [x], to=T.DOUBLE)
    a = b.op("Abs", [xd])
    thresholds = np.append(2.0 ** (np.arange(1, 255) - 127.0), np.inf)
    ge = b.op("Not", [b.op("Less", [b.op("Unsqueeze", [a, b.ints([-1])]), b.const(thresholds, "pow2")])])
    e = b.op("ReduceSum", [b.op("Cast", [ge], to=T.INT64), b.ints([-1])], keepdims=0)
    finite = b.op("Where", [b.op("IsInf", [a]), b.const(np.zeros((), np.float64)), a])
    mant = b.op("Sub", [b.op("Mul", [finite, b.op("Gather", [b.const(_TO_MANT, "scale"), e], axis=0)]),
                        b.op("Gather", [b.const(_IMPLICIT, "one"), e], axis=0)])
    zero = b.const(np.zeros((), np.float64))
    neg = b.op("Or", [b.op("Less", [xd, zero]), b.op("And", [b.op("Equal", [xd, zero]), b.op(
        "Less", [b.op("Div", [b.const(np.ones((), np.float64)), xd]), zero])])])  # -0.0 too
    sign = b.op("Where", [neg, b.const(np.array(2.0 ** 31)), zero])
    bits = b.op("Add", [b.op("Add", [sign, b.op("Mul", [b.op("Cast", [e], to=T.DOUBLE), b.const(np.array(2.0 ** 23))])]),
                        mant])
    bits = b.op("Cast", [bits], to=T.INT64)
    return b.op("Where", [b.op("IsNaN", [xd]), b.const(np.array(0x7FC00000, np.int64)), bits])


def _bits_float(b: Builder, u: str) -> str:
    """int64 bits in [0, 2^32) -> float32."""
    half = b.ints(2 ** 31)
    neg = b.op("Not", [b.op("Less", [u, half])])
    r = b.op("Where", [neg, b.op("Sub", [u, half]), u])
    e = b.op("Div", [r, b.ints(2 ** 23)])
    m = b.op("Cast", [b.op("Sub", [r, b.op("Mul", [e, b.ints(2 ** 23)])])], to=T.DOUBLE)
    v = b.op("Mul", [b.op("Add", [m, b.op("Gather", [b.const(_IMPLICIT, "one"), e], axis=0)]),
                     b.op("Gather", [b.const(_FROM_MANT, "scale"), e], axis=0)])
    special = b.op("Where", [b.op("Equal", [m, b.const(np.zeros((), np.float64))]), b.const(np.array(np.inf)),
                             b.const(np.array(np.nan))])
    v = b.op("Where", [b.op("Equal", [e, b.ints(255)]), special, v])
    v = b.op("Where", [neg, b.op("Neg", [v]), v])
    return b.op("Cast", [v], to=T.FLOAT)


def _bitcast(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    x, to = node.input[0], attrs_of(node)["to"]
    src = info.types.get(x)
    if src is None:
        return False
    if src in _INTS and to in _INTS and _INTS[src] == _INTS[to] and to != T.BOOL:
        b.op("Cast", [x], node.output[0], to=to)
        return True
    if info.opset < 13:
        return False
    if src == T.FLOAT and to in (T.INT32, T.UINT32):
        b.op("Cast", [_float_bits(b, x)], node.output[0], to=to)  # int64 -> int32 keeps the low 32 bits
        return True
    if src in (T.INT32, T.UINT32) and to == T.FLOAT:
        u = b.op("Cast", [x], to=T.INT64)
        if src == T.INT32:
            u = b.op("Where", [b.op("Less", [u, b.ints(0)]), b.op("Add", [u, b.ints(2 ** 32)]), u])
        _bits_float(b, u)
        b.nodes[-1].output[0] = node.output[0]
        return True
    return False


def _det(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    x = node.input[0]
    shape = info.shape(x)
    if shape is None or len(shape) < 2 or shape[-1] != shape[-2] or shape[-1] not in (1, 2, 3) or info.opset < 13:
        return False
    n = shape[-1]
    rows = [b.op("Gather", [x, b.ints(i)], axis=-2) for i in range(n)]
    el = [[b.op("Gather", [rows[i], b.ints(j)], axis=-1) for j in range(n)] for i in range(n)]
    total = None
    for perm in itertools.permutations(range(n)):
        term = el[0][perm[0]]
        for i in range(1, n):
            term = b.op("Mul", [term, el[i][perm[i]]])
        inversions = sum(perm[i] > perm[j] for i in range(n) for j in range(i + 1, n))
        if total is None:
            total = b.op("Neg", [term]) if inversions % 2 else term
        else:
            total = b.op("Sub" if inversions % 2 else "Add", [total, term])
    b.op("Identity", [total], node.output[0])
    return True


@register("bitcast_det")
def bitcast_det(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    model, n_bitcast = rewrite_nodes(model, "BitCast", _bitcast)
    model, n_det = rewrite_nodes(model, "Det", _det)
    return model, {"BitCast": n_bitcast, "Det": n_det}
