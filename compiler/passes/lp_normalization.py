"""LpNormalization becomes x / ReduceL1|L2(x, axis, keepdims): TVM's importer has no converter."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgec.compiler.passes.graph_utils import copy_model, main_opset, rewrite_nodes
from edgec.compiler.passes.registry import PassContext, register


@register("lp_normalization")
def lp_normalization(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    if not any(n.op_type == "LpNormalization" for n in model.graph.node):
        return model, {"rewritten": 0}
    model = copy_model(model)
    g = model.graph
    opset = main_opset(model)

    def rewrite(node, _index, n):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        p = int(attrs.get("p", 2))
        if node.op_type != "LpNormalization" or node.domain not in ("", "ai.onnx") or p not in (1, 2):
            return None
        axis, pre = int(attrs.get("axis", -1)), f"{node.name or node.output[0]}/lpnorm{n}"
        op = "ReduceL2" if p == 2 else "ReduceL1"
        if opset >= 18:  # axes an input from opset 18
            g.initializer.append(numpy_helper.from_array(np.array([axis], np.int64), f"{pre}/axes"))
            red = helper.make_node(op, [node.input[0], f"{pre}/axes"], [f"{pre}/norm"], keepdims=1)
        else:
            red = helper.make_node(op, [node.input[0]], [f"{pre}/norm"], axes=[axis], keepdims=1)
        return [red, helper.make_node("Div", [node.input[0], f"{pre}/norm"], [node.output[0]])]

    return model, {"rewritten": rewrite_nodes(g, rewrite)}
