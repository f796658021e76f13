"""Parameters and FLOPs (2 per multiply-accumulate) of an ONNX model with static shapes."""
from __future__ import annotations

import math

import onnx

from edgec.compiler.prune.spaces import _attr, _shapes


def params(model: onnx.ModelProto) -> int:
    return sum(math.prod(t.dims) for t in model.graph.initializer)


def flops(model: onnx.ModelProto) -> int:
    shapes = _shapes(model)
    total = 0
    for n in model.graph.node:
        out = shapes.get(n.output[0]) if n.output else None
        if not out or any(d < 0 for d in out):
            continue
        if n.op_type == "Conv":
            w = shapes.get(n.input[1], [])
            if len(w) == 4:
                total += 2 * math.prod(out) * w[1] * w[2] * w[3]
        elif n.op_type in ("MatMul", "Gemm"):
            a = shapes.get(n.input[0], [])
            k = (a[-2] if n.op_type == "Gemm" and _attr(n, "transA", 0) else a[-1]) if a else 0
            total += 2 * math.prod(out) * k
    return total
