"""Sinh and Cosh on floats become Exp arithmetic.

Why: TVM lowers them to the intrinsics tirx.sinh / tirx.cosh, which LLVM's code generator cannot
emit once edgec's schedules vectorize the loop ("unknown intrinsic tirx.cosh", an InternalError
at build time). cosh(x) = (e^x + e^-x) / 2 is exact enough; sinh cancels near 0, so there
|x| < 0.3 uses its odd Taylor series to x^7 (truncation < 2e-10 relative), and the exp form
elsewhere (cancellation < 4e-7 relative).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgec.compiler.passes.graph_utils import copy_model, rewrite_nodes
from edgec.compiler.passes.registry import PassContext, register

_FLOATS = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.DOUBLE: np.float64,
           onnx.TensorProto.FLOAT16: np.float16}


def _types(graph: onnx.GraphProto) -> dict[str, int]:
    types = {t.name: t.data_type for t in graph.initializer}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        types[vi.name] = vi.type.tensor_type.elem_type
    return types


def _expand(node: onnx.NodeProto, dtype, graph: onnx.GraphProto, k: int) -> list[onnx.NodeProto]:
    p = f"{node.name or node.output[0]}/{node.op_type.lower()}{k}"
    x, y = node.input[0], node.output[0]

    def const(v, name):
        graph.initializer.append(numpy_helper.from_array(np.array(v, dtype=dtype), f"{p}/{name}"))
        return f"{p}/{name}"

    nodes = [helper.make_node("Exp", [x], [f"{p}/ex"]), helper.make_node("Neg", [x], [f"{p}/negx"]),
             helper.make_node("Exp", [f"{p}/negx"], [f"{p}/enx"])]
    if node.op_type == "Cosh":
        return nodes + [helper.make_node("Add", [f"{p}/ex", f"{p}/enx"], [f"{p}/s"]),
                        helper.make_node("Mul", [f"{p}/s", const(0.5, "half")], [y])]
    # sinh: x + x^3/6 + x^5/120 + x^7/5040 = x * (1 + x2 * (1/6 + x2 * (1/120 + x2 / 5040))) near 0
    nodes += [helper.make_node("Sub", [f"{p}/ex", f"{p}/enx"], [f"{p}/d"]),
              helper.make_node("Mul", [f"{p}/d", const(0.5, "half")], [f"{p}/big"]),
              helper.make_node("Mul", [x, x], [f"{p}/x2"]),
              helper.make_node("Mul", [f"{p}/x2", const(1 / 5040, "c7")], [f"{p}/t7"]),
              helper.make_node("Add", [f"{p}/t7", const(1 / 120, "c5")], [f"{p}/t5"]),
              helper.make_node("Mul", [f"{p}/t5", f"{p}/x2"], [f"{p}/u5"]),
              helper.make_node("Add", [f"{p}/u5", const(1 / 6, "c3")], [f"{p}/t3"]),
              helper.make_node("Mul", [f"{p}/t3", f"{p}/x2"], [f"{p}/u3"]),
              helper.make_node("Add", [f"{p}/u3", const(1.0, "one")], [f"{p}/t1"]),
              helper.make_node("Mul", [f"{p}/t1", x], [f"{p}/small"]),
              helper.make_node("Abs", [x], [f"{p}/ax"]),
              helper.make_node("Less", [f"{p}/ax", const(0.3, "cut")], [f"{p}/near0"]),
              helper.make_node("Where", [f"{p}/near0", f"{p}/small", f"{p}/big"], [y])]
    return nodes


@register("hyperbolic_to_exp")
def hyperbolic_to_exp(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    if not any(n.op_type in ("Sinh", "Cosh") for n in model.graph.node):
        return model, {"rewritten": 0}
    model = copy_model(model)
    g = model.graph
    types = _types(g)

    def rewrite(node, _index, n):
        dtype = _FLOATS.get(types.get(node.input[0] if node.input else "", 0))
        if node.op_type in ("Sinh", "Cosh") and node.domain in ("", "ai.onnx") and dtype is not None:
            return _expand(node, dtype, g, n)
        return None

    return model, {"rewritten": rewrite_nodes(g, rewrite)}
