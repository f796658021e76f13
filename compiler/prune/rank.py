"""Channel importance: weight norms of the producers (L1/L2), or mean |activation| on calibration
data. Higher = more important; pruning removes the lowest."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from edgec.compiler.prune.spaces import Analysis, Space, _attr


def weight_importance(model: onnx.ModelProto, space: Space, norm: str = "l2") -> np.ndarray:
    inits = {t.name: t for t in model.graph.initializer}
    score = np.zeros(space.size)
    for src in space.sources:
        w = numpy_helper.to_array(inits[src.input[1]]).astype(np.float64)
        rows = w if (src.op_type == "Conv" or (src.op_type == "Gemm" and _attr(src, "transB", 0))) else w.T
        rows = rows.reshape(rows.shape[0], -1)
        s = np.abs(rows).sum(1) if norm == "l1" else np.sqrt((rows ** 2).sum(1))
        score += s / (s.max() + 1e-12)  # normalise per producer so residual partners weigh alike
    return score


def activation_importance(model: onnx.ModelProto, analysis: Analysis, calib: list[dict]) -> dict[int, np.ndarray]:
    """Mean |activation| per channel over each space's tensors, from ONNX Runtime on ``calib``."""
    from edgec.compiler.ort_session import ort_session
    from edgec.compiler.passes.graph_utils import copy_model

    wanted = {}
    for sp in analysis.prunable():
        for t in sp.tensors:
            if len(analysis.tensor[t].parts) == 1:
                wanted.setdefault(sp.id, []).append(t)
    m = copy_model(model)
    existing = {o.name for o in m.graph.output}
    names = sorted({t for ts in wanted.values() for t in ts})
    for t in names:
        if t not in existing:
            m.graph.output.append(onnx.helper.make_empty_tensor_value_info(t))
    sess = ort_session(m)
    sums = {t: None for t in names}
    for feeds in calib:
        for t, v in zip(names, sess.run(names, feeds)):
            ax = analysis.axis[t] % v.ndim
            s = np.abs(v).mean(axis=tuple(i for i in range(v.ndim) if i != ax))
            sums[t] = s if sums[t] is None else sums[t] + s
    out = {}
    for sid, ts in wanted.items():
        out[sid] = sum(sums[t] / (sums[t].max() + 1e-12) for t in ts)
    return out
