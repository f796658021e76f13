"""Remove Identity nodes (and inference-time Dropout) by rewiring their consumers."""
from __future__ import annotations

import onnx

from edgec.compiler.passes.graph_utils import copy_model, remove_dead
from edgec.compiler.passes.registry import PassContext, register


@register("remove_identity")
def remove_identity(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    model = copy_model(model)
    g = model.graph
    outputs = {o.name for o in g.output}
    rename: dict[str, str] = {}
    keep, removed = [], 0
    for node in g.node:
        for i, name in enumerate(node.input):
            node.input[i] = rename.get(name, name)
        is_noop = node.op_type == "Identity" or (
            node.op_type == "Dropout" and (len(node.output) < 2 or not node.output[1]))
        if is_noop and node.output[0] not in outputs:
            rename[node.output[0]] = node.input[0]
            removed += 1
            continue
        keep.append(node)
    del g.node[:]
    g.node.extend(keep)
    remove_dead(g)
    return model, {"identities_removed": removed}
