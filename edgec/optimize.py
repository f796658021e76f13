"""Model-level optimizations a user asks for by name (pruning now; quantization builds here too):
load and clean up the model, get calibration data, run the optimization, report."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from edgec.errors import UserInputError


def cleaned_onnx(model, input_shapes: dict | None = None):
    """(cleaned-up static-shape ModelProto, SourceModel) for pruning/quantization."""
    from edgec.compiler import passes
    from edgec.sources import resolve_model

    src = resolve_model(model)
    if src.format != "onnx":
        raise UserInputError("pruning and quantization work on ONNX models; convert TFLite models to ONNX first")
    shapes = {**src.default_shapes, **{k: tuple(v) for k, v in (input_shapes or {}).items()}}
    cleaned, _ = passes.run_pipeline(src.onnx, passes.DEFAULT_PIPELINE, passes.PassContext(input_shapes=shapes))
    return cleaned, src


def input_specs(model: onnx.ModelProto):
    from edgec.compiler.passes.fix_input_shapes import dims, graph_inputs
    from edgec.runtime.manifest import TensorSpec

    return [TensorSpec(vi.name, tuple(dims(vi)), str(onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)))
            for vi in graph_inputs(model)]


def agreement_metric(reference: onnx.ModelProto, feeds: list[dict]):
    """Top-1 agreement (argmax over the last axis of the first output) with ``reference``: the
    default accuracy metric when the user gives no labelled metric."""
    from edgec.reference import ort_session

    def outputs(m):  # a quantized candidate runs host-independently (QDQ as float)
        sess = ort_session(m)
        return [np.argmax(sess.run(None, f)[0], axis=-1) for f in feeds]

    ref = outputs(reference)

    def metric(m: onnx.ModelProto) -> float:
        got = outputs(m)
        return float(np.mean([np.mean(a == b) for a, b in zip(got, ref)]))

    return metric


def parse_fraction(text) -> float:
    """'1%' -> 0.01, '0.01' -> 0.01."""
    if text is None:
        return None
    t = str(text).strip()
    try:
        return float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise UserInputError(f"bad fraction {text!r}; use e.g. 1% or 0.01") from None


def _calibration_and_metric(cleaned: onnx.ModelProto, src, calib, max_drop, metric):
    """(feeds to fit on, metric, drop budget). Without a user metric, --max-drop is measured as
    top-1 agreement with the unoptimized model on the last third of the calibration data, which
    is then not used for fitting."""
    from edgec.calibration import load_calibration

    feeds = load_calibration(calib, input_specs(cleaned), src.zoo) if calib is not None else None
    drop = parse_fraction(max_drop)
    fit, held = feeds, feeds
    if feeds and metric is None and drop is not None:
        cut = max(1, (2 * len(feeds)) // 3)
        fit, held = feeds[:cut], feeds[cut:] or feeds
    if drop is not None and metric is None:
        if not held:
            raise UserInputError("--max-drop needs calibration data (--calib) to measure the drop on")
        metric = agreement_metric(cleaned, held)
    return fit, metric, drop


def prune_model(model, method: str = "channels", ratio: float = 0.3, sparsity: float = 0.5, calib=None,
                criterion: str = "auto", reconstruct: bool = True, max_drop=None, metric=None,
                input_shapes: dict | None = None, scope: str = "global", verbose: bool = False):
    """Prune ``model`` (path, zoo name or ModelProto); returns edgec.compiler.prune.PruneResult."""
    from edgec.compiler.prune import PruneOptions, prune

    cleaned, src = cleaned_onnx(model, input_shapes)
    fit, metric, drop = _calibration_and_metric(cleaned, src, calib, max_drop, metric)
    opts = PruneOptions(method=method, ratio=ratio, sparsity=sparsity, scope=scope, criterion=criterion,
                        reconstruct=reconstruct, max_drop=drop)
    return prune(cleaned, opts, calib=fit, metric=metric, verbose=verbose)


def save_model(model: onnx.ModelProto, out: Path, force: bool) -> None:
    out = Path(out)
    if out.exists() and not force:
        raise UserInputError(f"{out} exists; pass --force to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    onnx.save(model, tmp)
    tmp.replace(out)


def quantize_model(model, mode: str = "int8", calib=None, method: str = "minmax", activations: str = "int8",
                   per_channel: bool = True, max_drop=None, metric=None, report: bool = False,
                   input_shapes: dict | None = None, verbose: bool = False):
    """Quantize ``model`` (path, zoo name or ModelProto); returns edgec.compiler.quantize.QuantResult."""
    from edgec.compiler.quantize import Int8Options, quantize

    cleaned, src = cleaned_onnx(model, input_shapes)
    fit, metric, drop = _calibration_and_metric(cleaned, src, calib, max_drop, metric)
    opts = Int8Options(method=method, per_channel=per_channel, activations=activations)
    return quantize(cleaned, mode, fit, opts, drop, metric, report, verbose)
