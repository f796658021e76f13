"""Recover accuracy without training: after channels are removed, refit each consumer layer's
weights by (ridge) least squares so that, on calibration inputs, its output with the *remaining*
input channels matches the unpruned model's output. Layers are refit in graph order, each seeing
the already-refit upstream layers, as in channel-pruning-by-reconstruction (He et al., 2017)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from edgec.compiler.ort_capture import capture
from edgec.compiler.passes.graph_utils import copy_model
from edgec.compiler.prune.spaces import _attr

MAX_ROWS = 12000


def _capture(model: onnx.ModelProto, names: list[str], calib: list[dict]) -> dict[str, np.ndarray]:
    return {n: np.concatenate(v) for n, v in capture(model, names, calib).items()}


def _patches(x: np.ndarray, node: onnx.NodeProto, kh: int, kw: int, rows: np.ndarray) -> np.ndarray:
    """im2col rows for output positions ``rows`` (flat indices into N x Ho x Wo)."""
    sh, sw = _attr(node, "strides", [1, 1])
    dh, dw = _attr(node, "dilations", [1, 1])
    pads = _attr(node, "pads", [0, 0, 0, 0])
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    n, c, hp, wp = xp.shape
    ho = (hp - (kh - 1) * dh - 1) // sh + 1
    wo = (wp - (kw - 1) * dw - 1) // sw + 1
    b, rem = np.divmod(rows, ho * wo)
    oh, ow = np.divmod(rem, wo)
    ih = oh[:, None, None] * sh + (np.arange(kh) * dh)[None, :, None]
    iw = ow[:, None, None] * sw + (np.arange(kw) * dw)[None, None, :]
    p = xp[b[:, None, None, None], np.arange(c)[None, :, None, None], ih[:, None], iw[:, None]]
    return p.reshape(len(rows), c * kh * kw)


def _ridge(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    a64, y64 = a.astype(np.float64), y.astype(np.float64)
    gram = a64.T @ a64
    lam = 1e-4 * np.trace(gram) / max(gram.shape[0], 1) + 1e-8
    return np.linalg.solve(gram + lam * np.eye(gram.shape[0]), a64.T @ y64)


def reconstruct(original: onnx.ModelProto, pruned: onnx.ModelProto, consumers: dict[str, "np.ndarray | None"],
                calib: list[dict], seed: int = 0) -> tuple[onnx.ModelProto, int]:
    """Refit the named consumer nodes of ``pruned``; ``consumers[name]`` is the kept indices of
    that node's own output channels when it was pruned too (else None). Returns (model, refit)."""
    rng = np.random.default_rng(seed)
    model = copy_model(pruned)
    by_name = {n.name or n.output[0]: n for n in model.graph.node}
    orig_nodes = {n.name or n.output[0]: n for n in original.graph.node}
    order = [n.name or n.output[0] for n in model.graph.node if (n.name or n.output[0]) in set(consumers)]
    targets = _capture(original, [orig_nodes[c].output[0] for c in order], calib)
    refit = 0
    for name in order:
        node = by_name[name]
        inits = {t.name: i for i, t in enumerate(model.graph.initializer)}
        x = _capture(model, [node.input[0]], calib)[node.input[0]]
        y = targets[orig_nodes[name].output[0]]
        out_keep = consumers[name]
        if out_keep is not None:  # this layer lost output channels too: match only the kept ones
            y = np.take(y, out_keep, axis=1 if node.op_type == "Conv" else y.ndim - 1)
        w = numpy_helper.to_array(model.graph.initializer[inits[node.input[1]]])
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = numpy_helper.to_array(model.graph.initializer[inits[node.input[2]]])
        if node.op_type == "Conv":
            if _attr(node, "group", 1) != 1:
                continue
            co, ci, kh, kw = w.shape
            total = y.shape[0] * y.shape[2] * y.shape[3]
            rows = rng.choice(total, size=min(MAX_ROWS, total), replace=False)
            a = _patches(x, node, kh, kw, rows)
            yt = y.transpose(0, 2, 3, 1).reshape(total, co)[rows]
            if bias is not None:
                yt = yt - bias
            new_w = _ridge(a, yt).T.reshape(co, ci, kh, kw)
        else:
            a = x.reshape(-1, x.shape[-1])
            yt = y.reshape(-1, y.shape[-1])
            if len(a) > MAX_ROWS:
                sel = rng.choice(len(a), size=MAX_ROWS, replace=False)
                a, yt = a[sel], yt[sel]
            if bias is not None:
                yt = yt - bias.reshape(-1)
            sol = _ridge(a, yt)  # [in, out]
            trans_b = node.op_type == "Gemm" and _attr(node, "transB", 0)
            new_w = sol.T if trans_b else sol
        before = _residual(node, a, yt, w)
        after = _residual(node, a, yt, new_w)
        if after < before:  # never make a layer worse than plain pruning
            model.graph.initializer[inits[node.input[1]]].CopyFrom(
                numpy_helper.from_array(new_w.astype(w.dtype), node.input[1]))
            refit += 1
    return model, refit


def _residual(node, a, yt, w) -> float:
    if node.op_type == "Conv":
        pred = a @ w.reshape(w.shape[0], -1).T
    elif node.op_type == "Gemm" and _attr(node, "transB", 0):
        pred = a @ w.T
    else:
        pred = a @ w
    return float(((pred - yt) ** 2).mean())
