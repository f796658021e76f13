"""Make NaN propagate through the ops whose TVM lowering drops it, as ONNX Runtime does.

TVM lowers max(x, c) to ``x > c ? x : c``, which is false for NaN: Relu(NaN), Clip(NaN),
HardSigmoid(NaN), Max/Min with a NaN operand and ReduceMax/ReduceMin over a NaN give a number
where ONNX Runtime gives NaN. This pass rewrites each such float node ``y = op(x)`` as
``y = Where(IsNaN(x), x, op(x))`` (reductions: NaN where any reduced element is NaN), the
reference's semantics, at the cost of a compare and a select per element (TVM fuses them into
the op's loop). MaxPool and LeakyRelu already agree with ORT and are left alone.
"""
from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from edgec.compiler.passes.graph_utils import copy_model
from edgec.compiler.passes.registry import PassContext, register

_UNARY = {"Relu", "Clip", "HardSigmoid"}
_NARY = {"Max", "Min"}
_REDUCE = {"ReduceMax", "ReduceMin"}
_FLOATS = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}


def _elem_types(model: onnx.ModelProto) -> dict[str, int]:
    g = model.graph
    types = {t.name: t.data_type for t in g.initializer}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            types[vi.name] = vi.type.tensor_type.elem_type
    return types


@register("propagate_nan")
def propagate_nan(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    model = copy_model(model)
    g = model.graph
    types = _elem_types(model)
    out_nodes, rewritten = [], 0
    for k, node in enumerate(g.node):
        op = node.op_type if node.domain in ("", "ai.onnx") else ""
        y = node.output[0] if node.output else ""
        if op not in _UNARY | _NARY | _REDUCE or not y or types.get(node.input[0]) not in _FLOATS:
            out_nodes.append(node)
            continue
        tag = f"__nan{k}"
        raw = y + tag
        node.output[0] = raw
        out_nodes.append(node)
        if op in _REDUCE:
            mask, maskf, anyf, anyb, nan = (f"{y}{tag}_{s}" for s in ("isnan", "f", "any", "b", "nan"))
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            out_nodes += [helper.make_node("IsNaN", [node.input[0]], [mask]),
                          helper.make_node("Cast", [mask], [maskf], to=types[node.input[0]]),
                          helper.make_node(op.replace("Min", "Max"), [maskf, *node.input[1:]], [anyf], **attrs),
                          helper.make_node("Cast", [anyf], [anyb], to=TensorProto.BOOL),
                          helper.make_node("Constant", [], [nan], value=helper.make_tensor(
                              nan, types[node.input[0]], [], [float("nan")])),
                          helper.make_node("Where", [anyb, nan, raw], [y])]
        else:
            cur = raw
            sources = [node.input[0]] if op in _UNARY else [i for i in node.input if i and types.get(i) in _FLOATS]
            for j, x in enumerate(sources):
                mask, nxt = f"{y}{tag}_isnan{j}", (y if j == len(sources) - 1 else f"{y}{tag}_{j}")
                out_nodes += [helper.make_node("IsNaN", [x], [mask]), helper.make_node("Where", [mask, x, cur], [nxt])]
                cur = nxt
        rewritten += 1
    del g.node[:]
    g.node.extend(out_nodes)
    return model, {"nodes_rewritten": rewritten}
