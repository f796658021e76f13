"""Channel pruning: rank each prunable space's channels (weights or activations), remove the
least important, refit the consumers by least squares on calibration data, with the accuracy
guard backing off the most sensitive spaces."""
from __future__ import annotations

import logging

import numpy as np
import onnx

from edgec.compiler.prune import PruneOptions, PruneResult, kept_channels
from edgec.compiler.prune.apply import apply_keep
from edgec.compiler.prune.rank import activation_importance, weight_importance
from edgec.compiler.prune.reconstruct import reconstruct
from edgec.compiler.prune.spaces import Analysis, analyze
from edgec.errors import UserInputError


log = logging.getLogger(__name__)


def _plan(model, analysis: Analysis, ratios: dict[int, float], scores: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    keep = {}
    for sp in analysis.prunable():
        n_keep = kept_channels(sp.size, ratios.get(sp.id, 0.0))
        if n_keep >= sp.size:
            continue
        order = np.argsort(-scores[sp.id], kind="stable")
        keep[sp.id] = np.sort(order[:n_keep])
    return keep


def prune_channels(given: onnx.ModelProto, opts: PruneOptions, calib, metric, verbose: bool = False) -> PruneResult:
    """Structured: remove whole channels per prunable space (spaces.py), refit the consumers."""
    from edgec.compiler.passes.infer_shapes import fresh_shapes

    model = fresh_shapes(given)  # the analysis needs every intermediate shape
    analysis = analyze(model)
    # The model's inputs and outputs are never pruned (image channels, class scores): spaces that
    # reach a graph output are frozen by the analysis, and inputs are no producer's channels.
    spaces = analysis.prunable()
    criterion = opts.criterion if opts.criterion != "auto" else ("activation" if calib else "l2")
    if criterion == "activation":
        if not calib:
            raise UserInputError("--criterion activation needs calibration data (--calib)")
        scores = activation_importance(model, analysis, calib)
    else:
        scores = {s.id: weight_importance(model, s, criterion) for s in spaces}
    ratios = {s.id: opts.ratio for s in spaces}

    def build(r: dict[int, float]) -> onnx.ModelProto:
        keep = _plan(model, analysis, r, scores)
        if not keep:
            return given  # nothing removed: the very same model, bit for bit
        pruned = apply_keep(model, analysis, keep)
        if opts.reconstruct and calib:
            touched = {analysis._root(s) for s in keep}
            names = {}
            for n, x in analysis.consumers:
                if any(analysis._root(sid) in touched for sid, _ in analysis.tensor[x].parts):
                    out_root = analysis._root(analysis.tensor[n.output[0]].parts[0][0])
                    names[n.name or n.output[0]] = keep.get(out_root)
            pruned, _ = reconstruct(model, pruned, names, calib)
        return pruned

    result = build(ratios)
    notes = []
    if opts.max_drop is not None and metric is not None and opts.ratio > 0:
        result, notes = _guard(given, result, spaces, ratios, build, opts, metric)
    layers = []
    for s in analysis.prunable():
        kept = kept_channels(s.size, ratios.get(s.id, 0.0))
        layers.append({"space": s.id, "producers": [n.name or n.output[0] for n in s.sources],
                       "channels_before": s.size, "channels_after": int(kept)})
    frozen = sorted({analysis.space_of(sid).frozen for sid in analysis.spaces if analysis.space_of(sid).frozen})
    notes += [f"not pruned: {why}" for why in frozen[:8]]
    return PruneResult(result, layers, notes=notes)


def _guard(given, result, spaces, ratios: dict[int, float], build, opts: PruneOptions, metric):
    """Leave the spaces whose pruning alone costs most unpruned, one more at a time, until the
    drop holds (compiler/accuracy_guard.py). ``ratios`` is updated to what was kept."""
    from edgec.compiler.accuracy_guard import back_off

    base, score = metric(given), metric(result)
    log.info(f"metric {base:.4f} -> {score:.4f} at ratio {opts.ratio}")
    if base - score <= opts.max_drop:
        return result, []
    sens = {s.id: base - metric(build({s.id: opts.ratio})) for s in spaces}  # each space alone
    ranked = sorted(sens, key=lambda k: -sens[k])
    notes = []

    def without(kept: list[int]):
        return build({**ratios, **{sid: 0.0 for sid in kept}})

    def step(kept: list[int], now: float) -> None:
        notes.append(f"kept space {kept[-1]} unpruned (alone it cost {sens[kept[-1]] * 100:.2f} points)")
        log.info(notes[-1] + f"; metric now {now:.4f}")

    out = back_off(result, score, base, opts.max_drop, ranked, without, metric, on_step=step)
    ratios.update({sid: 0.0 for sid in out.kept})
    return out.model, notes
