"""Per-layer quantization error: for every Conv/MatMul/Gemm output, SQNR (dB) and cosine
similarity between the float model's activation and the quantized model's, on calibration data.
Low SQNR marks the layers an accuracy guard should keep in float."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from edgec.compiler.passes.graph_utils import copy_model

LAYER_OPS = ("Conv", "MatMul", "Gemm")


def _capture(model: onnx.ModelProto, names: list[str], feeds: list[dict]) -> dict[str, list[np.ndarray]]:
    m = copy_model(model)
    have = {o.name for o in m.graph.output}
    for n in names:
        if n not in have:
            m.graph.output.append(onnx.helper.make_empty_tensor_value_info(n))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor observable
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    out = {n: [] for n in names}
    for f in feeds:
        for n, v in zip(names, sess.run(names, f)):
            out[n].append(v)
    return out


def layer_report(float_model: onnx.ModelProto, quant_model: onnx.ModelProto, feeds: list[dict]) -> list[dict]:
    layers = [(n.name or n.output[0], n.op_type, n.output[0]) for n in float_model.graph.node if n.op_type in LAYER_OPS]
    qnames = {o for n in quant_model.graph.node for o in n.output}
    layers = [layer for layer in layers if layer[2] in qnames]
    names = [t for _, _, t in layers]
    ref, got = _capture(float_model, names, feeds), _capture(quant_model, names, feeds)
    rows = []
    for name, op, t in layers:
        a = np.concatenate([x.ravel() for x in ref[t]]).astype(np.float64)
        b = np.concatenate([x.ravel() for x in got[t]]).astype(np.float64)
        noise = np.sum((a - b) ** 2)
        sqnr = float(10 * np.log10(np.sum(a ** 2) / noise)) if noise > 0 else float("inf")
        cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))
        rows.append({"layer": name, "op": op, "sqnr_db": sqnr, "cosine": cos})
    return rows
