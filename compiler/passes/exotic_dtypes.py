"""Tensors of the small ONNX dtypes (bfloat16, float8 e4m3fn/e4m3fnuz/e5m2/e5m2fnuz/e8m0,
float4e2m1, int4/uint4, int2/uint2) are carried as their bits; Cast, CastLike, QuantizeLinear and
DequantizeLinear to and from them become table look-ups (``dtype_codec``); other ops compute in
float32 (int32 for the integer types) between a decode and an encode.

Why: TVM 0.27's CPU build computes in none of these types (and edgec's runtime takes none of them),
yet real exports carry them at the edges (fp8 / int4 QDQ weights, bfloat16 activations) and they
are ~180 of ONNX's backend node cases. A graph input or output of such a type becomes its carrier
(uint16 for bfloat16, one uint8 per element for the rest, ml_dtypes' layout): feed
``x.view(np.uint8)`` and view the output back (``edgec.backend`` does). Ops that only move data
(Reshape, Transpose, Gather, Concat, Where, Pad...) run on the bits unchanged.
Limits: a double source is rounded to float32 before encoding (two roundings); blocked Q/DQ and
ops with subgraphs on these types are left as they are (TVM's importer then names them).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgec.compiler.passes import dtype_codec as codec
from edgec.compiler.passes.graph_utils import copy_model
from edgec.compiler.passes.infer_shapes import fresh_shapes
from edgec.compiler.passes.registry import PassContext, register

# ops that only move, select or rearrange elements: they run on the carrier's bits as they are
MOVE_OPS = {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice",
            "Gather", "GatherElements", "GatherND", "Expand", "Tile", "ReverseSequence", "Compress", "OneHot",
            "Where", "DepthToSpace", "SpaceToDepth", "Shape", "Size", "Pad", "ScatterElements", "ScatterND",
            "Scatter", "Dropout"}
_SUBGRAPH_OPS = {"If", "Loop", "Scan"}
_INT_RANGE = {TensorProto.INT4: (-8, 7), TensorProto.UINT4: (0, 15), TensorProto.INT2: (-2, 1),
              TensorProto.UINT2: (0, 3)}
_BLOCK = 256  # thresholds compared per level of the search


class _Builder:
    """Appends nodes and constants for one rewrite; names are unique per node rewritten."""

    def __init__(self, graph: onnx.GraphProto, opset: int, prefix: str) -> None:
        self.graph, self.opset, self.prefix, self.nodes, self.n = graph, opset, prefix, [], 0

    def name(self, hint: str) -> str:
        self.n += 1
        return f"{self.prefix}/{hint}{self.n}"

    def const(self, value: np.ndarray, hint: str) -> str:
        name = self.name(hint)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        out = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def cast(self, x: str, to: int, out: str | None = None) -> str:
        return self.op("Cast", [x], out, to=to)

    def unsqueeze_last(self, x: str) -> str:
        if self.opset >= 13:
            return self.op("Unsqueeze", [x, self.const(np.array([-1], np.int64), "axes")])
        return self.op("Unsqueeze", [x], axes=[-1])

    def sum_last(self, x: str) -> str:
        if self.opset >= 13:
            return self.op("ReduceSum", [x, self.const(np.array([-1], np.int64), "axes")], keepdims=0)
        return self.op("ReduceSum", [x], axes=[-1], keepdims=0)

    def count_le(self, thresholds: str, a_last: str) -> str:
        """int32 count of thresholds (last axis) <= a (a given with a trailing axis of 1)."""
        ge = self.op("Not", [self.op("Less", [a_last, thresholds])])
        return self.sum_last(self.cast(ge, TensorProto.INT32))

    # --- decode / encode ---------------------------------------------------------------------------
    def decode(self, bits: str, t: int, to: int, out: str | None = None) -> str:
        table = self.const(codec.decode_table(t, to), "table")
        return self.op("Gather", [table, self.cast(bits, TensorProto.INT32)], out, axis=0)

    def encode(self, x: str, x_type: int, t: int, saturate: bool, round_mode: str = "up",
               out: str | None = None) -> str:
        if t in codec.INT_BITS:  # reference: x.astype(int4): truncate toward zero, keep the low bits
            xi = self.cast(x, TensorProto.INT64)
            low = self.op("BitwiseAnd", [xi, self.const(np.array((1 << codec.INT_BITS[t]) - 1, np.int64), "mask")])
            return self.cast(low, TensorProto.UINT8, out)
        xf = x if x_type == TensorProto.FLOAT else self.cast(x, TensorProto.FLOAT)
        a_last = self.unsqueeze_last(self.op("Abs", [xf]))
        sides = [self._search(a_last, *codec.encode_steps(t, saturate, round_mode, neg)) for neg in (False, True)]
        bits = self.op("Where", [self.op("Less", [xf, self.const(np.array(0, np.float32), "zero")]), sides[1], sides[0]])
        nan = self.const(codec.nan_code(t, saturate, round_mode).reshape(()), "nan")
        return self.op("Where", [self.op("IsNaN", [xf]), nan, bits], out)

    def _search(self, a_last: str, thresholds: np.ndarray, codes: np.ndarray) -> str:
        k = len(thresholds)
        if k <= _BLOCK:
            idx = self.count_le(self.const(thresholds, "steps"), a_last)
            return self.op("Gather", [self.const(codes, "codes"), idx], axis=0)
        nb = -(-k // _BLOCK)  # two levels: which block of _BLOCK thresholds, then where in it
        padded = np.full(nb * _BLOCK, np.inf, np.float32)
        padded[:k] = thresholds  # +inf pads are reached by +inf only, which keeps the last code
        codes = np.concatenate([codes, np.repeat(codes[-1:], nb * _BLOCK - k)])
        j1 = self.count_le(self.const(padded[::_BLOCK].copy(), "blocks"), a_last)
        blk = self.op("Max", [self.op("Sub", [j1, self.const(np.array(1, np.int32), "one")]),
                              self.const(np.array(0, np.int32), "zero")])
        rows = self.op("Gather", [self.const(padded.reshape(nb, _BLOCK), "steps"), blk], axis=0)
        c2 = self.count_le(rows, a_last)
        idx = self.op("Add", [self.op("Mul", [blk, self.const(np.array(_BLOCK, np.int32), "block")]), c2])
        return self.op("Gather", [self.const(codes, "codes"), idx], axis=0)


def _attrs(node: onnx.NodeProto) -> dict:
    out = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in out.items()}


def _types(graph: onnx.GraphProto) -> tuple[dict[str, int], dict[str, int]]:
    types = {t.name: t.data_type for t in graph.initializer}
    ranks = {t.name: len(t.dims) for t in graph.initializer}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        if vi.type.HasField("tensor_type"):
            types[vi.name] = vi.type.tensor_type.elem_type
            if vi.type.tensor_type.HasField("shape"):
                ranks[vi.name] = len(vi.type.tensor_type.shape.dim)
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    types[node.output[0]] = a.t.data_type
                    ranks[node.output[0]] = len(a.t.dims)
    return types, ranks


def _uses_exotic(graph: onnx.GraphProto, types: dict[str, int]) -> bool:
    if any(t in codec.EXOTIC for t in types.values()):
        return True
    return any(n.op_type == "Cast" and _attrs(n).get("to") in codec.EXOTIC for n in graph.node)


class _Rewriter:
    def __init__(self, model: onnx.ModelProto) -> None:
        self.g = model.graph
        self.opset = codec.opset_of(model)
        self.types, self.ranks = _types(self.g)
        self.count = 0

    def builder(self, node: onnx.NodeProto) -> _Builder:
        self.count += 1
        return _Builder(self.g, self.opset, f"{node.name or node.output[0]}/exotic{self.count}")

    def cast(self, node: onnx.NodeProto, src: int | None, dst: int, attrs: dict) -> list[onnx.NodeProto] | None:
        if src is None or (src not in codec.EXOTIC and dst not in codec.EXOTIC):
            return None
        b = self.builder(node)
        sat, rm, out = bool(attrs.get("saturate", 1)), attrs.get("round_mode", "up"), node.output[0]
        if src in codec.EXOTIC and dst in codec.EXOTIC:
            b.encode(b.decode(node.input[0], src, TensorProto.FLOAT), TensorProto.FLOAT, dst, sat, rm, out)
        elif src in codec.EXOTIC:
            b.decode(node.input[0], src, dst, out)
        else:
            b.encode(node.input[0], src, dst, sat, rm, out)
        return b.nodes

    def per_axis(self, b: _Builder, value: str, x: str, axis: int, like: str | None = None) -> str:
        """A per-axis scale / zero point (``value``, of the rank of ``like``) reshaped to broadcast
        along ``axis`` of x."""
        rank = self.ranks.get(like or value)
        if not rank:  # scalar: broadcasts as it is
            return value
        xr = self.ranks[x]
        shape = [1] * xr
        shape[axis % xr] = -1
        return b.op("Reshape", [value, b.const(np.array(shape, np.int64), "shape")])

    def quantize(self, node: onnx.NodeProto, attrs: dict) -> list[onnx.NodeProto] | None:
        zp = node.input[2] if len(node.input) > 2 and node.input[2] else None
        t = self.types.get(zp) if zp else attrs.get("output_dtype") or self.types.get(node.output[0])
        if t not in codec.EXOTIC or attrs.get("block_size", 0) or node.input[0] not in self.ranks:
            return None
        b, axis = self.builder(node), attrs.get("axis", 1)
        x = b.cast(node.input[0], TensorProto.FLOAT)
        scale = b.cast(self.per_axis(b, node.input[1], node.input[0], axis), TensorProto.FLOAT)
        xs = b.op("Div", [x, scale])
        zpf = self.per_axis(b, b.decode(zp, t, TensorProto.FLOAT), node.input[0], axis, zp) if zp else None
        if t in codec.INT_BITS:  # rint, + zero point, clip to the type's range (reference)
            lo, hi = _INT_RANGE[t]
            r = b.op("Round", [xs])
            r = b.op("Add", [r, zpf]) if zpf else r
            r = b.op("Min", [b.op("Max", [r, b.const(np.array(lo, np.float32), "lo")]),
                             b.const(np.array(hi, np.float32), "hi")])
            b.encode(r, TensorProto.FLOAT, t, True, out=node.output[0])
        elif t in codec.SATURATING:  # float8: the zero point is not added (reference)
            b.encode(xs, TensorProto.FLOAT, t, bool(attrs.get("saturate", 1)), out=node.output[0])
        else:
            xs = b.op("Add", [xs, zpf]) if zpf else xs
            b.encode(xs, TensorProto.FLOAT, t, True, out=node.output[0])
        return b.nodes

    def dequantize(self, node: onnx.NodeProto, attrs: dict) -> list[onnx.NodeProto] | None:
        t = self.types.get(node.input[0])
        if t not in codec.EXOTIC or attrs.get("block_size", 0) or node.input[0] not in self.ranks:
            return None
        b, axis = self.builder(node), attrs.get("axis", 1)
        dx = b.decode(node.input[0], t, TensorProto.FLOAT)
        zp = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if zp and t in codec.INT_BITS:  # float8 / float4 zero points are not subtracted (reference)
            dx = b.op("Sub", [dx, self.per_axis(b, b.decode(zp, t, TensorProto.FLOAT), node.input[0], axis, zp)])
        scale = self.per_axis(b, node.input[1], node.input[0], axis)
        y = b.op("Mul", [dx, b.cast(scale, TensorProto.FLOAT)])
        b.cast(y, attrs.get("output_dtype") or self.types.get(node.input[1], TensorProto.FLOAT), node.output[0])
        return b.nodes

    def compute(self, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
        """Any other op on these types: decode its inputs, run it in float32 / int32, encode its outputs."""
        ins = [i for i in node.input if self.types.get(i) in codec.EXOTIC]
        outs = [o for o in node.output if self.types.get(o) in codec.EXOTIC]
        if (not ins and not outs) or node.op_type in MOVE_OPS or node.op_type in _SUBGRAPH_OPS:
            return None
        if node.op_type in ("Constant", "ConstantOfShape"):
            return None  # their value attribute is rewritten to the carrier's bits
        b = self.builder(node)
        wide = lambda t: TensorProto.INT32 if t in codec.INT_BITS else TensorProto.FLOAT  # noqa: E731
        new = onnx.NodeProto()
        new.CopyFrom(node)
        for i, name in enumerate(node.input):
            if name in ins:
                new.input[i] = b.decode(name, self.types[name], wide(self.types[name]))
        for i, name in enumerate(node.output):
            if name in outs:
                new.output[i] = b.name("wide")
        b.nodes.append(new)
        for i, name in enumerate(node.output):
            if name in outs:
                t = self.types[name]
                b.encode(new.output[i], wide(t), t, False, out=name)
        return b.nodes

    def rewrite(self, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
        if node.domain not in ("", "ai.onnx"):
            return None
        attrs = _attrs(node)
        if node.op_type == "Cast":
            return self.cast(node, self.types.get(node.input[0]), attrs["to"], attrs)
        if node.op_type == "CastLike" and node.input[1] in self.types:
            return self.cast(node, self.types.get(node.input[0]), self.types[node.input[1]], attrs)
        if node.op_type == "QuantizeLinear":
            return self.quantize(node, attrs)
        if node.op_type == "DequantizeLinear":
            return self.dequantize(node, attrs)
        return self.compute(node)


def _to_carrier_tensor(t: onnx.TensorProto) -> onnx.TensorProto:
    bits = codec.to_bits(numpy_helper.to_array(t), t.data_type)
    return numpy_helper.from_array(bits, t.name)


@register("exotic_dtypes")
def exotic_dtypes(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    types, _ = _types(model.graph)
    if not _uses_exotic(model.graph, types):
        return model, {"rewritten": 0}
    model = copy_model(model)
    g = model.graph
    rw = _Rewriter(model)
    nodes = []
    for node in g.node:
        if node.op_type in ("Constant", "ConstantOfShape"):
            for a in node.attribute:
                if a.name == "value" and a.t.data_type in codec.EXOTIC:
                    a.t.CopyFrom(_to_carrier_tensor(a.t))
        new = rw.rewrite(node)
        nodes.extend(new if new is not None else [node])
    del g.node[:]
    g.node.extend(nodes)
    for i, t in enumerate(g.initializer):
        if t.data_type in codec.EXOTIC:
            g.initializer[i].CopyFrom(_to_carrier_tensor(t))
    carried = 0
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type in codec.EXOTIC:
            vi.type.tensor_type.elem_type = codec.carrier(vi.type.tensor_type.elem_type)
            carried += 1
    return fresh_shapes(model), {"rewritten": rw.count, "carried": carried}


def graph_io_dtypes(model: onnx.ModelProto) -> dict[str, int]:
    """Graph inputs and outputs of these types (name -> ONNX type): the artifact carries their bits."""
    return {vi.name: vi.type.tensor_type.elem_type for vi in list(model.graph.input) + list(model.graph.output)
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type in codec.EXOTIC}
