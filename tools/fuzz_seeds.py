"""Seed inputs for tools/fuzz.py: small valid ONNX graphs and a TFLite model built in code (no
downloads), so every mutation starts from something edgec compiles in about a second."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper, numpy_helper

vi = helper.make_tensor_value_info


def _model(nodes, inputs, outputs, inits=(), opset: int = 17) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "fuzz", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _w(name: str, shape, seed: int = 0) -> onnx.TensorProto:
    return numpy_helper.from_array(np.random.default_rng(seed).normal(size=shape).astype(np.float32), name)


def onnx_seeds() -> list[tuple[str, onnx.ModelProto, list[str]]]:
    """(name, model, extra compile args) for each seed graph."""
    from edgec.models.tiny import tiny_cnn, tiny_mlp, tiny_transformer

    x4 = [vi("x", T.FLOAT, [1, 4, 8, 8])]
    seeds = [
        ("mlp", tiny_mlp(), []),
        ("cnn", tiny_cnn(size=8), ["--input-shape", "x=1,3,8,8"]),
        ("transformer", tiny_transformer(seq=4, dim=8, heads=2), []),
        ("conv_relu_pool", _model([helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
                                   helper.make_node("Relu", ["c"], ["r"]),
                                   helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
                                  x4, [vi("y", T.FLOAT, [1, 6, 4, 4])], [_w("w", (6, 4, 3, 3)), _w("b", (6,), 1)]), []),
        ("elementwise", _model([helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], ["m"]),
                                helper.make_node("Clip", ["m", "lo", "hi"], ["y"])], x4, [vi("y", T.FLOAT, [1, 4, 8, 8])],
                               [numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
                                numpy_helper.from_array(np.array(6.0, np.float32), "hi")]), []),
        ("reshape_softmax", _model([helper.make_node("Reshape", ["x", "shape"], ["r"]),
                                    helper.make_node("Transpose", ["r"], ["t"], perm=[1, 0]),
                                    helper.make_node("Softmax", ["t"], ["y"], axis=-1)],
                                   x4, [vi("y", T.FLOAT, [64, 16])],
                                   [numpy_helper.from_array(np.array([16, 64], np.int64), "shape")]), []),
        ("gather_concat", _model([helper.make_node("Gather", ["x", "idx"], ["g"], axis=1),
                                  helper.make_node("Concat", ["g", "x"], ["c"], axis=1),
                                  helper.make_node("ReduceMean", ["c"], ["y"], axes=[2, 3], keepdims=1)],
                                 x4, [vi("y", T.FLOAT, [1, 6, 1, 1])],
                                 [numpy_helper.from_array(np.array([0, 3], np.int64), "idx")]), []),
        ("gemm_ln", _model([helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
                            helper.make_node("LayerNormalization", ["g", "s", "o"], ["y"], axis=-1)],
                           [vi("x", T.FLOAT, [3, 8])], [vi("y", T.FLOAT, [3, 5])],
                           [_w("w", (5, 8)), _w("b", (5,), 1), _w("s", (5,), 2), _w("o", (5,), 3)]), []),
        ("int_path", _model([helper.make_node("Cast", ["x"], ["c"], to=T.INT32),
                             helper.make_node("Add", ["c", "one"], ["a"]),
                             helper.make_node("Cast", ["a"], ["y"], to=T.FLOAT)],
                            [vi("x", T.FLOAT, [2, 5])], [vi("y", T.FLOAT, [2, 5])],
                            [numpy_helper.from_array(np.array(1, np.int32), "one")]), []),
    ]
    return seeds


def tiny_tflite(inp: int = 4, out: int = 3, seed: int = 0, *, tensor_type: int = 0, opcode: int = 9,
                op_inputs=(0, 1, 2), op_outputs=(3,), x_shape=None, w_bytes: int | None = None,
                buffer_index: int = 1, version: int = 3, activation: int = 1) -> bytes:
    """A FULLY_CONNECTED(+ReLU) TFLite model, every structural field settable so the fuzzer can
    make it wrong in ways byte flips rarely reach (indices out of range, short buffers, bad types)."""
    import tflite

    from edgec.models.tflite_builder import TFLiteBuilder

    rng = np.random.default_rng(seed)
    w = rng.normal(size=(out, inp)).astype(np.float32).tobytes()
    bias = rng.normal(size=(out,)).astype(np.float32).tobytes()
    if w_bytes is not None:
        w = (w * (1 + w_bytes // max(len(w), 1)))[:w_bytes]

    def options(b):
        tflite.FullyConnectedOptionsStart(b)
        tflite.FullyConnectedOptionsAddFusedActivationFunction(b, activation)
        return tflite.BuiltinOptions.FullyConnectedOptions, tflite.FullyConnectedOptionsEnd(b)

    m = TFLiteBuilder()
    m.tensor("x", list(x_shape or [1, inp]), tensor_type)
    m.tensor("w", [out, inp], tensor_type, w, buffer=buffer_index)
    m.tensor("b", [out], tensor_type, bias)
    m.tensor("y", [1, out], tensor_type)
    m.op(opcode, op_inputs, op_outputs, options=options)
    return m.build([0], [3], version=version, description="edgec fuzz seed")
