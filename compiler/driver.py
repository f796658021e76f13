"""compile(): model in, verified-shape artifact directory out. The CLI's `edgec compile` wraps this."""
from __future__ import annotations

import shutil
import struct
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import tvm

import edgec
from edgec import outdir
from edgec.compiler import passes
from edgec.compiler.frontends.onnx_frontend import check_onnx_ops, onnx_to_relax
from edgec.compiler.frontends.tflite_frontend import tflite_to_relax
from edgec.compiler.source import SourceModel, resolve_model
from edgec.compiler.weights import weight_bytes
from edgec.compiler.tvm_target import cpu_requirements, resolve
from edgec.errors import ModelFormatError, UnsupportedOperatorError, UserInputError
from edgec.runtime.artifact import Artifact
from edgec.runtime.manifest import DTYPES, Manifest, TensorSpec, write_manifest
from edgec.targets import Target, load_target


@dataclass
class CompileOptions:
    """Everything that changes the compiled code; recorded in the manifest."""

    target: str = "host"
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    input_values: dict[str, list] = field(default_factory=dict)  # pinned inputs (constants), as nested lists
    pipeline: list[str] = field(default_factory=lambda: list(passes.DEFAULT_PIPELINE))
    schedule: str = "default"  # "default": edgec kernels + schedules; "nchw": first-generation schedules; "none": stock TVM
    runtime: str = "vm"  # "micro": edgec's own runtime (compiler/micro); "auto": micro where it applies, else "vm"


def _log(msg: str, verbose: bool) -> None:
    if verbose:
        print(f"[edgec] {msg}", file=sys.stderr, flush=True)


# ONNX ops whose output shape depends on the data: edgec compiles static shapes only.
_DATA_DEPENDENT = ("NonZero", "Unique", "NonMaxSuppression", "Compress")
MAX_DIM = 2**31 - 1  # TVM indexes with int32 by default; larger dims are refused up front


def _signature(mod, names: list[str], src: SourceModel | None = None) -> list[TensorSpec]:
    from tvm import relax, tirx

    ret = mod["main"].ret_ty  # TVM 0.27 renamed StructInfo to "Type": TensorType or TupleType
    infos = list(ret.fields) if isinstance(ret, relax.TupleType) else [ret]
    specs = []
    for n, i in zip(names, infos):
        shape = getattr(i, "shape", None)
        if shape is None or not all(isinstance(d, tirx.IntImm) for d in shape):
            dyn = {node.op_type: node.name or node.output[0] for node in (src.onnx.graph.node if src and src.onnx else [])
                   if node.op_type in _DATA_DEPENDENT}
            if dyn:
                err = UnsupportedOperatorError(dyn, "ONNX")
                err.hint = "these ops give data-dependent output shapes; edgec compiles static shapes only"
                raise err
            raise UserInputError(f"output '{n}' has no static shape ({shape}); edgec compiles static shapes only",
                                 hint="pin the inputs with --input-shape NAME=D1,D2,...")
        if str(i.dtype) not in DTYPES:
            raise ModelFormatError(f"output '{n}' has dtype {i.dtype}; edgec returns {', '.join(sorted(DTYPES))}")
        specs.append(TensorSpec(n, tuple(int(d) for d in shape), str(i.dtype)))
    _check_dims(specs, "output")
    return specs


def _check_dims(specs: list[TensorSpec], what: str) -> None:
    """Dims an artifact can carry (0..2^31-1) and dtypes it knows (runtime/manifest.py DTYPES)."""
    for t in specs:
        if t.dtype not in DTYPES:
            raise ModelFormatError(f"{what} '{t.name}' has dtype {t.dtype}; edgec supports {', '.join(sorted(DTYPES))}")
        if any(d < 0 for d in t.shape):
            raise ModelFormatError(f"{what} '{t.name}' has a negative dimension: shape {list(t.shape)}",
                                   hint="the model is corrupt, or its shape is dynamic: pin it with --input-shape")
        if any(d > MAX_DIM for d in t.shape):
            raise UserInputError(f"{what} '{t.name}' has shape {list(t.shape)}: edgec supports dimensions up to "
                                 f"2^31-1", hint="is the shape right? pin it with --input-shape NAME=D1,D2,...")


