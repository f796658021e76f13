"""Drop fake-quantization that no integer kernel consumes.

A QDQ model rounds nearly every tensor through quantize -> dequantize, also where the consumer
runs in float here (depthwise convs, pooling, SE blocks, residual adds, attention). Executed
literally, each pair is extra work and splits TVM's fusion; dropped, the float op reads the
unrounded value - the float model's value. Pairs whose int8 tensor feeds an integer kernel
(``keep``) stay: that rounding is the kernel's input. Pairs in front of a float conv (depthwise)
or a product (HardSwish's x * gate, SE scaling) stay too. Mixing precisions is not monotonic:
with those dropped, PP-OCR rec's CER went 0.097 -> 0.131 (convs; the same in ONNX Runtime with the
same pairs removed) and det's map IoU 0.947 -> 0.910 (products), while dropping the rest
(add, relu, mean, matmul, softmax, reshapes) left rec at 0.097 and det at 0.948.
"""
from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.ir.expr import Constant
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

_Q, _DQ = "relax.quantize", "relax.dequantize"
KEEP_BEFORE = ("relax.nn.conv2d", "relax.multiply")


def _op(e) -> str:
    return e.op.name if isinstance(e, Call) and isinstance(e.op, tvm.ir.Op) else ""


def _is_gate(v) -> bool:
    """A per-channel vector ([N, C, 1, 1]: an SE gate or a pooled vector): its rounding may go
    (PP-OCR rec on 300 lines: CER 0.096 keeping it, 0.086 without; float 0.091)."""
    shape = [int(d) for d in v.ty.shape]
    return len(shape) == 4 and shape[2] * shape[3] == 1


def droppable(var2val: dict, users: dict, keep: frozenset, keep_before: tuple = KEEP_BEFORE) -> dict:
    """{dequantize call: float value it can be replaced with}."""
    out = {}
    for q, e in var2val.items():
        if _op(e) != _Q or q in keep or not isinstance(q, relax.DataflowVar):
            continue
        dqs = users.get(q, [])
        if not dqs or any(_op(var2val.get(u)) != _DQ for u in dqs):
            continue
        if any(_op(var2val.get(c)) in keep_before for u in dqs for c in users.get(u, [])) and not _is_gate(q):
            continue  # measured: these consumers need their int8 input (see the module docstring)
        for u in dqs:
            out[var2val[u]] = e.args[0]
    return out


@expr_functor.mutator
class ReplaceCalls(PyExprMutator):
    """Replaces each call that is a key of ``replace`` with its value (itself visited again);
    the int8 rewrites (qdq.py, requantize.py) plan a dict of such replacements, then apply it."""

    def __init__(self, mod: tvm.IRModule, replace: dict) -> None:
        super().__init__(mod)
        self.replace = replace

    def visit_call_(self, call: Call) -> Expr:
        if call in self.replace:
            return self.visit_expr(self.replace[call])
        return super().visit_call_(call)


def drop_float_qdq(mod: tvm.IRModule, gv, func: relax.Function, replace: dict) -> tvm.IRModule:
    if not replace:
        return mod
    rw = ReplaceCalls(mod, replace)
    rw.builder_.update_func(gv, rw.visit_expr(func))
    # the dropped pairs leave `v = x` aliases, which split TVM's operator fusion: fold them away
    return relax.transform.DeadCodeElimination()(relax.transform.CanonicalizeBindings()(rw.builder_.get()))


@expr_functor.mutator
class _ReciprocalQuantize(PyExprMutator):
    def visit_call_(self, call: Call) -> Expr:
        call = super().visit_call_(call)
        if _op(call) != _Q:
            return call
        x, s, z = call.args[:3]
        sv, zv = _scalar_const(s), _scalar_const(z)
        if sv is None or zv is None or sv == 0:
            return call
        dt = str(call.attrs.out_dtype)
        info = np.iinfo(dt)
        r = relax.op.add(relax.op.round(relax.op.multiply(x, relax.const(np.float32(1.0 / sv)))),
                         relax.const(np.float32(zv)))
        r = relax.op.maximum(relax.op.minimum(r, relax.const(np.float32(info.max))), relax.const(np.float32(info.min)))
        return relax.op.astype(r, dt)


def _scalar_const(e) -> float | None:
    if isinstance(e, Constant) and e.value.numpy().size == 1:
        return float(e.value.numpy().reshape(-1)[0])
    return None


def quantize_by_reciprocal(mod: tvm.IRModule) -> tvm.IRModule:
    """quantize(x, s, z) with a scalar scale as clip(round(x * (1/s)) + z) in elementwise ops.

    TVM legalizes quantize as round(x / s): in a depthwise conv's epilogue the two vector divides
    (int8 PP-OCR rec runs its depthwise convs between two quantizes) cost more than the conv's
    nine FMAs. x * (1/s) can differ from x / s in the last bit, which moves the rounded value
    only when x / s is within one ulp of a rounding tie. As elementwise ops, the layout pass
    carries NHWC through them too."""
    for gv, func in list(mod.functions_items()):
        if isinstance(func, relax.Function):
            rw = _ReciprocalQuantize(mod)
            rw.builder_.update_func(gv, rw.visit_expr(func))
            mod = rw.builder_.get()
    return mod
