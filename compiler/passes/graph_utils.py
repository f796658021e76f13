"""Small helpers shared by the ONNX passes: consumers, initializer lookup, node rewriting, dead-node removal."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import numpy_helper


def copy_model(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def initializers(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in graph.initializer}


def consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    uses: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            if name:
                uses[name].append(node)
    return uses


def main_opset(model: onnx.ModelProto, default: int = 0) -> int:
    """The version of the default ONNX domain the model imports (``default`` when it names none)."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default)


def rewrite_nodes(graph: onnx.GraphProto, rewrite) -> int:
    """Each node, in order, is kept or replaced by the nodes ``rewrite(node, index, done)`` returns
    (None keeps it; ``done``: how many were replaced before, for unique names). ``rewrite`` may add
    initializers to ``graph``, not nodes. Returns how many nodes were replaced."""
    nodes, done = [], 0
    for index, node in enumerate(list(graph.node)):
        new = rewrite(node, index, done)
        if new is None:
            nodes.append(node)
        else:
            nodes.extend(new)
            done += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return done


def to_array(t: onnx.TensorProto) -> np.ndarray:
    return numpy_helper.to_array(t)


def set_initializer(graph: onnx.GraphProto, name: str, value: np.ndarray) -> None:
    """Replace or add initializer ``name``."""
    for i, t in enumerate(graph.initializer):
        if t.name == name:
            graph.initializer[i].CopyFrom(numpy_helper.from_array(value, name))
            return
    graph.initializer.append(numpy_helper.from_array(value, name))


def used_names(node: onnx.NodeProto) -> set[str]:
    """Names a node reads: its inputs and, for If/Loop/Scan, what its subgraphs read from outside
    (a superset: names a subgraph defines itself are included too, which only keeps more alive)."""
    names = {i for i in node.input if i}
    for a in node.attribute:
        for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
            for n in sub.node:
                names |= used_names(n)
            names.update(o.name for o in sub.output)
    return names


def remove_dead(graph: onnx.GraphProto) -> int:
    """Drop nodes whose outputs nobody uses and initializers nobody reads. Returns nodes removed."""
    live = {o.name for o in graph.output}
    keep = []
    for node in reversed(graph.node):
        if any(o in live for o in node.output if o):
            keep.append(node)
            live.update(used_names(node))
    removed = len(graph.node) - len(keep)
    if removed:
        del graph.node[:]
        graph.node.extend(reversed(keep))
    used_inits = [t for t in graph.initializer if t.name in live]
    if len(used_inits) != len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(used_inits)
    graph_inputs = [i for i in graph.input if i.name in live or i.name not in initializers(graph)]
    del graph.input[:]
    graph.input.extend(graph_inputs)
    return removed