def _values_as_lists(values: dict | None) -> dict[str, list]:
    """input_values as JSON-able nested lists (the manifest records them); numbers or arrays in."""
    import numpy as np

    if values is None:
        return {}
    if not isinstance(values, dict):
        raise UserInputError(f"input_values must be a dict {{name: value}}, not {type(values).__name__}")
    out = {}
    for k, v in values.items():
        a = np.asarray(v)
        if a.dtype.kind not in "biuf":
            raise UserInputError(f"input_values['{k}'] = {v!r}: give a number or an array of numbers")
        out[str(k)] = a.tolist()
    return out


def import_model(src: SourceModel, opts: CompileOptions, verbose: bool = False):
    """Run the graph passes and the TVM importer: returns (IRModule, inputs, output names, reports)."""
    if src.format == "onnx":
        both = sorted(set(opts.input_values) & set(opts.input_shapes))
        if both:
            raise UserInputError(f"{both}: give an input a value (--input-value) or a shape (--input-shape), not both")
        shapes = {k: v for k, v in {**src.default_shapes, **opts.input_shapes}.items() if k not in opts.input_values}
        ctx = passes.PassContext(input_shapes=shapes, input_values=opts.input_values, verbose=verbose)
        names = opts.pipeline
        if opts.input_values and "pin_input_values" not in names:  # a custom pipeline still pins them
            names = ["pin_input_values", *names]
        model, reports = passes.run_pipeline(src.onnx, names, ctx)
        from edgec.compiler.passes.fix_input_shapes import dims, graph_inputs

        check_onnx_ops(model)  # an unsupported op is the clearer message than the dtype it takes
        inputs = [TensorSpec(vi.name, tuple(dims(vi)), _onnx_dtype(vi)) for vi in graph_inputs(model)]
        _check_dims(inputs, "input")
        mod = onnx_to_relax(model, {t.name: t.shape for t in inputs})
        out_names = [o.name for o in model.graph.output]
    else:
        if opts.input_shapes or opts.input_values:
            raise UserInputError("--input-shape / --input-value are not supported for TFLite models (their inputs are fixed)")
        reports = []
        inputs = [TensorSpec(n, s, d) for n, s, d in src.tflite.io()]
        _check_dims(inputs, "input")
        try:
            mod = tflite_to_relax(src.tflite)
        except struct.error as e:  # flatbuffers reads lazily: a table pointing outside the file shows here
            raise ModelFormatError(f"{src.path} is not a valid TFLite model (a table points outside the file: {e}); "
                                   "the file may be truncated or corrupt") from None
        out_names = [n for n, _, _ in src.tflite.io(outputs=True)]
    return mod, inputs, out_names, reports


def _onnx_dtype(vi) -> str:
    import onnx

    t = vi.type.tensor_type.elem_type
    try:
        name = str(onnx.helper.tensor_dtype_to_np_dtype(t))
    except (KeyError, ValueError, TypeError):
        name = onnx.TensorProto.DataType.Name(t) if t in onnx.TensorProto.DataType.values() else str(t)
    if name not in DTYPES:
        raise ModelFormatError(f"input '{vi.name}' has element type {name}; edgec takes inputs of "
                               f"{', '.join(sorted(DTYPES))}")
    return name


def _tuning_db(target: Target, given):
    """The user's database, else the one shipped for this target (targets/tuning/NAME.json)."""
    from edgec.compiler.tuning import TuningDB, shipped_db

    if given is False:  # explicitly untuned
        return None, None
    path = Path(given) if given else shipped_db(target)
    return (TuningDB.load(path), path) if path else (None, None)


