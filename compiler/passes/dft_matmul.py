"""DFT becomes one MatMul (in float64) with the matrix of the transform along its axis.

Why: TVM's importer has no DFT converter. A DFT of a static length is linear in the real and
imaginary parts of its input, so its matrix is read off onnx's reference DFT applied to the basis
vectors: every form the reference knows (inverse, onesided, irfft, dft_length padding or
truncation) comes out the same. Computed in float64 and rounded once, like the reference (numpy's
FFT in double). axis and dft_length must be constant (initializers after folding or --input-value).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import onnx
from onnx import TensorProto, helper

from edgec.compiler.passes.legalize_common import Builder, GraphInfo, attrs_of, rewrite_nodes
from edgec.compiler.passes.registry import PassContext, register

MAX_MATRIX = 1 << 24  # elements of the float64 matrix (128 MiB): larger transforms are left to TVM's error


@lru_cache(maxsize=32)
def transform_matrix(n: int, c: int, length: int | None, inverse: int, onesided: int) -> np.ndarray:
    """[n*c, k*c_out]: the reference DFT of each basis vector of a length-n signal (c = 1 real, 2 complex)."""
    from onnx.reference import ReferenceEvaluator

    ins = [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [n * c, n, c])]
    names = ["x"]
    inits = []
    if length is not None:
        inits.append(helper.make_tensor("len", TensorProto.INT64, [], [length]))
        names.append("len")
    node = helper.make_node("DFT", names, ["y"], axis=1, inverse=inverse, onesided=onesided)
    g = helper.make_graph([node], "dft", ins, [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)],
                          initializer=inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    y = ReferenceEvaluator(model).run(None, {"x": np.eye(n * c).reshape(n * c, n, c)})[0]
    m = y.reshape(n * c, -1)
    m[np.abs(m) < 1e-13] = 0.0  # sin(pi) and friends: exact zeros stay zeros
    return m


def _rewrite(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    x, a = node.input[0], attrs_of(node)
    shape = info.shape(x)
    ins = list(node.input) + ["", ""]
    if shape is None or len(shape) < 2 or shape[-1] not in (1, 2) or x not in info.types:
        return False
    if info.opset >= 20:
        if ins[2] and info.const(ins[2]) is None:
            return False
        axis = int(info.const(ins[2]).reshape(-1)[0]) if ins[2] else -2
    else:
        axis = a.get("axis", 1)
    if ins[1] and info.const(ins[1]) is None:
        return False
    rank = len(shape)
    axis %= rank
    if axis == rank - 1:
        return False
    length = int(info.const(ins[1]).reshape(-1)[0]) if ins[1] else None
    n, c = shape[axis], shape[-1]
    if n * c * max(n, length or 0) * 2 > MAX_MATRIX:
        return False
    m = transform_matrix(n, c, length, int(a.get("inverse", 0)), int(a.get("onesided", 0)))
    k_total = m.shape[1]
    # [..., n, ..., c] -> [rest..., n*c] @ m -> [rest..., k, c_out] -> back to the axis' place
    rest = [d for i in range(rank - 1) if i != axis for d in [i]]
    perm = rest + [axis, rank - 1]
    xt = b.op("Transpose", [b.op("Cast", [x], to=TensorProto.DOUBLE)], perm=perm)
    flat = b.op("Reshape", [xt, b.ints([shape[i] for i in rest] + [n * c])])
    y = b.op("MatMul", [flat, b.const(m, "dft")])
    c_out = 1 if (a.get("inverse", 0) and a.get("onesided", 0)) else 2
    y = b.op("Reshape", [y, b.ints([shape[i] for i in rest] + [k_total // c_out, c_out])])
    back = np.argsort(perm).tolist()
    y = b.op("Transpose", [y], perm=back)
    b.op("Cast", [y], node.output[0], to=info.types[x])
    return True


@register("dft_matmul")
def dft_matmul(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    model, n = rewrite_nodes(model, "DFT", _rewrite)
    return model, {"rewritten": n}
