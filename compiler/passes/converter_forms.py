"""Forms of ops TVM's importer converts wrongly or refuses, spelled the way it converts them:

- Pow with an integer base or mixed operand types: a constant exponent 0..16 as products in the
  base's type, otherwise computed in double (float bases in their own type) and cast back to the
  base's type, as ONNX and numpy define it (TVM: "same datatype" error; its integer lowering is
  float-only);
- IsInf with detect_positive / detect_negative off: IsInf And the sign (TVM ignores them);
- EyeLike with a dtype or of a static shape: a constant (TVM: "dtype mismatch");
- Pad whose constant value comes at run time: Pad with zeros, then Where the padding with the value
  (TVM needs the value constant); pads and axes must be constant;
- Resize with sizes and an empty (0-element) scales or roi constant, as Paddle2ONNX writes it:
  the empty inputs left out ("" means absent in ONNX; TVM: "Only one of scales and sizes");
- Upsample (opsets 7-9, old YOLOv3 exports) in nearest mode with whole-number scales: Reshape,
  Expand, Reshape (each value repeated along a new axis). TVM's converter reads the opset-7
  ``scales`` attribute and fails on opset 9's ``scales`` input;
- Cast (and CastLike) from a float type to an integer type narrower than 64 bits: Cast to int64,
  then Cast to the target type. TVM's converter spells the narrow case as an int64 cast followed by
  floor_mod / where to wrap, each reading its input several times; fused and inlined into one
  TIR expression, a chain of such casts (float -> int32 -> float64 -> Pow -> int32) repeats its
  input hundreds of times and TVM's simplifier never finishes. An int64 -> narrower cast is a
  truncation, which wraps the same way, so the values are the same and the expression is small.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from edgec.compiler.passes.legalize_common import Builder, GraphInfo, attrs_of, rewrite_nodes
from edgec.compiler.passes.registry import PassContext, register

_FLOATS = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16}


def _pow(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    x, y = node.input[:2]
    tx, ty = info.types.get(x), info.types.get(y)
    if tx is None or ty is None or (tx == ty and tx in _FLOATS):
        return False
    e = info.const(y)
    if e is not None and e.size == 1 and float(e.reshape(-1)[0]).is_integer() and 0 <= float(e.reshape(-1)[0]) <= 16:
        n = int(e.reshape(-1)[0])  # x**n as n-1 products in x's own type (numpy's integer power, wrapping)
        out = b.op("Identity", [x]) if n == 1 else None
        if n == 0:
            out = b.op("Identity", [b.const(np.ones(info.shape(x) or (), helper.tensor_dtype_to_np_dtype(tx)), "one")])
        for _ in range(n - 1):
            out = b.op("Mul", [out or x, x])
        b.nodes[-1].output[0] = node.output[0]
        return True
    wide = tx if tx in _FLOATS else TensorProto.DOUBLE
    xx = x if tx == wide else b.op("Cast", [x], to=wide)
    yy = y if ty == wide else b.op("Cast", [y], to=wide)
    if tx == wide:
        b.op("Pow", [xx, yy], node.output[0])
    else:
        b.op("Cast", [b.op("Pow", [xx, yy])], node.output[0], to=tx)
    return True


def _isinf(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    a = attrs_of(node)
    pos, neg = a.get("detect_positive", 1), a.get("detect_negative", 1)
    if pos and neg:
        return False
    x = node.input[0]
    if x not in info.types:
        return False
    inf = b.op("IsInf", [x])
    zero = b.const(np.zeros((), helper.tensor_dtype_to_np_dtype(info.types[x])), "zero")
    if pos:
        b.op("And", [inf, b.op("Greater", [x, zero])], node.output[0])
    elif neg:
        b.op("And", [inf, b.op("Less", [x, zero])], node.output[0])
    else:
        b.op("And", [inf, b.op("Not", [inf])], node.output[0])
    return True


def _eyelike(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    shape, a = info.shape(node.input[0]), attrs_of(node)
    if shape is None or len(shape) != 2 or node.input[0] not in info.types:
        return False
    dtype = helper.tensor_dtype_to_np_dtype(a.get("dtype") or info.types[node.input[0]])
    b.op("Identity", [b.const(np.eye(shape[0], shape[1], a.get("k", 0), dtype=dtype), "eye")], node.output[0])
    return True


def _pad(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    ins = list(node.input) + [""] * 4
    x, pads, value, axes = ins[:4]
    shape = info.shape(x)
    if (attrs_of(node).get("mode", "constant") != "constant" or info.opset < 11 or not value
            or info.const(value) is not None or info.const(pads) is None or shape is None
            or (axes and info.const(axes) is None)):
        return False
    p = info.const(pads).reshape(-1).astype(np.int64)
    rank = len(shape)
    ax = [a % rank for a in info.const(axes).reshape(-1)] if axes else list(range(rank))
    full = [(0, 0)] * rank
    for i, a in enumerate(ax):
        full[a] = (int(p[i]), int(p[i + len(ax)]))
    if any(v < 0 for pair in full for v in pair):
        return False  # cropping pads: TVM's own converter (value constant) or its error
    inside = np.pad(np.ones(shape, bool), full, constant_values=False)
    zeros = b.op("Pad", [x, pads] + (["", axes] if axes else []), mode="constant")
    b.op("Where", [b.const(inside, "inside"), zeros, value], node.output[0])
    return True


def _resize_empty_inputs(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    if info.opset < 13:
        return False  # roi and scales are required inputs before opset 13 (an empty tensor is "absent")
    ins = list(node.input)
    empty = [k for k in (1, 2) if len(ins) > k and ins[k] and (c := info.const(ins[k])) is not None and c.size == 0]
    if not empty or (2 in empty and not (len(ins) > 3 and ins[3])):
        return False  # nothing to drop, or scales is empty and there are no sizes: TVM's own error
    new = onnx.NodeProto()
    new.CopyFrom(node)
    for k in empty:
        new.input[k] = ""
    b.nodes.append(new)
    return True


def _upsample(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    a = attrs_of(node)
    scales = a.get("scales") if len(node.input) < 2 else info.const(node.input[1])
    shape = info.shape(node.input[0])
    if scales is None or shape is None or a.get("mode", "nearest") != "nearest":
        return False
    scales = [float(v) for v in np.asarray(scales).reshape(-1)]
    if len(scales) != len(shape) or not all(v.is_integer() and v >= 1 for v in scales):
        return False
    k = [int(v) for v in scales]
    spread = [d for n in shape for d in (n, 1)]
    tiled = [d for n, r in zip(shape, k) for d in (n, r)]
    x = b.op("Reshape", [node.input[0], b.ints(spread)])
    x = b.op("Expand", [x, b.ints(tiled)])
    b.op("Reshape", [x, b.ints([n * r for n, r in zip(shape, k)])], node.output[0])
    return True


_INTS = {TensorProto.INT8, TensorProto.INT16, TensorProto.INT32,
         TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32}


def _cast_through_int64(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    x = node.input[0]
    to = attrs_of(node).get("to") if node.op_type == "Cast" else info.types.get(node.input[1])
    if info.types.get(x) not in _FLOATS or to not in _INTS:
        return False
    b.op("Cast", [b.op("Cast", [x], to=TensorProto.INT64)], node.output[0], to=to)
    return True


@register("converter_forms")
def converter_forms(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    counts = {}
    for op, fn in (("Pow", _pow), ("IsInf", _isinf), ("EyeLike", _eyelike), ("Pad", _pad),
                    ("Cast", _cast_through_int64), ("CastLike", _cast_through_int64),
                    ("Resize", _resize_empty_inputs), ("Upsample", _upsample)):
        model, counts[op] = rewrite_nodes(model, op, fn)
    return model, counts
