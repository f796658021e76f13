"""Channel dependency analysis for structured pruning on an ONNX graph.

A *space* is a set of channels that must be pruned together: the outputs of one or more producers
(Conv with group 1, Gemm, MatMul with constant weights) and every tensor those channels flow
into through channel-preserving ops (activations, BatchNorm, pooling, Resize, depthwise Conv,
per-channel constants, Flatten of [N, C, 1, 1]). Binary ops between two activations (residual
Add, squeeze-excite Mul) merge spaces; Concat along channels builds a composite of spaces that
consumers see with remapped offsets. A space is *frozen* (never pruned) when any of its tensors
reaches an op we cannot follow (Transpose, general Reshape, Softmax over channels, a graph
output...). The analysis is conservative: what it does not understand, it does not touch.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import onnx
from onnx import helper

UNARY = {"Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "LeakyRelu", "Identity", "Dropout", "Elu",
         "Selu", "Softplus", "Erf", "Abs", "Neg", "Exp", "Sqrt", "Gelu", "PRelu", "Cast", "Mish", "Celu"}
POOL = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Resize", "Upsample", "LpPool"}
BINARY = {"Add", "Mul", "Sub", "Div", "Max", "Min"}


@dataclass
class Space:
    """Channels pruned together. ``size`` channels; ``sources`` produce them (their weights lose
    output rows); ``followers`` carry them (BN, depthwise conv, per-channel constants)."""

    id: int
    size: int
    sources: list[onnx.NodeProto] = field(default_factory=list)
    followers: list[tuple[onnx.NodeProto, int]] = field(default_factory=list)  # (node, input index)
    tensors: list[str] = field(default_factory=list)
    frozen: str = ""  # why it cannot be pruned


@dataclass
class Segments:
    """How a tensor's channels map to spaces: [(space id, size)], one entry unless concatenated."""

    parts: list[tuple[int, int]]

    @property
    def size(self) -> int:
        return sum(n for _, n in self.parts)


