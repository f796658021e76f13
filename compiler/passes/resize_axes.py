"""Resize with an ``axes`` attribute (opset 18) gets full-rank scales / sizes / roi instead.

Why: TVM's importer reads scales and sizes as covering every dimension and fails on the short
forms ("Resize2D expects ... a 2-dim shape"). Unlisted axes keep their size (scale 1, roi 0..1),
which is what ``axes`` means. Needs the parameters constant (initializers after folding or
--input-value); keep_aspect_ratio_policy other than stretch is left alone.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgec.compiler.passes.graph_utils import copy_model
from edgec.compiler.passes.registry import PassContext, register


def _rank(graph: onnx.GraphProto, name: str) -> "int | None":
    for vi in list(graph.input) + list(graph.value_info):
        if vi.name == name and vi.type.tensor_type.HasField("shape"):
            return len(vi.type.tensor_type.shape.dim)
    return next((len(t.dims) for t in graph.initializer if t.name == name), None)


def _dims(graph: onnx.GraphProto, name: str) -> "list[int] | None":
    for vi in list(graph.input) + list(graph.value_info):
        if vi.name == name and vi.type.tensor_type.HasField("shape"):
            d = [x.dim_value for x in vi.type.tensor_type.shape.dim]
            return d if all(v > 0 for v in d) else None
    return None


@register("resize_axes")
def resize_axes(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    def has_axes(n):
        return n.op_type == "Resize" and any(a.name == "axes" for a in n.attribute)

    if not any(has_axes(n) for n in model.graph.node):
        return model, {"rewritten": 0}
    model = copy_model(model)
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    done = 0
    for k, node in enumerate(g.node):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        policy = attrs.get("keep_aspect_ratio_policy", b"stretch")
        if not has_axes(node) or (policy.decode() if isinstance(policy, bytes) else policy) != "stretch":
            continue
        ins = list(node.input) + [""] * (4 - len(node.input))
        rank, dims = _rank(g, ins[0]), _dims(g, ins[0])
        if rank is None or any(n and n not in inits for n in ins[1:]):
            continue
        axes = [a + rank if a < 0 else a for a in attrs["axes"]]
        new = list(ins)
        p = f"{node.name or node.output[0]}/full_axes{k}"
        if ins[1] and inits[ins[1]].size:  # roi: starts then ends
            roi = inits[ins[1]]
            full = np.concatenate([np.zeros(rank), np.ones(rank)]).astype(roi.dtype)
            for i, a in enumerate(axes):
                full[a], full[rank + a] = roi[i], roi[len(axes) + i]
            new[1] = f"{p}/roi"
            g.initializer.append(numpy_helper.from_array(full, new[1]))
        if ins[2] and inits[ins[2]].size:
            full = np.ones(rank, dtype=inits[ins[2]].dtype)
            full[axes] = inits[ins[2]]
            new[2] = f"{p}/scales"
            g.initializer.append(numpy_helper.from_array(full, new[2]))
        if ins[3] and inits[ins[3]].size:
            if dims is None:
                continue
            full = np.array(dims, dtype=np.int64)
            full[axes] = inits[ins[3]]
            new[3] = f"{p}/sizes"
            g.initializer.append(numpy_helper.from_array(full, new[3]))
        while new and not new[-1]:  # trailing omitted inputs
            new.pop()
        node.input[:] = new
        kept = [a for a in node.attribute if a.name != "axes"]
        del node.attribute[:]
        node.attribute.extend(kept)
        done += 1
    return model, {"rewritten": done}
