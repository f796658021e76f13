"""Quantization: `edgec quantize` and `edgec compile --quantize SCHEME`.

Schemes are looked up by name (schemes.py): "int8" (static post-training, QDQ ONNX, calibrated),
"int8-weights" and "fp16" (weight-only, smaller files). With a metric and ``max_drop``, the
accuracy guard (compiler/accuracy_guard.py) keeps the layers with the worst per-layer error in
float, doubling how many it keeps until the drop holds. Light to import (the CLI reads the
scheme names); onnx and ONNX Runtime load when a scheme runs."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Callable

from edgec.compiler.quantize.options import Int8Options, WeightOptions  # noqa: F401 - public
from edgec.compiler.quantize.schemes import SCHEMES
from edgec.errors import UserInputError

MODES = SCHEMES.names()
log = logging.getLogger(__name__)


@dataclass
class QuantResult:
    model: "onnx.ModelProto"  # noqa: F821
    mode: str
    layers: list[dict] = field(default_factory=list)  # per-layer SQNR/cosine (int8)
    kept_float: list[str] = field(default_factory=list)
    metric_before: float | None = None
    metric_after: float | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"mode": self.mode, "kept_float": self.kept_float, "metric_before": self.metric_before,
                "metric_after": self.metric_after, "layers": self.layers, "notes": self.notes}


def quantize(model, mode: str = "int8", calib: list[dict] | None = None, options=None,
             max_drop: float | None = None, metric: Callable | None = None, report: bool = False,
             verbose: bool = False) -> QuantResult:
    """Quantize a (cleaned-up) ONNX model with scheme ``mode``; ``options`` is the scheme's
    options dataclass (default: its defaults)."""
    scheme = SCHEMES.get(mode)
    opts = options if isinstance(options, scheme.options) else scheme.options()
    if scheme.needs_calib and not calib:
        raise UserInputError(f"{mode} quantization needs calibration data (--calib)")
    from edgec.log import to_stderr

    with to_stderr(verbose):
        return _quantize(model, mode, scheme, opts, calib, max_drop, metric, report, verbose)


def _quantize(model, mode, scheme, opts, calib, max_drop, metric, report, verbose) -> QuantResult:
    run = scheme.load()
    q = run(model, calib, opts, verbose)
    res = QuantResult(q, mode)
    if scheme.options is WeightOptions:
        res.notes.append(scheme.summary)
        return res
    need_report = report or (max_drop is not None and metric is not None)
    if need_report:
        from edgec.compiler.quantize.report import layer_report

        res.layers = layer_report(model, q, calib[: min(len(calib), 16)])
    if metric is not None:
        res.metric_before, res.metric_after = metric(model), metric(q)
    if max_drop is not None and metric is not None:
        _guard(res, model, calib, opts, run, max_drop, metric)
    return res


def _guard(res: QuantResult, model, calib, opts, run, max_drop: float, metric: Callable) -> None:
    """Keep the lowest-SQNR layers in float (1, 2, 4, ... of them) until the drop holds."""
    from edgec.compiler.accuracy_guard import back_off

    ranked = [r["layer"] for r in sorted(res.layers, key=lambda r: r["sqnr_db"])]

    def step(keep: list[str], score: float) -> None:
        log.info(f"kept {len(keep)} layer(s) in float ({', '.join(keep[:4])}"
                 f"{'...' if len(keep) > 4 else ''}): metric {score:.4f}")

    out = back_off(res.model, res.metric_after, res.metric_before, max_drop, ranked,
                   lambda keep: run(model, calib, replace(opts, exclude=list(opts.exclude) + keep), False),
                   metric, grow=lambda n: 2 * n, on_step=step)
    res.model, res.kept_float, res.metric_after = out.model, out.kept, out.score
    by = {r["layer"]: r for r in res.layers}
    res.notes += [f"kept {name} in float: its int8 SQNR was {by[name]['sqnr_db']:.1f} dB (lowest)" for name in res.kept_float]
    if not out.holds(res.metric_before, max_drop):
        res.notes.append("the budget still does not hold with every ranked layer in float")
