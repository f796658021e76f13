"""Count a model's FLOPs (2 per multiply-accumulate) from the imported Relax module, so the
bench can say how far each latency is from this CPU's measured peak. Only the ops that matter
(convolutions and matrix products) are counted; elementwise work is ignored."""
from __future__ import annotations

import math

import tvm


def _shape(expr) -> tuple[int, ...]:
    return tuple(int(d) for d in expr.ty.shape)


def _flops(call) -> int:
    name = call.op.name
    if name in ("relax.nn.conv2d", "relax.nn.conv1d", "relax.nn.conv3d"):
        out = _shape(call)
        w = _shape(call.args[1])
        o_axis = str(call.attrs.kernel_layout).index("O")  # OIHW from ONNX, HWIO/HWOI from TFLite
        return 2 * math.prod(out) * math.prod(w) // w[o_axis]
    if name in ("relax.nn.conv2d_transpose", "relax.nn.conv1d_transpose"):
        x = _shape(call.args[0])
        w = _shape(call.args[1])  # I, O/groups, k...
        return 2 * math.prod(x) * math.prod(w[1:])
    if name == "relax.matmul":
        a = _shape(call.args[0])
        return 2 * math.prod(_shape(call)) * a[-1]
    return 0


def count_flops(mod: "tvm.IRModule") -> int:
    total = 0
    for block in mod["main"].body.blocks:
        for b in block.bindings:
            v = b.value
            if isinstance(v, tvm.relax.Call) and isinstance(v.op, tvm.ir.Op):
                try:
                    total += _flops(v)
                except (AttributeError, TypeError, ValueError):
                    continue
    return total
