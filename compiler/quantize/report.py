"""Per-layer quantization error: for every Conv/MatMul/Gemm output, SQNR (dB) and cosine
similarity between the float model's activation and the quantized model's, on calibration data.
Low SQNR marks the layers an accuracy guard should keep in float."""
from __future__ import annotations

import numpy as np
import onnx

from edgec.compiler.ort_capture import capture

LAYER_OPS = ("Conv", "MatMul", "Gemm")


def layer_report(float_model: onnx.ModelProto, quant_model: onnx.ModelProto, feeds: list[dict]) -> list[dict]:
    layers = [(n.name or n.output[0], n.op_type, n.output[0]) for n in float_model.graph.node if n.op_type in LAYER_OPS]
    qnames = {o for n in quant_model.graph.node for o in n.output}
    layers = [layer for layer in layers if layer[2] in qnames]
    names = [t for _, _, t in layers]
    ref, got = capture(float_model, names, feeds, optimize=False), capture(quant_model, names, feeds, optimize=False)
    rows = []
    for name, op, t in layers:
        a = np.concatenate([x.ravel() for x in ref[t]]).astype(np.float64)
        b = np.concatenate([x.ravel() for x in got[t]]).astype(np.float64)
        noise = np.sum((a - b) ** 2)
        sqnr = float(10 * np.log10(np.sum(a ** 2) / noise)) if noise > 0 else float("inf")
        cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))
        rows.append({"layer": name, "op": op, "sqnr_db": sqnr, "cosine": cos})
    return rows
