"""Quantization: `edgec quantize` and `edgec compile --quantize MODE`.

Modes: "int8" (static post-training, QDQ ONNX, calibrated), "int8-weights" and "fp16"
(weight-only, smaller files). The accuracy guard keeps the layers with the worst per-layer error
in float, doubling how many it keeps until ``max_drop`` holds."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable

import onnx

from edgec.compiler.quantize.int8 import Int8Options, quantize_int8
from edgec.compiler.quantize.report import layer_report
from edgec.compiler.quantize.weights import fp16_weights, int8_weights
from edgec.errors import UserInputError

MODES = ("int8", "int8-weights", "fp16")


@dataclass
class QuantResult:
    model: onnx.ModelProto
    mode: str
    layers: list[dict] = field(default_factory=list)  # per-layer SQNR/cosine (int8)
    kept_float: list[str] = field(default_factory=list)
    metric_before: float | None = None
    metric_after: float | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"mode": self.mode, "kept_float": self.kept_float, "metric_before": self.metric_before,
                "metric_after": self.metric_after, "layers": self.layers, "notes": self.notes}


def quantize(model: onnx.ModelProto, mode: str = "int8", calib: list[dict] | None = None,
             options: Int8Options | None = None, max_drop: float | None = None,
             metric: Callable[[onnx.ModelProto], float] | None = None, report: bool = False,
             verbose: bool = False) -> QuantResult:
    if mode == "int8-weights":
        return QuantResult(int8_weights(model), mode, notes=["weights stored as int8; compute stays float"])
    if mode == "fp16":
        return QuantResult(fp16_weights(model), mode, notes=["weights stored as fp16; compute stays float"])
    if mode != "int8":
        raise UserInputError(f"unknown quantization mode {mode!r}; use one of {', '.join(MODES)}")
    opts = options or Int8Options()
    q = quantize_int8(model, calib, opts, verbose)
    res = QuantResult(q, mode)
    need_report = report or (max_drop is not None and metric is not None)
    rows = layer_report(model, q, calib[: min(len(calib), 16)]) if need_report else []
    res.layers = rows
    if metric is not None:
        res.metric_before, res.metric_after = metric(model), metric(q)
    if max_drop is not None and metric is not None and res.metric_before - res.metric_after > max_drop:
        ranked = [r["layer"] for r in sorted(rows, key=lambda r: r["sqnr_db"])]
        n = 1
        while res.metric_before - res.metric_after > max_drop and n <= len(ranked):
            keep = ranked[:n]
            q = quantize_int8(model, calib, Int8Options(**{**opts.__dict__, "exclude": list(opts.exclude) + keep}),
                              verbose=False)
            res.model, res.kept_float, res.metric_after = q, keep, metric(q)
            if verbose:
                print(f"[edgec quantize] kept {n} layer(s) in float ({', '.join(keep[:4])}"
                      f"{'...' if n > 4 else ''}): metric {res.metric_after:.4f}", file=sys.stderr)
            n *= 2
        by = {r["layer"]: r for r in rows}
        res.notes += [f"kept {name} in float: its int8 SQNR was {by[name]['sqnr_db']:.1f} dB (lowest)" for name in res.kept_float]
        if res.metric_before - res.metric_after > max_drop:
            res.notes.append("the budget still does not hold with every ranked layer in float")
    return res
