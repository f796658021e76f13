"""Unstructured magnitude pruning: zero the smallest weights (globally or per layer).

Honest about its effect: zeros compress (the artifact shrinks once compressed) but dense
kernels run them at full cost; edgec has no sparse kernels yet, so latency does not drop."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from edgec.compiler.passes.graph_utils import copy_model

WEIGHTED = {"Conv": 1, "Gemm": 1, "MatMul": 1, "ConvTranspose": 1}


def weight_tensors(model: onnx.ModelProto, protect_first_last: bool = True) -> list[tuple[str, str]]:
    """(node name, weight initializer) for every layer with constant weights, in graph order."""
    inits = {t.name for t in model.graph.initializer}
    layers = [(n.name or n.output[0], n.input[WEIGHTED[n.op_type]]) for n in model.graph.node
              if n.op_type in WEIGHTED and len(n.input) > 1 and n.input[WEIGHTED[n.op_type]] in inits]
    if protect_first_last and len(layers) > 2:
        layers = layers[1:-1]
    return layers


def magnitude_prune(model: onnx.ModelProto, sparsity: float, scope: str = "global",
                    protect_first_last: bool = True) -> tuple[onnx.ModelProto, list[dict]]:
    model = copy_model(model)
    idx = {t.name: i for i, t in enumerate(model.graph.initializer)}
    layers = weight_tensors(model, protect_first_last)
    arrays = {w: numpy_helper.to_array(model.graph.initializer[idx[w]]) for _, w in layers}
    if scope == "global" and layers and sparsity > 0:
        allw = np.concatenate([np.abs(a).ravel() for a in arrays.values()])
        threshold = np.partition(allw, int(sparsity * (allw.size - 1)))[int(sparsity * (allw.size - 1))]
    report = []
    for name, w in layers:
        a = arrays[w]
        if sparsity <= 0:
            mask = np.ones_like(a, dtype=bool)
        elif scope == "global":
            mask = np.abs(a) > threshold
        else:
            k = int(sparsity * a.size)
            thr = np.partition(np.abs(a).ravel(), k)[k] if k < a.size else np.inf
            mask = np.abs(a) >= thr if k else np.ones_like(a, dtype=bool)
        pruned = np.where(mask, a, 0).astype(a.dtype)
        model.graph.initializer[idx[w]].CopyFrom(numpy_helper.from_array(pruned, w))
        report.append({"layer": name, "weights": int(a.size), "zeros": int((pruned == 0).sum()),
                       "sparsity": float((pruned == 0).mean())})
    return model, report


def prune_magnitude(model: onnx.ModelProto, opts, calib=None, metric=None, verbose: bool = False):
    """The "magnitude" prune method (compiler/prune/methods.py)."""
    from edgec.compiler.prune import PruneResult

    pruned, layers = magnitude_prune(model, opts.sparsity, opts.scope, opts.protect_first_last)
    return PruneResult(pruned, layers, notes=[
        "unstructured zeros shrink a compressed artifact but not dense-kernel latency: edgec has no sparse kernels yet"])
