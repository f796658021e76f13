"""Physically remove channels: slice producers' output rows, followers' per-channel parameters and
consumers' input columns, then refresh shapes. The result is an ordinary ONNX model."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgec.compiler.passes.graph_utils import copy_model, remove_dead
from edgec.compiler.prune.spaces import Analysis, _attr


def _set_attr(node: onnx.NodeProto, name: str, value) -> None:
    for i, a in enumerate(node.attribute):
        if a.name == name:
            del node.attribute[i]
            break
    node.attribute.append(helper.make_attribute(name, value))


class _Weights:
    """Initializer access by name with copy-on-write renames, so shared tensors stay consistent."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.g = graph
        self.arr = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.uses: dict[str, int] = {}
        for n in graph.node:
            for i in n.input:
                if i in self.arr:
                    self.uses[i] = self.uses.get(i, 0) + 1
        self.n = 0

    def update(self, node: onnx.NodeProto, idx: int, value: np.ndarray) -> None:
        name = node.input[idx]
        if self.uses.get(name, 0) > 1:  # shared by other nodes: give this node its own copy
            self.n += 1
            new = f"{name}__pruned{self.n}"
            self.uses[name] -= 1
            self.uses[new] = 1
            node.input[idx] = new
            name = new
        self.arr[name] = value

    def flush(self) -> None:
        del self.g.initializer[:]
        self.g.initializer.extend(numpy_helper.from_array(v, k) for k, v in self.arr.items())


def keep_map(analysis: Analysis, keep: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """keep indices per space root (spaces not in ``keep`` keep everything)."""
    out = {}
    for sid in analysis.spaces:
        root = analysis._root(sid)
        size = analysis.spaces[root].size
        out[sid] = np.asarray(keep.get(root, np.arange(size)), dtype=np.int64)
    return out


def apply_keep(model: onnx.ModelProto, analysis: Analysis, keep: dict[int, np.ndarray]) -> onnx.ModelProto:
    """Return a copy of ``model`` with only ``keep[space]`` channels in each pruned space."""
    model = copy_model(model)
    g = model.graph
    nodes = {n.name or n.output[0]: n for n in g.node}

    def twin(node):  # the same node in the copied model
        return nodes[node.name or node.output[0]]

    w = _Weights(g)
    km = keep_map(analysis, keep)
    for root, idx in keep.items():
        sp = analysis.spaces[root]
        for src in sp.sources:
            n = twin(src)
            wt = w.arr[n.input[1]]
            if n.op_type == "Conv" or (n.op_type == "Gemm" and _attr(n, "transB", 0)):
                w.update(n, 1, np.ascontiguousarray(wt[idx]))
            else:
                w.update(n, 1, np.ascontiguousarray(wt[:, idx]))
            if len(n.input) > 2 and n.input[2] and w.arr[n.input[2]].ndim >= 1 and w.arr[n.input[2]].shape[-1] == sp.size:
                b = w.arr[n.input[2]]
                w.update(n, 2, np.ascontiguousarray(b[..., idx] if b.ndim else b))
        for node, i in sp.followers:
            n = twin(node)
            if n.op_type == "Conv":  # depthwise: weights, bias and group follow the channels
                w.update(n, 1, np.ascontiguousarray(w.arr[n.input[1]][idx]))
                if len(n.input) > 2 and n.input[2]:
                    w.update(n, 2, np.ascontiguousarray(w.arr[n.input[2]][idx]))
                _set_attr(n, "group", int(len(idx)))
            elif n.op_type == "Reshape":
                target = w.arr[n.input[1]]
                w.update(n, 1, np.array([target[0], -1], dtype=target.dtype))
            elif n.op_type == "BatchNormalization":
                for j in range(1, 5):
                    w.update(n, j, np.ascontiguousarray(w.arr[n.input[j]][idx]))
            else:  # per-channel constant operand: slice along its channel-aligned axis
                c = w.arr[n.input[i]]
                axis = next(ax for ax in range(c.ndim) if c.shape[ax] == sp.size and c.ndim - ax <= 4)
                w.update(n, i, np.ascontiguousarray(np.take(c, idx, axis=axis)))
    for node, x in analysis.consumers:
        seg = analysis.tensor[x]
        if not any(analysis._root(s) in keep for s, _ in seg.parts):
            continue
        cols, off = [], 0
        for sid, size in seg.parts:
            cols.append(km[sid] + off)
            off += size
        cols = np.concatenate(cols)
        n = twin(node)
        wt = w.arr[n.input[1]]
        if n.op_type == "Conv":
            w.update(n, 1, np.ascontiguousarray(wt[:, cols]))
        elif n.op_type == "Gemm" and _attr(n, "transB", 0):
            w.update(n, 1, np.ascontiguousarray(wt[:, cols]))
        else:
            w.update(n, 1, np.ascontiguousarray(wt[cols]))
    w.flush()
    # Every intermediate shape may have changed: drop them and let inference recompute.
    del g.value_info[:]
    remove_dead(g)
    from edgec.compiler.passes.infer_shapes import fresh_shapes

    return fresh_shapes(model)
