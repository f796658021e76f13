"""Cheaper float glue between the layers that stay float in an int8 model.

A QDQ model rounds the output of every float layer (depthwise convs, resize, DepthToSpace) through
quantize -> dequantize before the next float op. After ``quantize_by_reciprocal`` (qdq.py) such a
pair reads, per element:

    r = max(min(round(x * (1/s)) + z, hi), lo);  q = int8(r);  y = (float(q) - z) * s

When nothing but dequantizes reads ``q``, the int8 value is never needed: ``float(int8(r)) == r``
(r is an integer in range), so ``y = max(min(round(x * (1/s)), hi - z), lo - z) * s`` - exact, the
same value. In a fused depthwise epilogue on AVX2 the cast pair was six instructions per vector
(cvttps2dq, extract, two packs, pmovsxbd, cvtdq2ps) plus the add/subtract of z, about as many as
the rest of the epilogue: the int8 models' depthwise convs ran 1.3-1.8x slower than the same convs
in the fp32 model (PP-OCR det/rec, tools/profile_kernels.py).

Also ``x / c`` with a scalar constant becomes ``x * (1/c)`` (HardSwish's /6): a vector divide costs
several multiplies; the result can differ in the last bit, which moves a later rounding only at a
tie (the int8 kernels' epilogues do the same, epilogue.py).
"""
from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.ir.expr import Constant
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

from edgec.compiler.int8.qdq import ReplaceCalls
from edgec.compiler.kernels.layout import rewrite_functions


def _users(func: relax.Function, var2val: dict) -> dict:
    """var -> the bindings that read it, whatever the expression (calls, tuples, plain aliases);
    a function output counts as a reader too."""
    users: dict = {}
    for v, e in var2val.items():
        for a in relax.analysis.free_vars(e):
            users.setdefault(a, []).append(v)
    for a in relax.analysis.free_vars(func.body.body):
        users.setdefault(a, []).append(None)
    return users


def _op(e) -> str:
    return e.op.name if isinstance(e, Call) and isinstance(e.op, tvm.ir.Op) else ""


def _scalar(e) -> float | None:
    if isinstance(e, Constant) and e.value.numpy().size == 1:
        return float(e.value.numpy().reshape(-1)[0])
    return None


def _float_scalar(v: float) -> relax.Constant:
    return relax.const(np.float32(v))


def _clamped_round(r, var2val: dict):
    """r = max(min(t + zc, hi), lo) (either nesting), t = round(..): (t, zc, lo, hi), else None."""
    e = var2val.get(r)
    bounds = {}
    for _ in range(2):
        name = _op(e)
        if name not in ("relax.maximum", "relax.minimum") or name in bounds:
            return None
        b = _scalar(e.args[1])
        if b is None or not isinstance(e.args[0], relax.Var):
            return None
        bounds[name] = b
        inner = e.args[0]
        e = var2val.get(inner)
    zc = 0.0
    if _op(e) == "relax.add":
        zc = _scalar(e.args[1])
        if zc is None or not isinstance(e.args[0], relax.Var):
            return None
        inner = e.args[0]
        e = var2val.get(inner)
    if _op(e) != "relax.round":
        return None
    return inner, zc, bounds["relax.maximum"], bounds["relax.minimum"]


def plan_requantize(func: relax.Function) -> dict:
    """{dequantize call: float expression of the same value} for the pairs the docstring describes."""
    var2val = relax.analysis.get_var2val(func)
    users = _users(func, var2val)
    out = {}
    for q, e in var2val.items():
        if not isinstance(q, relax.DataflowVar) or _op(e) != "relax.astype" \
                or str(e.attrs.dtype) not in ("int8", "uint8") \
                or not isinstance(e.args[0], relax.Var) or str(e.args[0].ty.dtype) != "float32":
            continue
        dqs = users.get(q, [])
        if not dqs or any(_op(var2val.get(u)) != "relax.dequantize" for u in dqs):
            continue
        info = np.iinfo(str(e.attrs.dtype))
        parsed = _clamped_round(e.args[0], var2val)
        for u in dqs:
            d = var2val[u]
            s, z = _scalar(d.args[1]), _scalar(d.args[2])
            if s is None or z is None or str(d.attrs.out_dtype) != "float32":
                continue
            # only a clamped round is known to be integer-valued and in range (float(int8(r)) == r)
            if parsed is None or parsed[1] != z or not info.min <= parsed[2] <= parsed[3] <= info.max:
                continue
            t, _, lo, hi = parsed
            y = relax.op.maximum(relax.op.minimum(t, _float_scalar(hi - z)), _float_scalar(lo - z))
            out[d] = relax.op.multiply(y, _float_scalar(s))
    return out


@expr_functor.mutator
class _DivideByConstant(PyExprMutator):
    def visit_call_(self, call: Call) -> Expr:
        call = super().visit_call_(call)
        if _op(call) == "relax.divide" and str(getattr(call.ty, "dtype", "")) == "float32":
            c = _scalar(call.args[1])
            if c is not None and c != 0 and np.isfinite(1.0 / c):
                return relax.op.multiply(call.args[0], _float_scalar(1.0 / c))
        return call


def fold_requantize(mod: tvm.IRModule) -> tvm.IRModule:
    """Apply the module docstring's two rewrites to every Relax function of ``mod``."""
    for gv, func in list(mod.functions_items()):
        if isinstance(func, relax.Function):
            rw = ReplaceCalls(mod, plan_requantize(func))
            rw.builder_.update_func(gv, rw.visit_expr(func))
            mod = rw.builder_.get()
    return relax.transform.DeadCodeElimination()(rewrite_functions(mod, _DivideByConstant))
