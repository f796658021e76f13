"""edgec.compile: the steps around the compiler. Resolve the model once (zoo lookup), run the
optional prune and quantize steps (each returns a SourceModel), then hand one SourceModel and one
CompileOptions to edgec.compiler.compile in a staging folder that replaces ``out`` at the end."""
from __future__ import annotations

import shutil
import logging
import tempfile
from dataclasses import replace
from pathlib import Path

from edgec import outdir
from edgec.compiler.options import CompileOptions, values_as_lists
from edgec.compiler.source import SourceModel
from edgec.errors import UserInputError
from edgec.log import to_stderr
from edgec.runtime.artifact import Artifact


log = logging.getLogger(__name__)


def compile(model, target="host", out: "str | Path" = "out", *, force: bool = False,  # noqa: A001
            verbose: bool = False, **options) -> Artifact:
    """Compile ``model`` (path, zoo name, onnx.ModelProto or SourceModel) into folder ``out``.

    ``options`` are CompileOptions.from_api's: input_shapes, input_values, pipeline, schedule,
    tuning_db, prune, calib, quantize, speed_guard, drop_fake_quant, runtime. The pruned/quantized
    model is kept in the artifact as source.onnx, the reference it is verified against.
    ``input_values={"sr": 16000}`` pins inputs to constants before folding (a mode selector, an
    op's axes/shape): they are no longer inputs of the artifact, and verification feeds the same
    values to the reference."""
    with to_stderr(verbose):
        return _compile(model, target, Path(out), force, options)


def _compile(model, target, out: Path, force: bool, options: dict) -> Artifact:
    from edgec.compiler.driver import compile as compile_source
    from edgec.sources import resolve_model

    outdir.prepare(out, force, "artifact", outdir.artifact_files)  # before any work: fail fast
    opts = CompileOptions.from_api(target, **options)
    src = resolve_model(model)
    src = prune_step(src, opts)
    src = quantize_step(src, opts)
    if src.default_values:  # a zoo entry's pinned inputs (the user's values and shapes win)
        zoo = {k: v for k, v in src.default_values.items() if k not in opts.input_shapes}
        opts = replace(opts, input_values={**values_as_lists(zoo), **opts.input_values})
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        compile_source(src, opts, staging)
        outdir.replace(staging, out, "artifact", outdir.artifact_files)  # only an earlier edgec artifact
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Artifact.open(out)


def prune_step(src: SourceModel, opts: CompileOptions) -> SourceModel:
    """``opts.prune`` ("channels:0.3", "magnitude:0.5") applied with ``opts.calib``; else ``src``."""
    if not opts.prune:
        return src
    from edgec.optimize import prune_model

    method, _, amount = opts.prune.partition(":")
    try:
        value = float(amount or 0.3)
    except ValueError:
        raise UserInputError(f"bad --prune {opts.prune!r}; use channels:0.3 or magnitude:0.5") from None
    res = prune_model(src, method, ratio=value, sparsity=value, calib=opts.calib, input_shapes=opts.input_shapes)
    log.info(f"pruned: params {res.params_before:,} -> {res.params_after:,}, FLOPs {res.flops_before:,} -> "
             f"{res.flops_after:,}")
    return src.derive(res.model)


def quantize_step(src: SourceModel, opts: CompileOptions) -> SourceModel:
    """``opts.quantize`` (a scheme name) applied with ``opts.calib``; else ``src``."""
    if not opts.quantize:
        return src
    from edgec.optimize import quantize_model

    return src.derive(quantize_model(src, opts.quantize, opts.calib, input_shapes=opts.input_shapes).model)
