"""Constant folding, including shape arithmetic: Shape/Size of static tensors become constants,
and any node whose inputs are all constant is evaluated once (with onnx's reference evaluator)
and replaced by an initializer; an If whose condition becomes constant is replaced by its branch.
A graph output that folds is returned as the constant it is (Shape of a static input, a window
of a pinned size).

Why our own and not an ORT-optimized model: we need to fold on the graph we then keep editing
(BN folding, pruning, quantization), report what changed, and not depend on which fusions a given
ORT release applies. TVM's ONNX importer needs this: real exports compute Reshape targets with
Shape->Gather->Concat chains ("Reshape requires the input new shape to be Shape").
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from edgec.compiler.passes.graph_utils import copy_model, remove_dead
from edgec.compiler.passes.infer_shapes import fresh_shapes
from edgec.compiler.passes.inline_if import inline_constant_ifs
from edgec.compiler.passes.registry import PassContext, register
from edgec.errors import ModelFormatError

# Nodes never folded: random generators, control flow (subgraphs), and anything producing huge data.
_NEVER = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
          "If", "Loop", "Scan", "Bernoulli"}
_MAX_FOLDED_ELEMENTS = 1 << 24


def _static_shapes(graph: onnx.GraphProto) -> dict[str, list[int]]:
    shapes = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape"):
            d = [x.dim_value if x.HasField("dim_value") else -1 for x in tt.shape.dim]
            if all(v >= 0 for v in d):
                shapes[vi.name] = d
    return shapes


def _evaluate(node: onnx.NodeProto, values: dict[str, np.ndarray], opset: list) -> list[np.ndarray]:
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(values[n].dtype), values[n].shape)
              for n in node.input if n]
    outputs = [helper.make_empty_tensor_value_info(n) for n in node.output if n]
    graph = helper.make_graph([node], "fold", inputs, outputs)
    model = helper.make_model(graph, opset_imports=opset)
    feeds = {n: values[n] for n in node.input if n}
    return ReferenceEvaluator(model).run(None, feeds)


@register("fold_constants")
def fold_constants(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    """Fold, re-infer shapes, repeat until nothing more folds (folding a Reshape target lets
    inference prove the next Shape static)."""
    total = {"folded": 0, "dead_removed": 0, "rounds": 0, "ifs_inlined": 0}
    while True:
        model, changed = _fold_once(fresh_shapes(model))
        model, inlined = inline_constant_ifs(model)  # an If on a now-constant condition is its branch
        total["rounds"] += 1
        total["folded"] += changed["folded"]
        total["dead_removed"] += changed["dead_removed"]
        total["ifs_inlined"] += inlined
        if not changed["folded"] and not inlined:
            return model, total


def _array(t: onnx.TensorProto) -> np.ndarray:
    """An initializer's value; one whose data does not fit its dims is a corrupt model."""
    try:
        return numpy_helper.to_array(t)
    except Exception as e:  # noqa: BLE001 - onnx raises ValueError/TypeError/RuntimeError here
        raise ModelFormatError(f"initializer '{t.name}' is corrupt: {str(e).strip()[:200] or type(e).__name__}",
                               hint="the file may be truncated or corrupt; re-export it") from None


def _fold_once(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, int]]:
    model = copy_model(model)
    g = model.graph
    opset = list(model.opset_import)
    values: dict[str, np.ndarray] = {t.name: _array(t) for t in g.initializer}
    shapes = _static_shapes(g)
    keep, folded = [], 0
    for node in g.node:
        value = None
        if node.domain not in ("", "ai.onnx") or node.op_type in _NEVER:
            keep.append(node)
            continue
        if node.op_type == "Constant":
            try:
                value = _evaluate(node, values, opset)
            except Exception as e:  # noqa: BLE001 - a tensor whose data does not fit its dims, ...
                raise ModelFormatError(f"Constant node '{node.name or node.output[0]}' is corrupt: "
                                       f"{str(e).strip()[:200] or type(e).__name__}") from None
        elif node.op_type in ("Shape", "Size") and node.input[0] in shapes:
            shp = np.array(shapes[node.input[0]], dtype=np.int64)
            if node.op_type == "Size":
                value = [np.array(int(np.prod(shp)), dtype=np.int64)]
            else:
                start = next((a.i for a in node.attribute if a.name == "start"), 0)
                end = next((a.i for a in node.attribute if a.name == "end"), None)
                value = [shp[start:end]]
        elif all((not n) or n in values for n in node.input) and any(node.input):
            try:
                value = _evaluate(node, values, opset)
            except Exception:  # an op the reference evaluator lacks: leave it to the compiler
                value = None
        if value is None or any(np.asarray(v).size > _MAX_FOLDED_ELEMENTS for v in value):
            keep.append(node)
            continue
        for name, v in zip(node.output, value):
            values[name] = np.asarray(v)
            g.initializer.append(numpy_helper.from_array(np.asarray(v), name))
        folded += 1
    del g.node[:]
    g.node.extend(keep)
    removed = remove_dead(g)
    return model, {"folded": folded, "dead_removed": removed}
