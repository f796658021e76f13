"""Remove Identity nodes (and inference-time Dropout) by rewiring their consumers.

A Dropout runs at inference (no ``training_mode`` input, or a constant false one) is the identity;
its optional mask output is all true. One whose output is a graph output cannot be rewired away:
it becomes an Identity (TVM's importer turns Dropout into a tuple that edgec's pipeline rejects),
and a mask that is used becomes ``ConstantOfShape(Shape(x), true)``.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgec.compiler.passes.graph_utils import copy_model, initializers, remove_dead
from edgec.compiler.passes.registry import PassContext, register


def _inference_dropout(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> bool:
    if node.op_type != "Dropout" or node.domain not in ("", "ai.onnx"):
        return False
    if len(node.input) < 3 or not node.input[2]:
        return True
    t = inits.get(node.input[2])  # training_mode given: only a constant false one is inference
    return t is not None and not bool(np.asarray(numpy_helper.to_array(t)).any())


@register("remove_identity")
def remove_identity(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    model = copy_model(model)
    g = model.graph
    outputs = {o.name for o in g.output}
    inits = initializers(g)
    rename: dict[str, str] = {}
    keep, removed, rewritten = [], 0, 0
    for node in g.node:
        for i, name in enumerate(node.input):
            node.input[i] = rename.get(name, name)
        is_identity = node.op_type == "Identity" and node.domain in ("", "ai.onnx")
        dropout = _inference_dropout(node, inits)
        if not (is_identity or dropout):
            keep.append(node)
            continue
        x, y = node.input[0], node.output[0]
        mask = node.output[1] if dropout and len(node.output) > 1 and node.output[1] else None
        if mask:  # all true, same shape as x
            shape = f"{mask}__edgec_shape"
            keep.append(helper.make_node("Shape", [x], [shape], name=f"{node.name or mask}__shape"))
            keep.append(helper.make_node("ConstantOfShape", [shape], [mask], name=f"{node.name or mask}__mask",
                                         value=helper.make_tensor("value", onnx.TensorProto.BOOL, [1], [True])))
        if y and y in outputs:
            if dropout:
                keep.append(helper.make_node("Identity", [x], [y], name=node.name))
                rewritten += 1
            else:
                keep.append(node)
            continue
        if y:
            rename[y] = x
        removed += 1
    del g.node[:]
    g.node.extend(keep)
    remove_dead(g)
    changed = {"identities_removed": removed}
    if rewritten:
        changed["dropouts_to_identity"] = rewritten
    return model, changed
