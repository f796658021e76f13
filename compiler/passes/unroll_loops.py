"""Scan, and Loop with a known trip count, become their body repeated once per step.

Why: edgec compiles static shapes, and a Scan over a static axis or a Loop whose trip count is a
constant (or pinned with --input-value) and whose condition stays true is a fixed chain of body
copies; unrolled, it folds, fuses and schedules like the rest of the graph (ONNX function bodies
such as LinearAttention's use Scan). Loops whose condition the body computes from data, Scan
of opset 8 (batch axis, sequence lengths) and unrolls beyond MAX_NODES are left in place, and
TVM's importer then names them as unsupported.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgec.compiler.passes.graph_utils import copy_model, main_opset, rewrite_nodes
from edgec.compiler.passes.infer_shapes import fresh_shapes
from edgec.compiler.passes.inline_if import _defined, _rename_graph
from edgec.compiler.passes.registry import PassContext, register

MAX_NODES = 200_000  # nodes an unrolled loop may add


def _shape(graph: onnx.GraphProto, name: str) -> "list[int] | None":
    for vi in list(graph.input) + list(graph.value_info):
        if vi.name == name and vi.type.tensor_type.HasField("shape"):
            d = [x.dim_value if x.HasField("dim_value") else -1 for x in vi.type.tensor_type.shape.dim]
            return d if all(v >= 0 for v in d) else None
    return next((list(t.dims) for t in graph.initializer if t.name == name), None)


class _Unroller:
    def __init__(self, graph: onnx.GraphProto, node: onnx.NodeProto, k: int, opset: int) -> None:
        self.g, self.node, self.opset = graph, node, opset
        self.prefix = f"{node.name or node.output[0]}/{node.op_type.lower()}{k}"
        self.nodes: list[onnx.NodeProto] = []
        self.n = 0

    def name(self, hint: str) -> str:
        self.n += 1
        return f"{self.prefix}/{hint}_{self.n}"

    def const(self, value, dtype) -> str:
        name = self.name("c")
        self.g.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], out: "str | None" = None, **attrs) -> str:
        out = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.name(op_type), **attrs))
        return out

    def body_step(self, body: onnx.GraphProto, t: int, bind: list[str]) -> list[str]:
        """One copy of ``body`` with its inputs bound to ``bind``; returns its output names."""
        copy = onnx.GraphProto()
        copy.CopyFrom(body)
        step = f"{self.prefix}/step{t}/"
        rename = {n: step + n for n in _defined(copy)}
        rename.update({vi.name: b for vi, b in zip(copy.input, bind)})
        _rename_graph(copy, rename)
        self.g.initializer.extend(copy.initializer)
        self.nodes.extend(copy.node)
        return [o.name for o in copy.output]

    def stack(self, per_step: list[str], axis: int, out: str) -> None:
        if self.opset >= 13:
            ax = self.const([axis], np.int64)
            parts = [self.op("Unsqueeze", [s, ax]) for s in per_step]
        else:  # axes an attribute before opset 13
            parts = [self.op("Unsqueeze", [s], axes=[axis]) for s in per_step]
        self.op("Concat", parts, out=out, axis=axis)


def _attr(node: onnx.NodeProto, name: str, default=None):
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def _unroll_scan(g: onnx.GraphProto, node: onnx.NodeProto, k: int, opset: int) -> "list[onnx.NodeProto] | None":
    if opset < 9:
        return None  # opset 8: a batch axis and sequence lengths
    body, m = _attr(node, "body"), int(_attr(node, "num_scan_inputs"))
    n_state = len(node.input) - m
    in_axes = list(_attr(node, "scan_input_axes", [0] * m))
    in_dirs = list(_attr(node, "scan_input_directions", [0] * m))
    n_out = len(body.output) - n_state
    out_axes = list(_attr(node, "scan_output_axes", [0] * n_out))
    out_dirs = list(_attr(node, "scan_output_directions", [0] * n_out))
    shapes = [_shape(g, x) for x in node.input[n_state:]]
    if any(s is None for s in shapes) or not shapes:
        return None
    axes = [a + len(s) if a < 0 else a for a, s in zip(in_axes, shapes)]
    lengths = {s[a] for s, a in zip(shapes, axes)}
    if len(lengths) != 1:
        return None
    T = lengths.pop()
    if T * len(body.node) > MAX_NODES or T == 0:
        return None
    u = _Unroller(g, node, k, opset)
    state = list(node.input[:n_state])
    outs: list[list[str]] = [[] for _ in range(n_out)]
    for t in range(T):
        slices = [u.op("Gather", [x, u.const(T - 1 - t if d else t, np.int64)], axis=a)
                  for x, a, d in zip(node.input[n_state:], axes, in_dirs)]
        res = u.body_step(body, t, state + slices)
        state = res[:n_state]
        for j in range(n_out):
            outs[j].append(res[n_state + j])
    for name, s in zip(node.output[:n_state], state):
        if name:
            u.op("Identity", [s], out=name)
    for j, name in enumerate(node.output[n_state:]):
        if name:
            seq = outs[j][::-1] if out_dirs[j] else outs[j]
            axis = out_axes[j]
            if axis < 0:  # relative to the stacked output's rank: a step's rank + 1
                axis += len(body.output[n_state + j].type.tensor_type.shape.dim) + 1
            u.stack(seq, axis, name)
    return u.nodes


def _loop_cond_passes_through(body: onnx.GraphProto) -> bool:
    """The body's condition output is its condition input (or a constant true)."""
    cond_in, cond_out = body.input[1].name, body.output[0].name
    if cond_out == cond_in:
        return True
    for n in body.node:
        if cond_out in n.output:
            if n.op_type == "Identity" and n.input[0] == cond_in:
                return True
            if n.op_type == "Constant":
                v = numpy_helper.to_array(_attr(n, "value")) if _attr(n, "value") is not None else None
                return v is not None and v.size == 1 and bool(v.reshape(-1)[0])
    inits = {t.name: t for t in body.initializer}
    return cond_out in inits and bool(numpy_helper.to_array(inits[cond_out]).reshape(-1)[0])


