"""Run an ONNX model in ONNX Runtime and read intermediate tensors (quantization reports and
pruning reconstruction both compare activations layer by layer)."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from edgec.compiler.passes.graph_utils import copy_model


def capture(model: onnx.ModelProto, names: list[str], feeds: list[dict], optimize: bool = True
            ) -> dict[str, list[np.ndarray]]:
    """{tensor name: [value per feed]}. ``optimize=False`` keeps every tensor as in the graph
    (ORT's fusions could otherwise change what an intermediate name holds)."""
    m = copy_model(model)
    have = {o.name for o in m.graph.output}
    for n in names:
        if n not in have:
            m.graph.output.append(onnx.helper.make_empty_tensor_value_info(n))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    out: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for f in feeds:
        for n, v in zip(names, sess.run(names, f)):
            out[n].append(v)
    return out
