"""Vectorizable exp/sigmoid/tanh/erf for float32 (TOPI's polynomial versions).

TVM's default legalization calls libm's scalar expf for every element of a sigmoid or exp: a
SiLU epilogue cost YOLOX 1 ms per 260k outputs in calls alone. TOPI's fast_exp/fast_tanh/
fast_erf are range-reduced polynomials that LLVM vectorizes; measured here against float64
references over [-88, 88]: max relative error 2.9e-7 (sigmoid), 2.8e-7 (tanh), 3.3e-7 (erf),
i.e. a few float32 ulps, far inside verify's 1e-4 rel-L2. exp flushes results below 1e-38 to 0
and saturates above 3.4e38 (x > 88.37) to inf.
"""
from __future__ import annotations

import tvm
from tvm import relax, te, topi
from tvm.relax.transform.legalize_ops.common import LegalizeFunc


def _sigmoid(x: te.Tensor) -> te.Tensor:
    e = topi.fast_exp(te.compute(x.shape, lambda *i: -x(*i), name="neg"))
    return te.compute(x.shape, lambda *i: 1.0 / (1.0 + e(*i)), name="sigmoid")


def _is_nan(v):
    """NaN test on the bits (exponent all ones, mantissa not zero). ``tirx.isnan`` made TVM's
    vectorizer scalarize a matmul's GELU epilogue (1.2 ms of scalar code in a 1.85 ms layer), and
    ``v != v`` is folded to false by TVM's simplifier."""
    bits = tvm.tirx.reinterpret("int32", v) & tvm.tirx.const(0x7FFFFFFF, "int32")
    return bits > tvm.tirx.const(0x7F800000, "int32")


def _erf(x: te.Tensor) -> te.Tensor:
    """fast_erf clamps its argument to [-4, 4] with max/min, which turns NaN into a number
    (Erf(NaN) gave 1; found by tools/fuzz.py): NaN passes through, as in ONNX Runtime."""
    y = topi.fast_erf(x)
    return te.compute(x.shape, lambda *i: tvm.tirx.Select(_is_nan(x(*i)), x(*i), y(*i)), name="erf_nan")


_FAST = {"relax.sigmoid": _sigmoid, "relax.exp": topi.fast_exp, "relax.tanh": topi.fast_tanh, "relax.erf": _erf}


def fast_math_legalizers() -> dict[str, LegalizeFunc]:
    """LegalizeOps entries: the fast version for float32, TVM's own otherwise."""

    def make(op: str, fast):
        default = tvm.ir.Op.get(op).get_attr("FLegalize")

        def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
            if str(call.args[0].ty.dtype) != "float32":
                return default(bb, call)
            return bb.call_te(fast, call.args[0], primfunc_name_hint=op.split(".")[-1])

        return legalize

    return {op: make(op, fast) for op, fast in _FAST.items()}
