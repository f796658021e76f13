"""Shared by the passes that spell an op TVM's importer lacks (or takes only with constant inputs)
with ops it has: a node builder, static shapes/dtypes/constants of the graph, and the loop that
replaces each matching node by the nodes its rewrite returns (None: keep it as it is)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgec.compiler.passes.graph_utils import copy_model


class GraphInfo:
    """What a rewrite may read about the graph: static dims, element types, constant values."""

    def __init__(self, model: onnx.ModelProto) -> None:
        g = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.dims: dict[str, list[int] | None] = {k: list(v.shape) for k, v in self.consts.items()}
        self.types = {t.name: t.data_type for t in g.initializer}
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            if not vi.type.HasField("tensor_type"):
                continue
            self.types[vi.name] = vi.type.tensor_type.elem_type
            if vi.type.tensor_type.HasField("shape"):
                d = [x.dim_value if x.HasField("dim_value") else -1 for x in vi.type.tensor_type.shape.dim]
                self.dims[vi.name] = d if all(v >= 0 for v in d) else None

    def shape(self, name: str) -> list[int] | None:
        return self.dims.get(name)

    def const(self, name: str) -> np.ndarray | None:
        return self.consts.get(name) if name else None

    def np_dtype(self, name: str) -> np.dtype:
        return np.dtype(helper.tensor_dtype_to_np_dtype(self.types[name]))


class Builder:
    """Appends nodes and initializers with names unique to one rewritten node."""

    def __init__(self, graph: onnx.GraphProto, prefix: str) -> None:
        self.graph, self.prefix, self.nodes, self.n = graph, prefix, [], 0

    def name(self, hint: str) -> str:
        self.n += 1
        return f"{self.prefix}/{hint}{self.n}"

    def const(self, value, hint: str = "c", dtype=None) -> str:
        name = self.name(hint)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def ints(self, values) -> str:
        return self.const(np.asarray(values, np.int64), "i")

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        out = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def attrs_of(node: onnx.NodeProto) -> dict:
    out = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in out.items()}


Rewrite = Callable[[onnx.NodeProto, GraphInfo, Builder], "bool"]


def rewrite_nodes(model: onnx.ModelProto, op_type: str, fn: Rewrite) -> tuple[onnx.ModelProto, int]:
    """Replace each ``op_type`` node for which ``fn`` returns True by the nodes it built."""
    if not any(n.op_type == op_type and n.domain in ("", "ai.onnx") for n in model.graph.node):
        return model, 0
    model = copy_model(model)
    g, info = model.graph, GraphInfo(model)
    nodes, count = [], 0
    for i, node in enumerate(g.node):
        if node.op_type == op_type and node.domain in ("", "ai.onnx"):
            b = Builder(g, f"{node.name or node.output[0]}/{op_type.lower()}{i}")
            if fn(node, info, b):
                nodes.extend(b.nodes)
                count += 1
                continue
        nodes.append(node)
    del g.node[:]
    g.node.extend(nodes)
    return model, count
