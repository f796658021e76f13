"""Col2Im becomes one MatMul with the 0/1 matrix that scatters each column entry into its pixel.

Why: TVM's importer has no Col2Im converter. Col2Im of static shapes is linear (a scatter-add), so
its matrix is read off onnx's reference Col2Im applied to the basis vectors of one channel: strides,
pads and dilations come out as the reference defines them. image_shape and block_shape must be
constant (initializers after folding, or pinned with --input-value).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import onnx
from onnx import TensorProto, helper

from edgec.compiler.passes.legalize_common import Builder, GraphInfo, attrs_of, rewrite_nodes
from edgec.compiler.passes.registry import PassContext, register

MAX_MATRIX = 1 << 24


@lru_cache(maxsize=32)
def scatter_matrix(block: tuple, image: tuple, length: int, attrs: tuple) -> np.ndarray:
    """[prod(block) * length, prod(image)]: where each entry of one channel's columns lands."""
    from onnx.reference import ReferenceEvaluator

    rows = int(np.prod(block)) * length
    node = helper.make_node("Col2Im", ["x", "img", "blk"], ["y"], **dict(attrs))
    g = helper.make_graph([node], "col2im", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, None)],
                          [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)],
                          initializer=[helper.make_tensor("img", TensorProto.INT64, [len(image)], list(image)),
                                       helper.make_tensor("blk", TensorProto.INT64, [len(block)], list(block))])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    y = ReferenceEvaluator(model).run(None, {"x": np.eye(rows).reshape(rows, rows // length, length)})[0]
    return y.reshape(rows, -1)


def _rewrite(node: onnx.NodeProto, info: GraphInfo, b: Builder) -> bool:
    x, img, blk = node.input[:3]
    shape, image, block = info.shape(x), info.const(img), info.const(blk)
    if shape is None or len(shape) != 3 or image is None or block is None or x not in info.types:
        return False
    image, block = tuple(int(v) for v in image.reshape(-1)), tuple(int(v) for v in block.reshape(-1))
    n, cb, length = shape
    bsize = int(np.prod(block))
    if cb % bsize or bsize * length * int(np.prod(image)) > MAX_MATRIX:
        return False
    attrs = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in attrs_of(node).items()))
    m = scatter_matrix(block, image, length, attrs).astype(helper.tensor_dtype_to_np_dtype(info.types[x]))
    c = cb // bsize
    flat = b.op("Reshape", [x, b.ints([n, c, bsize * length])])
    y = b.op("MatMul", [flat, b.const(m, "scatter")])
    b.op("Reshape", [y, b.ints([n, c, *image])], node.output[0])
    return True


@register("col2im_matmul")
def col2im_matmul(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    model, n = rewrite_nodes(model, "Col2Im", _rewrite)
    return model, {"rewritten": n}
