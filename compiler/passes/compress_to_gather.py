"""Compress with a constant condition becomes a Gather of the kept indices (TVM has no Compress;
with the condition known, the output shape is static). A run-time condition is left as is."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgec.compiler.passes.graph_utils import copy_model, rewrite_nodes
from edgec.compiler.passes.registry import PassContext, register


@register("compress_to_gather")
def compress_to_gather(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    if not any(n.op_type == "Compress" for n in model.graph.node):
        return model, {"rewritten": 0}
    model = copy_model(model)
    g = model.graph
    inits = {t.name: t for t in g.initializer}

    def rewrite(node, _index, n):
        if node.op_type != "Compress" or node.domain not in ("", "ai.onnx") or node.input[1] not in inits:
            return None
        keep = np.flatnonzero(numpy_helper.to_array(inits[node.input[1]]).reshape(-1)).astype(np.int64)
        axis = next((a.i for a in node.attribute if a.name == "axis"), None)
        p = f"{node.name or node.output[0]}/compress{n}"
        g.initializer.append(numpy_helper.from_array(keep, f"{p}/keep"))
        x, nodes = node.input[0], []
        if axis is None:  # over the flattened input
            g.initializer.append(numpy_helper.from_array(np.array([-1], np.int64), f"{p}/flat"))
            nodes.append(helper.make_node("Reshape", [x, f"{p}/flat"], [f"{p}/x"]))
            x, axis = f"{p}/x", 0
        return nodes + [helper.make_node("Gather", [x, f"{p}/keep"], [node.output[0]], axis=axis)]

    return model, {"rewritten": rewrite_nodes(g, rewrite)}
