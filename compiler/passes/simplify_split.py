"""A Split with a single output is its input: rewrite it as an Identity (removed next).

ONNX allows it (ONNX Runtime runs it); TVM imports it as a one-element tuple, which edgec's CPU
pipeline then rejects with an InternalError ("Invalid Call"; found by tools/fuzz.py).
"""
from __future__ import annotations

import onnx
from onnx import helper

from edgec.compiler.passes.graph_utils import copy_model, remove_dead
from edgec.compiler.passes.registry import PassContext, register


@register("simplify_split")
def simplify_split(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    model = copy_model(model)
    g = model.graph
    nodes, rewritten = [], 0
    for node in g.node:
        if node.op_type == "Split" and node.domain in ("", "ai.onnx") and len(node.output) == 1 and node.input:
            nodes.append(helper.make_node("Identity", [node.input[0]], [node.output[0]], name=node.name))
            rewritten += 1
        else:
            nodes.append(node)
    del g.node[:]
    g.node.extend(nodes)
    if rewritten:
        remove_dead(g)
    return model, {"splits_removed": rewritten}
