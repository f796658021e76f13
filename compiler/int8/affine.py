"""Chains of multiplies and adds by constants, folded into one multiply and one add.

An int8 model's float layers end in long elementwise chains: PP-OCR's depthwise convs (float in an
int8 model, float_layers.py) multiply by the weights' scale, add the bias, quantize (x * (1/s),
round, clamp: qdq.py) and dequantize again (* s: requantize.py), then a BatchNorm-like affine
(* a + b), HardSwish (* (1/6)), a second affine and the next quantize (* (1/s')), all as separate
ops of one fused kernel: LLVM keeps float arithmetic in the order written, so
``((r * s) * a + b)`` stays three instructions per vector where ``r * (s*a) + b`` is one FMA. In
rec's depthwise kernels the epilogue was ~20 vector instructions against the conv's nine FMAs.

Here every chain ``v = x op1 c1 op2 c2 ...`` (op: multiply, divide, add, subtract by a constant,
scalar or broadcast along some axes; each intermediate value read by the next op only) becomes
``x * A + B`` with A and B computed in float64 and rounded once to float32. The result can differ
from the written order in the last bit or two, which moves a later rounding (the next quantize)
only when the value lies that close to a rounding tie; the tolerance of `edgec verify` for
quantized outputs (docs/optimize.md, "Verifying int8 artifacts") covers such a step.
"""
from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.ir.expr import Constant
from tvm.relax import Call

from edgec.compiler.int8.qdq import ReplaceCalls

_AFFINE = ("relax.multiply", "relax.divide", "relax.add", "relax.subtract")


def _op(e) -> str:
    return e.op.name if isinstance(e, Call) and isinstance(e.op, tvm.ir.Op) else ""


def _const(e, var2val: dict, depth: int = 0) -> np.ndarray | None:
    """A float32 constant subgraph (constants, reshape, permute_dims, dequantize, ...) as numpy."""
    from edgec.compiler.int8.rewrite import _const as const_subgraph

    while isinstance(e, relax.Var) and e in var2val:
        e = var2val[e]
    if isinstance(e, Constant):
        return e.value.numpy()
    if _op(e) == "relax.permute_dims" and depth < 8:
        v = _const(e.args[0], var2val, depth + 1)
        axes = e.attrs.axes
        return None if v is None else np.transpose(v, None if axes is None else [int(a) for a in axes])
    if _op(e) == "relax.reshape" and depth < 8 and isinstance(e.args[1], relax.ShapeExpr):
        v = _const(e.args[0], var2val, depth + 1)
        return None if v is None else v.reshape([int(d) for d in e.args[1].values])
    return const_subgraph(e, var2val) if isinstance(e, Call) else None


def _shape(e) -> tuple | None:
    try:
        return tuple(int(d) for d in e.ty.shape)
    except (TypeError, AttributeError):
        return None


def _step(v: relax.Var, e, var2val: dict):
    """(input var, scale, offset) with v = input * scale + offset, for one affine op, else None."""
    name = _op(e)
    if name not in _AFFINE or str(getattr(v.ty, "dtype", "")) != "float32":
        return None
    a, b = e.args
    shape = _shape(v)
    if isinstance(b, relax.Var) and name in ("relax.multiply", "relax.add") and _const(b, var2val) is None:
        a, b = b, a  # constant first: c * x, c + x
    if not isinstance(a, relax.Var) or _const(a, var2val) is not None or _shape(a) != shape or shape is None:
        return None
    c = _const(b, var2val)
    if c is None or c.dtype not in (np.float32, np.float64) or c.ndim > len(shape):
        return None
    c = c.astype(np.float32)  # what the graph computes (a dequantized constant evaluates in float64)
    try:
        if np.broadcast_shapes(c.shape, shape) != shape:
            return None
    except ValueError:
        return None
    c = c.astype(np.float64)
    if name == "relax.multiply":
        return a, c, np.zeros_like(c)
    if name == "relax.divide":
        return (a, 1.0 / c, np.zeros_like(c)) if np.all(c != 0) else None
    return a, np.ones_like(c), (c if name == "relax.add" else -c)


def plan_affine(func: relax.Function) -> dict:
    """{last call of each foldable chain (2+ ops): ``x * A + B``}."""
    from edgec.compiler.int8.requantize import _users

    var2val = relax.analysis.get_var2val(func)
    users = _users(func, var2val)
    steps = {v: s for v, e in var2val.items() if (s := _step(v, e, var2val)) is not None}
    out = {}
    for v, (x, scale, offset) in steps.items():
        # a chain ends at v unless v's only reader is the next step of a chain
        readers = users.get(v, [])
        if len(readers) == 1 and readers[0] in steps and isinstance(v, relax.DataflowVar):
            continue
        n = 1
        while x in steps and isinstance(x, relax.DataflowVar) and len(users.get(x, [])) == 1:
            x, s2, o2 = steps[x]
            scale, offset = s2 * scale, o2 * scale + offset  # (x*s2 + o2)*scale + offset
            n += 1
        a, b = scale.astype(np.float32), offset.astype(np.float32)
        ident_a, ident_b = not np.any(a != 1), not np.any(b != 0)
        if n < 2 and not (ident_a and ident_b):
            continue  # one op: nothing to fold (x + 0, x * 1: dropped; round(.) + 0 is every quantize's)
        y = x
        if not ident_a:
            y = relax.op.multiply(y, relax.const(a if a.ndim else np.float32(a)))
        if not ident_b:
            y = relax.op.add(y, relax.const(b if b.ndim else np.float32(b)))
        out[var2val[v]] = y  # a plain alias when the whole chain is the identity
    return out


def fold_affine(mod: tvm.IRModule) -> tvm.IRModule:
    """Apply plan_affine to every Relax function of ``mod``."""
    for gv, func in list(mod.functions_items()):
        if isinstance(func, relax.Function):
            plan = plan_affine(func)
            if plan:
                rw = ReplaceCalls(mod, plan)
                rw.builder_.update_func(gv, rw.visit_expr(func))
                mod = rw.builder_.get()
    # identity chains leave `v = x` aliases, which would split TVM's operator fusion
    return relax.transform.DeadCodeElimination()(relax.transform.CanonicalizeBindings()(mod))
