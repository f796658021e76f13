"""Run an ONNX model in ONNX Runtime and read intermediate tensors (quantization reports and
pruning reconstruction both compare activations layer by layer)."""
from __future__ import annotations

import numpy as np
import onnx

from edgec.compiler.passes.graph_utils import copy_model
from edgec.compiler.ort_session import ort_session


def capture(model: onnx.ModelProto, names: list[str], feeds: list[dict], optimize: bool = True
            ) -> dict[str, list[np.ndarray]]:
    """{tensor name: [value per feed]}. ``optimize=False`` keeps every tensor as in the graph
    (ORT's fusions could otherwise change what an intermediate name holds)."""
    m = copy_model(model)
    have = {o.name for o in m.graph.output}
    for n in names:
        if n not in have:
            m.graph.output.append(onnx.helper.make_empty_tensor_value_info(n))
    sess = ort_session(m, qdq=None if optimize else True)  # quantized models: QDQ as float either way
    out: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for f in feeds:
        for n, v in zip(names, sess.run(names, f)):
            out[n].append(v)
    return out
