"""Seed inputs for tools/fuzz.py: small valid ONNX graphs and a TFLite model built in code (no
downloads), so every mutation starts from something edgec compiles in about a second."""
from __future__ import annotations

import importlib

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


def _vec(b, start, items, kind: str = "offset"):
    start(b, len(items))
    for it in reversed(items):
        {"offset": b.PrependUOffsetTRelative, "int32": b.PrependInt32, "uint8": b.PrependUint8}[kind](it)
    return b.EndVector()


def tiny_tflite(inp: int = 4, out: int = 3, seed: int = 0, *, tensor_type: int = 0, opcode: int = 9,
                op_inputs=(0, 1, 2), op_outputs=(3,), x_shape=None, w_bytes: int | None = None,
                buffer_index: int = 1, version: int = 3, activation: int = 1) -> bytes:
    """A FULLY_CONNECTED(+ReLU) TFLite model, every structural field settable so the fuzzer can
    make it wrong in ways byte flips rarely reach (indices out of range, short buffers, bad types)."""
    import flatbuffers

    mods = {m: importlib.import_module(f"tflite.{m}") for m in
            ("Buffer", "Model", "Operator", "OperatorCode", "SubGraph", "Tensor", "FullyConnectedOptions")}
    Buffer, Model, Operator, OperatorCode, SubGraph, Tensor, FCO = (mods[k] for k in (
        "Buffer", "Model", "Operator", "OperatorCode", "SubGraph", "Tensor", "FullyConnectedOptions"))
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(out, inp)).astype(np.float32).tobytes()
    bias = rng.normal(size=(out,)).astype(np.float32).tobytes()
    if w_bytes is not None:
        w = (w * (1 + w_bytes // max(len(w), 1)))[:w_bytes]
    b = flatbuffers.Builder(1024)
    bufs = []
    for data in (b"", w, bias):
        dv = _vec(b, Buffer.BufferStartDataVector, list(data), "uint8") if data else None
        Buffer.BufferStart(b)
        if dv is not None:
            Buffer.BufferAddData(b, dv)
        bufs.append(Buffer.BufferEnd(b))
    tensors = []
    for name, shape, buf in (("x", list(x_shape or [1, inp]), 0), ("w", [out, inp], buffer_index), ("b", [out], 2),
                             ("y", [1, out], 0)):
        n = b.CreateString(name)
        sv = _vec(b, Tensor.TensorStartShapeVector, shape, "int32")
        Tensor.TensorStart(b)
        Tensor.TensorAddShape(b, sv)
        Tensor.TensorAddType(b, tensor_type)
        Tensor.TensorAddBuffer(b, buf)
        Tensor.TensorAddName(b, n)
        tensors.append(Tensor.TensorEnd(b))
    FCO.FullyConnectedOptionsStart(b)
    FCO.FullyConnectedOptionsAddFusedActivationFunction(b, activation)
    opts = FCO.FullyConnectedOptionsEnd(b)
    ins = _vec(b, Operator.OperatorStartInputsVector, list(op_inputs), "int32")
    outs = _vec(b, Operator.OperatorStartOutputsVector, list(op_outputs), "int32")
    Operator.OperatorStart(b)
    Operator.OperatorAddOpcodeIndex(b, 0)
    Operator.OperatorAddInputs(b, ins)
    Operator.OperatorAddOutputs(b, outs)
    Operator.OperatorAddBuiltinOptionsType(b, 8)  # BuiltinOptions.FullyConnectedOptions
    Operator.OperatorAddBuiltinOptions(b, opts)
    op = Operator.OperatorEnd(b)
    OperatorCode.OperatorCodeStart(b)
    OperatorCode.OperatorCodeAddDeprecatedBuiltinCode(b, min(opcode, 127))
    OperatorCode.OperatorCodeAddBuiltinCode(b, opcode)
    OperatorCode.OperatorCodeAddVersion(b, 1)
    code = OperatorCode.OperatorCodeEnd(b)
    tv = _vec(b, SubGraph.SubGraphStartTensorsVector, tensors)
    iv = _vec(b, SubGraph.SubGraphStartInputsVector, [0], "int32")
    ov = _vec(b, SubGraph.SubGraphStartOutputsVector, [3], "int32")
    opv = _vec(b, SubGraph.SubGraphStartOperatorsVector, [op])
    sname = b.CreateString("main")
    SubGraph.SubGraphStart(b)
    SubGraph.SubGraphAddTensors(b, tv)
    SubGraph.SubGraphAddInputs(b, iv)
    SubGraph.SubGraphAddOutputs(b, ov)
    SubGraph.SubGraphAddOperators(b, opv)
    SubGraph.SubGraphAddName(b, sname)
    sg = SubGraph.SubGraphEnd(b)
    codes = _vec(b, Model.ModelStartOperatorCodesVector, [code])
    sgs = _vec(b, Model.ModelStartSubgraphsVector, [sg])
    bv = _vec(b, Model.ModelStartBuffersVector, bufs)
    desc = b.CreateString("edgec fuzz seed")
    Model.ModelStart(b)
    Model.ModelAddVersion(b, version)
    Model.ModelAddOperatorCodes(b, codes)
    Model.ModelAddSubgraphs(b, sgs)
    Model.ModelAddBuffers(b, bv)
    Model.ModelAddDescription(b, desc)
    b.Finish(Model.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())
