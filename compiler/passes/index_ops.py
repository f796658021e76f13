"""ReverseSequence, OneHot, and TensorScatter become GatherElements / Equal / Where on index
arithmetic.

Why: TVM's importer has no ReverseSequence or TensorScatter converter, and takes OneHot only with
constant ``values`` and a scalar depth, and then returns float64 for float values (its on/off
values become float64 PrimValues): a float32 OneHot feeding a Concat failed to import (SLANet).
Each is a selection by a computed index, which TVM imports and lowers like any
elementwise graph. Needs static shapes and, for OneHot, a constant depth (an initializer after
folding, or pinned with --input-value).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

from edgec.compiler.passes.legalize_common import Builder, GraphInfo, attrs_of, rewrite_nodes
from edgec.compiler.passes.registry import PassContext, register


def _along(b: Builder, values: np.ndarray, axis: int, rank: int) -> str:
    """A 1-D int64 constant laid along ``axis`` of a rank-``rank`` tensor (1s elsewhere)."""
    shape = [1] * rank
    shape[axis] = -1
    return b.const(np.asarray(values, np.int64).reshape(shape), "along")


def _reshape_along(b: Builder, x: str, axis: int, rank: int) -> str:
    shape = [1] * rank
    shape[axis] = -1
    return b.op("Reshape", [b.op("Cast", [x], to=TensorProto.INT64), b.ints(shape)])


def _reverse_sequence(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    x, lens = node.input[0], node.input[1]
    shape = info.shape(x)
    if shape is None or info.opset < 13:
        return False
    a, rank = attrs_of(node), len(shape)
    t_axis, b_axis = a.get("time_axis", 0) % rank, a.get("batch_axis", 1) % rank
    t = _along(b, np.arange(shape[t_axis]), t_axis, rank)
    n = _reshape_along(b, lens, b_axis, rank)
    back = b.op("Sub", [b.op("Sub", [n, b.ints(1)]), t])  # n - 1 - t inside the sequence, t after it
    idx = b.op("Where", [b.op("Less", [t, n]), back, t])
    idx = b.op("Expand", [idx, b.ints(shape)])
    b.op("GatherElements", [x, idx], node.output[0], axis=t_axis)
    return True


def _one_hot(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    ind, depth, values = node.input[:3]
    shape, d = info.shape(ind), info.const(depth)
    if shape is None or d is None:
        return False
    depth_n = int(d.reshape(-1)[0])
    rank = len(shape) + 1
    axis = attrs_of(node).get("axis", -1) % rank
    i = b.op("Cast", [ind], to=TensorProto.INT64)
    i = b.op("Where", [b.op("Less", [i, b.ints(0)]), b.op("Add", [i, b.ints(depth_n)]), i])  # -1 is the last
    i = b.op("Unsqueeze", [i, b.ints([axis])]) if info.opset >= 13 else b.op("Unsqueeze", [i], axes=[axis])
    hot = b.op("Equal", [i, _along(b, np.arange(depth_n), axis, rank)])
    on, off = (b.op("Gather", [values, b.ints(k)], axis=0) for k in (1, 0))
    b.op("Where", [hot, on, off], node.output[0])
    return True


def _tensor_scatter(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    past, update = node.input[0], node.input[1]
    w = node.input[2] if len(node.input) > 2 and node.input[2] else None
    shape, ushape = info.shape(past), info.shape(update)
    if shape is None or ushape is None or info.opset < 13:
        return False
    a, rank = attrs_of(node), len(shape)
    axis = a.get("axis", -2) % rank
    length, u = shape[axis], ushape[axis]
    rel = _along(b, np.arange(length), axis, rank)
    if w:  # position along the axis relative to each batch row's write index
        rel = b.op("Sub", [rel, _reshape_along(b, w, 0, rank)])
    if a.get("mode", "linear") == "circular":
        rel = b.op("Mod", [b.op("Add", [rel, b.ints(length)]), b.ints(length)])
    inside = b.op("And", [b.op("Not", [b.op("Less", [rel, b.ints(0)])]), b.op("Less", [rel, b.ints(u)])])
    idx = b.op("Min", [b.op("Max", [rel, b.ints(0)]), b.ints(u - 1)])
    idx = b.op("Expand", [idx, b.ints(shape)])
    new = b.op("GatherElements", [update, idx], axis=axis)
    b.op("Where", [b.op("Expand", [inside, b.ints(shape)]), new, past], node.output[0])
    return True


@register("index_ops")
def index_ops(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    counts = {}
    for op, fn in (("ReverseSequence", _reverse_sequence), ("OneHot", _one_hot), ("TensorScatter", _tensor_scatter)):
        model, counts[op] = rewrite_nodes(model, op, fn)
    return model, counts