def _lower_int8(mod, tgt: Target, schedule: str, speed_guard: bool | None, verbose: bool, drop_fake_quant: bool):
    """QDQ conv/matmul -> integer kernels when the target has a dot-product instruction. The
    speed guard (default: on when compiling for this machine) times every int8 layer against its
    float version and keeps the faster."""
    from edgec.compiler.int8 import Int8Stats, dot_isa, lower_int8
    from edgec.compiler.int8.qdq import KEEP_BEFORE
    from edgec.compiler.int8.rewrite import drop_unused_qdq
    from edgec.compiler.tvm_target import to_tvm

    if tgt.kind != "llvm" or schedule == "none":
        return None
    isa = dot_isa(to_tvm(tgt))
    stats = Int8Stats()
    if isa is None:
        stats.skip(f"no int8 dot-product instruction on {tgt.name}")
        return lower_int8(mod, None, stats), stats
    mod = drop_unused_qdq(mod, stats, () if drop_fake_quant else KEEP_BEFORE)
    keep = None
    if speed_guard if speed_guard is not None else not tgt.is_cross:
        from edgec.compiler.int8.guard import measure
        from edgec.compiler.schedules import relax_pipeline

        times = measure(mod, isa, to_tvm(tgt), relax_pipeline(tgt, schedule), verbose)
        stats.guard_us = [[round(f * 1e6, 1), round(q * 1e6, 1)] for f, q in times]
        keep = lambda i, _plan: times[i][1] < times[i][0]  # noqa: E731
    return lower_int8(mod, isa, stats, keep=keep, drop_qdq=False), stats


def _has_qdq(mod) -> bool:
    from tvm import relax

    return any(getattr(getattr(v, "op", None), "name", "") == "relax.dequantize"
               for v in relax.analysis.get_var2val(mod["main"]).values())


