"""Pruning on ONNX graphs: unstructured magnitude sparsity and structured channel pruning with
least-squares reconstruction and an accuracy guard. `edgec prune` and `edgec compile --prune`
wrap ``prune()``; the result is an ordinary ONNX model that ONNX Runtime runs. Methods are looked
up by name (methods.py). Light to import (the CLI reads the choices); onnx loads when one runs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from edgec.errors import UserInputError

CRITERIA = ("auto", "l1", "l2", "activation")
SCOPES = ("global", "layer")


@dataclass
class PruneOptions:
    method: str = "channels"  # a name in methods.py: "channels" | "magnitude"
    ratio: float = 0.3  # channels: fraction removed per prunable space
    sparsity: float = 0.5  # magnitude: fraction of weights zeroed
    scope: str = "global"  # magnitude: "global" | "layer"
    criterion: str = "auto"  # channels: "l1" | "l2" | "activation" | "auto" (activation with calib, else l2)
    reconstruct: bool = True  # channels: least-squares refit of consumers (needs calib)
    protect_first_last: bool = True  # magnitude: leave the first and last weighted layers dense
    max_drop: float | None = None  # accuracy guard, in metric points (0.01 = 1 point)


@dataclass
class PruneResult:
    model: "onnx.ModelProto"  # noqa: F821
    layers: list[dict] = field(default_factory=list)
    params_before: int = 0
    params_after: int = 0
    flops_before: int = 0
    flops_after: int = 0
    metric_before: float | None = None
    metric_after: float | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"params_before": self.params_before, "params_after": self.params_after,
                "flops_before": self.flops_before, "flops_after": self.flops_after,
                "metric_before": self.metric_before, "metric_after": self.metric_after,
                "layers": self.layers, "notes": self.notes}


def kept_channels(size: int, ratio: float) -> int:
    """Channels left after removing ``ratio`` of ``size``, rounded *up* to a multiple of 4 (8 from
    64 channels up) so pruned layers still fill whole vectors (11 of 16 channels ran no faster
    than 16 on PP-OCR cls; 12 does), and never more is removed than asked."""
    if ratio <= 0:
        return size
    align = 8 if size >= 64 else 4
    want = size * (1 - ratio)
    if size <= align:
        return max(1, int(round(want)))
    return min(size, int(align * -(-want // align)))


def prune(model, options: PruneOptions | None = None, calib: list[dict] | None = None,
          metric: Callable | None = None, verbose: bool = False) -> PruneResult:
    """Prune a (cleaned-up, static-shape) ONNX model. ``calib``: list of input feeds for activation
    ranking and reconstruction. ``metric(model) -> score`` (higher is better) drives --max-drop."""
    from edgec.compiler.prune import cost
    from edgec.compiler.prune.methods import METHODS

    opts = options or PruneOptions()
    method = METHODS.get(opts.method)
    amount, value = ("--sparsity", opts.sparsity) if opts.method == "magnitude" else ("--ratio", opts.ratio)
    if not 0 <= value < 1:
        raise UserInputError(f"{amount} must be in [0, 1)")
    from edgec.log import to_stderr

    with to_stderr(verbose):
        res = method.load()(model, opts, calib, metric, verbose)
    res.params_before, res.params_after = cost.params(model), cost.params(res.model)
    res.flops_before, res.flops_after = cost.flops(model), cost.flops(res.model)
    if metric is not None:
        res.metric_before = metric(model)
        res.metric_after = metric(res.model) if res.model is not model else res.metric_before
    return res
