"""CumProd becomes log2(n) shifted products (a Hillis-Steele scan of Pad + Slice + Mul).

Why: TVM's importer has no CumProd converter. The axis must be constant (an initializer after
folding, or pinned with --input-value); exclusive shifts in a 1 first, reverse gathers the axis
backwards before and after. Products come in another order than a running product: the last
bit of a float result may differ, integers are exact.
"""
from __future__ import annotations

import numpy as np
import onnx

from edgec.compiler.passes.legalize_common import Builder, GraphInfo, attrs_of, rewrite_nodes
from edgec.compiler.passes.registry import PassContext, register


def _rewrite(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    x, axis_in = node.input[0], info.const(node.input[1])
    shape = info.shape(x)
    if axis_in is None or shape is None or info.opset < 11 or x not in info.types:
        return False
    rank = len(shape)
    axis = int(axis_in.reshape(-1)[0]) % rank
    n, a = shape[axis], attrs_of(node)
    one = b.const(np.ones((), info.np_dtype(x)), "one")

    def shift(y: str, s: int) -> str:  # y moved s places along the axis, 1s shifted in
        head = b.op("Slice", [y, b.ints([0]), b.ints([n - s]), b.ints([axis])])
        pads = [0] * (2 * rank)
        pads[axis] = s
        return b.op("Pad", [head, b.ints(pads), one])

    backwards = b.ints(np.arange(n - 1, -1, -1)) if a.get("reverse", 0) else None
    y = b.op("Gather", [x, backwards], axis=axis) if backwards else x
    if a.get("exclusive", 0):
        y = shift(y, 1) if n > 1 else b.const(np.ones(shape, info.np_dtype(x)), "ones")
    s = 1
    while s < n:
        y = b.op("Mul", [y, shift(y, s)])
        s *= 2
    if backwards:
        y = b.op("Gather", [y, backwards], axis=axis)
    b.op("Identity", [y], node.output[0])
    return True


@register("cumprod_scan")
def cumprod_scan(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    model, n = rewrite_nodes(model, "CumProd", _rewrite)
    return model, {"rewritten": n}
