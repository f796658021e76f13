"""Squeeze / Unsqueeze with negative axes get the equivalent non-negative ones (static ranks).

Why: after edgec's channels-last layout pass, a Relax squeeze with axis -1 behind a converted
Conv1D makes TVM's layout inference allocate without bound (std::bad_alloc at build time; silero-vad's
encoder -> LSTM hand-off does this). Non-negative axes mean the same and build.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgec.compiler.passes.graph_utils import copy_model
from edgec.compiler.passes.infer_shapes import fresh_shapes
from edgec.compiler.passes.registry import PassContext, register

_OPS = ("Squeeze", "Unsqueeze")


def _ranks(graph: onnx.GraphProto) -> dict[str, int]:
    ranks = {t.name: len(t.dims) for t in graph.initializer}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        if vi.type.tensor_type.HasField("shape"):
            ranks[vi.name] = len(vi.type.tensor_type.shape.dim)
    return ranks


def _axes(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> "list[int] | None":
    if len(node.input) > 1 and node.input[1]:
        t = inits.get(node.input[1])
        return numpy_helper.to_array(t).reshape(-1).tolist() if t is not None else None
    return next((list(a.ints) for a in node.attribute if a.name == "axes"), None)


@register("normalize_axes")
def normalize_axes(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    inits = {t.name: t for t in model.graph.initializer}
    if not any(n.op_type in _OPS and any(a < 0 for a in (_axes(n, inits) or [])) for n in model.graph.node):
        return model, {"normalized": 0}
    model = fresh_shapes(copy_model(model))
    g = model.graph
    inits, ranks = {t.name: t for t in g.initializer}, _ranks(g)
    changed = 0
    for node in g.node:
        axes = _axes(node, inits) if node.op_type in _OPS and node.domain in ("", "ai.onnx") else None
        if not axes or all(a >= 0 for a in axes):
            continue
        rank = ranks.get(node.input[0]) if node.op_type == "Squeeze" else ranks.get(node.output[0])
        if rank is None:
            continue
        new = [a + rank if a < 0 else a for a in axes]
        if len(node.input) > 1 and node.input[1]:
            name = f"{node.input[1]}/nonneg_{changed}"
            g.initializer.append(numpy_helper.from_array(np.array(new, dtype=np.int64), name))
            node.input[1] = name
        else:
            for a in node.attribute:
                if a.name == "axes":
                    a.CopyFrom(helper.make_attribute("axes", new))
        changed += 1
    return model, {"normalized": changed}