def _unroll_loop(g: onnx.GraphProto, node: onnx.NodeProto, k: int, opset: int) -> "list[onnx.NodeProto] | None":
    inits = {t.name: t for t in g.initializer}
    trip, cond = (list(node.input) + ["", ""])[:2]
    if not trip or trip not in inits or (cond and cond not in inits):
        return None
    T = int(numpy_helper.to_array(inits[trip]).reshape(-1)[0])
    if cond and not bool(numpy_helper.to_array(inits[cond]).reshape(-1)[0]):
        T = 0
    body = _attr(node, "body")
    if T <= 0 or T * len(body.node) > MAX_NODES or not _loop_cond_passes_through(body):
        return None
    n_state = len(node.input) - 2
    n_out = len(body.output) - 1 - n_state
    u = _Unroller(g, node, k, opset)
    state = list(node.input[2:])
    cond_name = cond or u.const(True, np.bool_)
    outs: list[list[str]] = [[] for _ in range(n_out)]
    for t in range(T):
        res = u.body_step(body, t, [u.const(t, np.int64), cond_name] + state)
        state = res[1:1 + n_state]
        for j in range(n_out):
            outs[j].append(res[1 + n_state + j])
    for name, s in zip(node.output[:n_state], state):
        if name:
            u.op("Identity", [s], out=name)
    for j, name in enumerate(node.output[n_state:]):
        if name:
            u.stack(outs[j], 0, name)
    return u.nodes


@register("unroll_loops")
def unroll_loops(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    if not any(n.op_type in ("Scan", "Loop") for n in model.graph.node):
        return model, {"unrolled": 0}
    model = fresh_shapes(copy_model(model))
    g = model.graph
    opset = main_opset(model)
    unroll = {"Scan": _unroll_scan, "Loop": _unroll_loop}
    unrolled = rewrite_nodes(g, lambda node, k, _done: unroll[node.op_type](g, node, k, opset)
                             if node.domain in ("", "ai.onnx") and node.op_type in unroll else None)
    if not unrolled:
        return model, {"unrolled": 0}
    from edgec.compiler.passes.fold_constants import fold_constants

    model, folded = fold_constants(model, ctx)
    return model, {"unrolled": unrolled, "folded": folded["folded"]}