def compile(model, target: "str | Target" = "host", out: "str | Path" = "out", *,  # noqa: A001
            input_shapes: dict[str, tuple[int, ...]] | None = None, input_values: dict | None = None, pipeline: list[str] | None = None,
            schedule: str = "default", force: bool = False, verbose: bool = False,
            tuning_db: "str | Path | bool | None" = None, prune: str | None = None, calib=None,
            quantize: str | None = None, speed_guard: bool | None = None, drop_fake_quant: bool = False,
            runtime: str | None = None) -> Artifact:
    """Compile ``model`` (path, zoo name or onnx.ModelProto) for ``target`` into directory ``out``.

    ``prune="channels:0.3"`` (or "magnitude:0.5") prunes first, with ``calib`` data; the pruned
    ONNX model is kept in the artifact as source.onnx, the reference it is verified against.
    A QDQ model (``quantize="int8"`` or an imported one) runs its conv/matmul layers on int8
    kernels where the target has a dot-product instruction; ``speed_guard`` (default: on for the
    host) measures each layer and keeps float where int8 is not faster. ``drop_fake_quant`` also
    skips the rounding in front of float convs and products: faster on small models, accuracy
    model-dependent (docs/optimize.md); off by default. ``input_values={"sr": 16000}`` pins inputs to
    constants before folding (a mode selector, an op's axes/shape): they are no longer inputs of the
    artifact, and verification feeds the same values to the reference."""
    out = Path(out)
    outdir.prepare(out, force, "artifact", outdir.artifact_files)  # before any work: fail fast
    derived = None
    origin = model  # a pruned/quantized model keeps its zoo entry's input ranges and samples
    if prune:
        from edgec.optimize import prune_model

        method, _, amount = prune.partition(":")
        try:
            value = float(amount or 0.3)
        except ValueError:
            raise UserInputError(f"bad --prune {prune!r}; use channels:0.3 or magnitude:0.5") from None
        res = prune_model(model, method, ratio=value, sparsity=value, calib=calib, input_shapes=input_shapes,
                          verbose=verbose)
        model = derived = res.model
        _log(f"pruned: params {res.params_before:,} -> {res.params_after:,}, FLOPs {res.flops_before:,} -> "
             f"{res.flops_after:,}", verbose)
    if quantize:
        from edgec.optimize import quantize_model

        model = derived = quantize_model(model, quantize, calib, input_shapes=input_shapes, verbose=verbose).model
    tgt = resolve(load_target(target))
    if runtime is None:
        from edgec.compiler.micro import default_runtime

        runtime = default_runtime(tgt)
    opts = CompileOptions(target=tgt.name, input_shapes={k: tuple(v) for k, v in (input_shapes or {}).items()},
                          input_values=_values_as_lists(input_values),
                          pipeline=list(pipeline) if pipeline is not None else list(passes.DEFAULT_PIPELINE),
                          schedule=schedule, runtime=runtime)
    t0 = time.perf_counter()
    src = resolve_model(model)
    if derived is not None and isinstance(origin, str):
        zoo_src = resolve_model(origin, fetch_quiet=True)
        src.input_ranges, src.input_samples = zoo_src.input_ranges, zoo_src.input_samples
    if src.default_values:  # a zoo entry's pinned inputs (the user's values win)
        opts.input_values = {**_values_as_lists({k: v for k, v in src.default_values.items()
                                                 if k not in opts.input_shapes}), **opts.input_values}
    mod, inputs, out_names, reports = import_model(src, opts, verbose)
    t_import = time.perf_counter() - t0
    _log(f"imported {src.format} model ({t_import:.1f}s); lowering for {tgt.name} ...", verbose)
    outputs = _signature(mod, out_names, src)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        from edgec.compiler.schedules import relax_pipeline

        if derived is not None:
            (staging / "source.onnx").write_bytes(src.data)
        stats: dict = {}
        qdq = _has_qdq(mod)
        int8 = _lower_int8(mod, tgt, schedule, speed_guard, verbose, drop_fake_quant) if qdq else None
        if int8 is not None:
            mod, int8_stats = int8
            _log(f"int8: {int8_stats.int8_layers} layers on integer kernels, float: {int8_stats.float_layers}", verbose)
        db, db_path = _tuning_db(tgt, tuning_db)
        knobs_for = db.knobs_for if db else None
        from edgec.compiler.micro import build_library

        lib, runtime_info = build_library(mod, tgt, staging, relax_pipeline(tgt, schedule, stats, knobs_for), runtime,
                                          [t.name for t in inputs], [t.name for t in outputs])
        t_build = time.perf_counter() - t0 - t_import
        _log(f"built {lib.name} in {t_build:.1f}s", verbose)
        target_d = tgt.to_dict() | {"requires": cpu_requirements(tgt)}  # checked at load time, there
        manifest = Manifest(
            target=target_d, inputs=inputs, outputs=outputs, library=lib.name,
            compile_options=asdict(opts) | {"input_ranges": {k: list(v) for k, v in src.input_ranges.items()},
                                            "input_samples": src.input_samples,
                                            "passes": [str(r) for r in reports], "prune": prune,
                                            "quantize": quantize, "drop_fake_quant": drop_fake_quant},
            source_model=src.describe(),
            versions={"edgec": edgec.__version__, "tvm": tvm.__version__},
        )
        manifest.compile_options["timings_s"] = {"import": round(t_import, 3), "build": round(t_build, 3)}
        manifest.compile_options["schedule_stats"] = stats
        manifest.compile_options["qdq"] = qdq
        manifest.compile_options["weight_bytes"] = weight_bytes(mod)
        manifest.compile_options.update(runtime_info)
        if int8 is not None:
            manifest.compile_options["int8"] = int8[1].as_dict()
        manifest.compile_options["tuning_db"] = str(db_path) if db_path else None
        write_manifest(staging, manifest)
        outdir.replace(staging, out, "artifact", outdir.artifact_files)  # only an earlier edgec artifact
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Artifact.open(out)
