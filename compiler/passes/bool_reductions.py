"""ReduceMax / ReduceMin on booleans run on uint8 (any / all), cast back to bool.

Why: TVM's reductions need the dtype's min/max value as the identity and have none for bool
("Cannot decide min_value for type bool", an InternalError at import); over 0/1 they are the same.
"""
from __future__ import annotations

import onnx
from onnx import helper

from edgec.compiler.passes.graph_utils import copy_model
from edgec.compiler.passes.registry import PassContext, register

_OPS = ("ReduceMax", "ReduceMin")


def _types(graph: onnx.GraphProto) -> dict[str, int]:
    types = {t.name: t.data_type for t in graph.initializer}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        types[vi.name] = vi.type.tensor_type.elem_type
    return types


@register("bool_reductions")
def bool_reductions(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    types = _types(model.graph)
    if not any(n.op_type in _OPS and types.get(n.input[0]) == onnx.TensorProto.BOOL for n in model.graph.node):
        return model, {"rewritten": 0}
    model = copy_model(model)
    g = model.graph
    nodes, n = [], 0
    for node in g.node:
        if node.op_type not in _OPS or node.domain not in ("", "ai.onnx") \
                or types.get(node.input[0]) != onnx.TensorProto.BOOL:
            nodes.append(node)
            continue
        p = f"{node.name or node.output[0]}/u8_{n}"
        red = onnx.NodeProto()
        red.CopyFrom(node)
        red.input[0], red.output[0], red.name = f"{p}/in", f"{p}/out", f"{p}/reduce"
        nodes += [helper.make_node("Cast", [node.input[0]], [f"{p}/in"], to=onnx.TensorProto.UINT8), red,
                  helper.make_node("Cast", [f"{p}/out"], [node.output[0]], to=onnx.TensorProto.BOOL)]
        n += 1
    del g.node[:]
    g.node.extend(nodes)
    return model, {"rewritten": n}
