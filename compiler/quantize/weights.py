"""Weight-only compression modes: int8 weights (per-channel symmetric, DequantizeLinear at load)
and fp16 weights (Cast at load). Activations and compute stay float: these shrink the model file
for storage/transfer; TVM folds the dequantization at compile time, so the compiled library is
as large and as fast as the float one."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgec.compiler.passes.graph_utils import copy_model

WEIGHT_INPUT = {"Conv": 1, "MatMul": 1, "Gemm": 1, "ConvTranspose": 1}


def _weights(model: onnx.ModelProto):
    inits = {t.name: t for t in model.graph.initializer}
    seen = set()
    for n in model.graph.node:
        i = WEIGHT_INPUT.get(n.op_type)
        if i is not None and len(n.input) > i and n.input[i] in inits and n.input[i] not in seen:
            seen.add(n.input[i])
            yield n, inits[n.input[i]]


def int8_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    model = copy_model(model)
    g = model.graph
    new_nodes = []
    replaced = {}
    for node, t in list(_weights(model)):
        w = numpy_helper.to_array(t).astype(np.float32)
        axis = 1 if (node.op_type == "MatMul" or node.op_type == "ConvTranspose") else 0
        if node.op_type == "Gemm" and not any(a.name == "transB" and a.i for a in node.attribute):
            axis = 1
        red = tuple(i for i in range(w.ndim) if i != axis)
        scale = np.maximum(np.abs(w).max(axis=red), 1e-12) / 127.0
        q = np.clip(np.round(w / np.expand_dims(scale, red)), -127, 127).astype(np.int8)
        base = t.name
        g.initializer.extend([numpy_helper.from_array(q, base + "_q8"),
                              numpy_helper.from_array(scale.astype(np.float32), base + "_scale"),
                              numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), base + "_zp")])
        new_nodes.append(helper.make_node("DequantizeLinear", [base + "_q8", base + "_scale", base + "_zp"],
                                          [base + "_deq"], name=base + "_deq", axis=axis))
        replaced[base] = base + "_deq"
    _rewire(g, replaced, new_nodes)
    return model


def fp16_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    model = copy_model(model)
    g = model.graph
    new_nodes, replaced = [], {}
    for _, t in list(_weights(model)):
        w = numpy_helper.to_array(t).astype(np.float16)
        g.initializer.append(numpy_helper.from_array(w, t.name + "_fp16"))
        new_nodes.append(helper.make_node("Cast", [t.name + "_fp16"], [t.name + "_f32"], name=t.name + "_cast",
                                          to=TensorProto.FLOAT))
        replaced[t.name] = t.name + "_f32"
    _rewire(g, replaced, new_nodes)
    return model


def _rewire(g: onnx.GraphProto, replaced: dict[str, str], new_nodes: list) -> None:
    for n in g.node:
        for i, name in enumerate(n.input):
            if name in replaced:
                n.input[i] = replaced[name]
    keep = [t for t in g.initializer if t.name not in replaced]
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = new_nodes + list(g.node)
    del g.node[:]
    g.node.extend(nodes)


def int8_weights_scheme(model: onnx.ModelProto, calib, options, verbose: bool = False) -> onnx.ModelProto:
    """The "int8-weights" scheme (compiler/quantize/schemes.py): no calibration, no options."""
    return int8_weights(model)


def fp16_weights_scheme(model: onnx.ModelProto, calib, options, verbose: bool = False) -> onnx.ModelProto:
    """The "fp16" scheme (compiler/quantize/schemes.py): no calibration, no options."""
    return fp16_weights(model)