@dataclass
class Analysis:
    spaces: dict[int, Space]
    tensor: dict[str, Segments]  # tensor -> segments
    consumers: list[tuple[onnx.NodeProto, str]]  # (Conv g=1 / Gemm / MatMul, its channel input)
    axis: dict[str, int]  # tensor -> channel axis

    def space_of(self, sid: int) -> Space:
        return self.spaces[self._root(sid)]

    def _root(self, sid: int) -> int:
        while self.parent[sid] != sid:
            sid = self.parent[sid]
        return sid

    parent: dict[int, int] = field(default_factory=dict)

    def prunable(self) -> list[Space]:
        roots = {self._root(s) for s in self.spaces}
        return [self.spaces[r] for r in sorted(roots) if not self.spaces[r].frozen and self.spaces[r].sources]


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    out = {}
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            out[vi.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
    for init in model.graph.initializer:
        out[init.name] = list(init.dims)
    return out


def analyze(model: onnx.ModelProto) -> Analysis:
    """Model must have static shapes (run edgec's clean-up passes first)."""
    g = model.graph
    inits = {t.name for t in g.initializer}
    shapes = _shapes(model)
    a = Analysis({}, {}, [], {})
    next_id = [0]

    def new_space(size: int, source: onnx.NodeProto) -> int:
        sid = next_id[0]
        next_id[0] += 1
        a.spaces[sid] = Space(sid, size, [source])
        a.parent[sid] = sid
        return sid

    def union(x: int, y: int) -> int:
        rx, ry = a._root(x), a._root(y)
        if rx == ry:
            return rx
        sx, sy = a.spaces[rx], a.spaces[ry]
        if sx.size != sy.size:
            sx.frozen = sy.frozen = sx.frozen or sy.frozen or "mismatched channel counts"
        a.parent[ry] = rx
        sx.sources += sy.sources
        sx.followers += sy.followers
        sx.tensors += sy.tensors
        sx.frozen = sx.frozen or sy.frozen
        return rx

    def freeze(name: str, why: str) -> None:
        seg = a.tensor.get(name)
        if seg:
            for sid, _ in seg.parts:
                sp = a.space_of(sid)
                sp.frozen = sp.frozen or why

    def assign(name: str, seg: Segments, axis: int) -> None:
        a.tensor[name] = seg
        a.axis[name] = axis
        for sid, _ in seg.parts:
            a.space_of(sid).tensors.append(name)

    for node in g.node:
        op = node.op_type
        ins = [i for i in node.input]
        act = [i for i in ins if i and i not in inits and i in a.tensor]  # inputs carrying channels
        out = node.output[0] if node.output else ""
        if op == "Conv":
            x = ins[0]
            group = _attr(node, "group", 1)
            w = shapes.get(ins[1], [])
            cin = shapes.get(x, [0, 0])[1] if len(shapes.get(x, [])) > 1 else 0
            if ins[1] not in inits or len(w) != 4:
                for t in act:
                    freeze(t, f"Conv {node.name} has non-constant weights")
                continue
            if group == 1:
                if x in a.tensor:
                    a.consumers.append((node, x))
                assign(out, Segments([(new_space(w[0], node), w[0])]), 1)
            elif group == cin == w[0] and x in a.tensor and len(a.tensor[x].parts) == 1:
                sid = a.tensor[x].parts[0][0]
                a.space_of(sid).followers.append((node, 1))
                assign(out, a.tensor[x], 1)
            else:
                for t in act:
                    freeze(t, f"grouped Conv {node.name}")
                if out:
                    assign(out, Segments([(new_space(w[0], node), w[0])]), 1)
                    a.space_of(a.tensor[out].parts[0][0]).frozen = "grouped conv output"
        elif op in ("Gemm", "MatMul"):
            x, wname = ins[0], ins[1]
            w = shapes.get(wname, [])
            ok = wname in inits and len(w) == 2 and (op == "MatMul" or (_attr(node, "transA", 0) == 0))
            if op == "Gemm" and len(ins) > 2 and ins[2] and ins[2] not in inits:
                ok = False
            if not ok:
                for t in act:
                    freeze(t, f"{op} {node.name} is not x @ constant")
                continue
            if x in a.tensor:
                if a.axis.get(x) not in (len(shapes.get(x, [])) - 1, -1):
                    freeze(x, f"{op} {node.name} reads a non-feature axis")
                else:
                    a.consumers.append((node, x))
            nout = w[0] if (op == "Gemm" and _attr(node, "transB", 0)) else w[1]
            rank = len(shapes.get(out, [2]))
            assign(out, Segments([(new_space(nout, node), nout)]), rank - 1)
        elif op in UNARY or op in POOL or op == "BatchNormalization":
            if act:
                x = act[0]
                if op == "BatchNormalization" or op == "PRelu":
                    for sid, _ in a.tensor[x].parts:
                        a.space_of(sid).followers.append((node, 1))
                    if len(a.tensor[x].parts) > 1:
                        freeze(x, f"{op} on a concatenation")
                assign(out, a.tensor[x], a.axis[x])
                for o in node.output[1:]:
                    if o:
                        freeze(x, f"{op} {node.name} has extra outputs")
        elif op in BINARY:
            if len(act) == 2:
                sa, sb = a.tensor[act[0]], a.tensor[act[1]]
                if len(sa.parts) == len(sb.parts) == 1 and sa.size == sb.size:
                    root = union(sa.parts[0][0], sb.parts[0][0])
                    assign(out, Segments([(root, sa.size)]), a.axis[act[0]])
                else:
                    freeze(act[0], f"{op} {node.name} mixes channel layouts")
                    freeze(act[1], f"{op} {node.name} mixes channel layouts")
            elif len(act) == 1:
                x = act[0]
                other = ins[1] if ins[0] == x else ins[0]
                oshape = shapes.get(other, [])
                xshape = shapes.get(x, [])
                axis = a.axis[x]
                # per-channel constant: aligned with x's channel axis after broadcasting
                pos = axis - (len(xshape) - len(oshape)) if oshape else -1
                if other in inits and oshape and 0 <= pos < len(oshape) and oshape[pos] == a.tensor[x].size \
                        and len(a.tensor[x].parts) == 1:
                    a.space_of(a.tensor[x].parts[0][0]).followers.append((node, ins.index(other)))
                elif other in inits and (not oshape or all(d == 1 for d in oshape) or
                                         (0 <= pos < len(oshape) and oshape[pos] == 1) or pos < 0):
                    pass  # scalar or broadcast along the channel axis: nothing to slice
                elif other in inits:
                    freeze(x, f"{op} {node.name} with a constant we cannot slice")
                else:
                    freeze(x, f"{op} {node.name} with a non-channel operand")
                assign(out, a.tensor[x], axis)
        elif op == "Concat":
            axis = _attr(node, "axis", 0)
            if act and len(act) == len([i for i in ins if i]) and all(axis in (a.axis[t], a.axis[t] - len(shapes.get(t, [])))
                                                                      for t in act):
                parts = [p for t in act for p in a.tensor[t].parts]
                assign(out, Segments(parts), a.axis[act[0]])
            else:
                for t in act:
                    freeze(t, f"Concat {node.name} not along channels")
        elif op in ("Flatten", "Reshape", "Squeeze"):
            x = ins[0]
            xs, os_ = shapes.get(x, []), shapes.get(out, [])
            if x in a.tensor and len(xs) == 4 and a.axis[x] == 1 and xs[2] == xs[3] == 1 and len(os_) == 2 \
                    and os_[1] == xs[1]:
                if op == "Reshape":  # its target shape names the channel count: rewritten to [N, -1]
                    for sid, _ in a.tensor[x].parts:
                        a.space_of(sid).followers.append((node, 1))
                assign(out, a.tensor[x], 1)
            else:
                for t in act:
                    freeze(t, f"{op} {node.name} reshapes channels")
        else:
            for t in act:
                freeze(t, f"{op} {node.name} is not channel-aware")
    for o in g.output:
        freeze(o.name, "reaches a graph output")
    return a
