"""Tiny models built in code, for tests and benchmarks: a CNN with depthwise conv, an MLP and a
transformer encoder block. Deterministic weights (seeded), no downloads."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def const(self, value: np.ndarray, name: str | None = None) -> str:
        self.n += 1
        name = name or f"c{self.n}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, *shape: int, scale: float | None = None) -> str:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        s = scale if scale is not None else 1.0 / np.sqrt(fan_in)
        return self.const(self.rng.normal(0, s, size=shape).astype(np.float32))

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs) -> str | list[str]:
        self.n += 1
        outs = [f"{op_type.lower()}{self.n}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=f"{op_type}_{self.n}", **attrs))
        return outs[0] if n_out == 1 else outs

    def model(self, name: str, inputs, outputs) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgec-tiny")
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def _bn(b: _Builder, x: str, c: int) -> str:
    r = b.rng
    return b.op("BatchNormalization", [x, b.const(r.uniform(0.5, 1.5, c).astype(np.float32)),
                                       b.const(r.normal(0, 0.1, c).astype(np.float32)),
                                       b.const(r.normal(0, 0.1, c).astype(np.float32)),
                                       b.const(r.uniform(0.5, 1.5, c).astype(np.float32))], epsilon=1e-5)


def tiny_cnn(batch: "int | str" = "N", size: int = 32, seed: int = 0) -> onnx.ModelProto:
    """Conv-BN-ReLU, depthwise stride-2, pointwise, residual add, global pool, Shape-computed
    Reshape (the pattern real exports use) and a Gemm head. Input x: [batch, 3, size, size]."""
    b = _Builder(seed)
    y = b.op("Relu", [_bn(b, b.op("Conv", ["x", b.weight(8, 3, 3, 3)], pads=[1, 1, 1, 1]), 8)])
    d = b.op("Relu", [b.op("Conv", [y, b.weight(8, 1, 3, 3), b.weight(8)], group=8, strides=[2, 2], pads=[1, 1, 1, 1])])
    p = b.op("Conv", [d, b.weight(8, 8, 1, 1), b.weight(8)])
    r = b.op("Clip", [b.op("Add", [p, d]), b.const(np.float32(0)), b.const(np.float32(6))])
    z = b.op("Conv", [r, b.weight(16, 8, 1, 1)])
    g = b.op("GlobalAveragePool", [z])
    shp = b.op("Shape", [g])
    n = b.op("Gather", [shp, b.const(np.array([0], dtype=np.int64))], axis=0)
    flat = b.op("Reshape", [g, b.op("Concat", [n, b.const(np.array([-1], dtype=np.int64))], axis=0)])
    logits = b.op("Gemm", [flat, b.weight(10, 16), b.weight(10)], transB=1)
    b.nodes.append(helper.make_node("Softmax", [logits], ["probs"], axis=-1, name="Softmax_out"))
    return b.model("tiny_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, size, size])],
                   [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, 10])])


def tiny_mlp(batch: int = 4, features: int = 64, seed: int = 1) -> onnx.ModelProto:
    """Two hidden layers (MatMul+Add+ReLU) and a softmax head. Input x: [batch, features]."""
    b = _Builder(seed)
    h = b.op("Relu", [b.op("Add", [b.op("MatMul", ["x", b.weight(features, 128, scale=0.1)]), b.weight(128)])])
    h = b.op("Relu", [b.op("Add", [b.op("MatMul", [h, b.weight(128, 64, scale=0.1)]), b.weight(64)])])
    o = b.op("Add", [b.op("MatMul", [h, b.weight(64, 10, scale=0.1)]), b.weight(10)])
    b.nodes.append(helper.make_node("Softmax", [o], ["y"], axis=-1, name="Softmax_out"))
    return b.model("tiny_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, features])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])])


def tiny_transformer(seq: int = 16, dim: int = 32, heads: int = 4, seed: int = 2) -> onnx.ModelProto:
    """One pre-norm encoder block: LayerNorm, multi-head self-attention, residual, LayerNorm,
    GELU MLP, residual. Input x: [1, seq, dim]."""
    b = _Builder(seed)
    hd = dim // heads

    def ln(x: str) -> str:
        return b.op("LayerNormalization", [x, b.const(np.ones(dim, np.float32)), b.const(np.zeros(dim, np.float32))],
                    axis=-1, epsilon=1e-5)

    def heads_of(x: str) -> str:
        r = b.op("Reshape", [x, b.const(np.array([1, seq, heads, hd], dtype=np.int64))])
        return b.op("Transpose", [r], perm=[0, 2, 1, 3])

    h = ln("x")
    q, k, v = (heads_of(b.op("MatMul", [h, b.weight(dim, dim)])) for _ in range(3))
    kt = b.op("Transpose", [k], perm=[0, 1, 3, 2])
    att = b.op("Softmax", [b.op("Div", [b.op("MatMul", [q, kt]), b.const(np.float32(np.sqrt(hd)))])], axis=-1)
    ctx = b.op("Transpose", [b.op("MatMul", [att, v])], perm=[0, 2, 1, 3])
    ctx = b.op("Reshape", [ctx, b.const(np.array([1, seq, dim], dtype=np.int64))])
    x1 = b.op("Add", ["x", b.op("MatMul", [ctx, b.weight(dim, dim)])])
    m = b.op("Add", [b.op("MatMul", [ln(x1), b.weight(dim, 4 * dim)]), b.weight(4 * dim)])
    gelu = b.op("Mul", [b.op("Mul", [m, b.const(np.float32(0.5))]),
                        b.op("Add", [b.op("Erf", [b.op("Div", [m, b.const(np.float32(np.sqrt(2.0)))])]),
                                     b.const(np.float32(1.0))])])
    mo = b.op("MatMul", [gelu, b.weight(4 * dim, dim)])
    b.nodes.append(helper.make_node("Add", [x1, mo], ["y"], name="Add_out"))
    return b.model("tiny_transformer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, seq, dim])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, seq, dim])])


TINY = {"tiny-cnn": tiny_cnn, "tiny-mlp": tiny_mlp, "tiny-transformer": tiny_transformer}
TINY_SHAPES = {"tiny-cnn": {"x": (1, 3, 32, 32)}, "tiny-mlp": {}, "tiny-transformer": {}}
