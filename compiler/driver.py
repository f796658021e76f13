"""compile(SourceModel, CompileOptions, folder) -> Artifact: import, lower, build, write the manifest.

Prune/quantize steps, zoo lookup and the output folder's staging and --force rules live a layer
up (edgec/compiling.py); this module only turns one model and one set of options into code."""
from __future__ import annotations

import struct
import logging
import time
from pathlib import Path

import tvm

from edgec.compiler import passes
from edgec.compiler.backends import backend_for
from edgec.compiler.frontends.onnx_frontend import check_onnx_ops, onnx_to_relax
from edgec.compiler.frontends.tflite_frontend import tflite_to_relax
from edgec.compiler.options import CompileOptions
from edgec.compiler.source import SourceModel
from edgec.compiler.weights import weight_bytes
from edgec.compiler.tvm_target import cpu_requirements, resolve
from edgec.errors import ModelFormatError, UnsupportedOperatorError, UserInputError
from edgec.runtime.artifact import Artifact
from edgec.runtime.manifest import DTYPES, Manifest, TensorSpec, write_manifest
from edgec.targets import Target, load_target


log = logging.getLogger(__name__)


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


def import_model(src: SourceModel, opts: CompileOptions):
    """Run the graph passes and the TVM importer: returns (IRModule, inputs, output names, reports)."""
    if src.format == "onnx":
        both = sorted(set(opts.input_values) & set(opts.input_shapes))
        if both:
            raise UserInputError(f"{both}: give an input a value (--input-value) or a shape (--input-shape), not both")
        # a zoo entry's pinned inputs apply to every caller (compile, bench's FLOP count...); the user's win
        values = {**{k: v for k, v in src.default_values.items() if k not in opts.input_shapes}, **opts.input_values}
        shapes = {k: v for k, v in {**src.default_shapes, **opts.input_shapes}.items() if k not in values}
        ctx = passes.PassContext(input_shapes=shapes, input_values=values, verbose=True)
        names = opts.pipeline
        if values and "pin_input_values" not in names:  # a custom pipeline still pins them
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


def _tuning_db(target: Target, tuning: str):
    """``tuning``: "none", "shipped" (targets/tuning/NAME.json if there is one) or a database path."""
    from edgec.compiler.tuning import TuningDB, shipped_db

    if tuning == "none":
        return None, None
    path = shipped_db(target) if tuning == "shipped" else Path(tuning)
    return (TuningDB.load(path), path) if path else (None, None)


def _lower_int8(mod, tgt: Target, schedule: str, speed_guard: bool | None, drop_fake_quant: bool):
    """QDQ conv/matmul -> integer kernels when the target has a dot-product instruction. The
    speed guard (default: on when compiling for this machine) times every int8 layer against its
    float version and keeps the faster."""
    from edgec.compiler.int8 import Int8Stats, dot_isa, lower_int8
    from edgec.compiler.int8.qdq import KEEP_BEFORE
    from edgec.compiler.int8.rewrite import drop_unused_qdq
    from edgec.compiler.tvm_target import to_tvm

    if not backend_for(tgt).int8_kernels or schedule == "none":
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

        times = measure(mod, isa, to_tvm(tgt), relax_pipeline(tgt, schedule))
        stats.guard_us = [[round(f * 1e6, 1), round(q * 1e6, 1)] for f, q in times]
        keep = lambda i, _plan: times[i][1] < times[i][0]  # noqa: E731
    return lower_int8(mod, isa, stats, keep=keep, drop_qdq=False), stats


def _has_qdq(mod) -> bool:
    from tvm import relax

    return any(getattr(getattr(v, "op", None), "name", "") == "relax.dequantize"
               for v in relax.analysis.get_var2val(mod["main"]).values())


def compile(src: SourceModel, opts: CompileOptions, out: "str | Path") -> Artifact:  # noqa: A001
    """Compile ``src`` as ``opts`` say into the folder ``out`` (empty or new; the caller stages it and
    moves it into place) and return the Artifact. The manifest records ``opts`` whole.

    A QDQ model runs its conv/matmul layers on int8 kernels where the target has a dot-product
    instruction; ``opts.speed_guard`` (default: on for the host) measures each layer and keeps
    float where int8 is not faster. ``opts.drop_fake_quant`` also skips the rounding in front of
    float convs and products: faster on small models, accuracy model-dependent (docs/optimize.md)."""
    from edgec.compiler.schedules import relax_pipeline

    out = Path(out)
    tgt = resolve(load_target(opts.target))
    t0 = time.perf_counter()
    mod, inputs, out_names, reports = import_model(src, opts)
    t_import = time.perf_counter() - t0
    log.info(f"imported {src.format} model ({t_import:.1f}s); lowering for {tgt.name} ...")
    outputs = _signature(mod, out_names, src)
    out.mkdir(parents=True, exist_ok=True)
    if src.derived:
        (out / "source.onnx").write_bytes(src.data)  # the reference it is verified against
    stats: dict = {}
    qdq = _has_qdq(mod)
    int8 = _lower_int8(mod, tgt, opts.schedule, opts.speed_guard, opts.drop_fake_quant) if qdq else None
    if int8 is not None:
        mod, int8_stats = int8
        log.info(f"int8: {int8_stats.int8_layers} layers on integer kernels, float: {int8_stats.float_layers}")
    db, db_path = _tuning_db(tgt, opts.tuning)
    knobs_for = db.knobs_for if db else None
    from edgec.compiler.micro import build_library, default_runtime

    runtime = opts.runtime or default_runtime(tgt)
    lib, runtime_info = build_library(mod, tgt, out, relax_pipeline(tgt, opts.schedule, stats, knobs_for), runtime,
                                      [t.name for t in inputs], [t.name for t in outputs])
    t_build = time.perf_counter() - t0 - t_import
    log.info(f"built {lib.name} in {t_build:.1f}s")
    facts = {"input_ranges": {k: list(v) for k, v in src.input_ranges.items()}, "input_samples": src.input_samples,
             "passes": [str(r) for r in reports],
             "timings_s": {"import": round(t_import, 3), "build": round(t_build, 3)},
             "schedule_stats": stats, "qdq": qdq, "weight_bytes": weight_bytes(mod),
             "tuning_db": str(db_path) if db_path else None, **runtime_info}  # runtime: the one chosen
    if int8 is not None:
        facts["int8"] = int8[1].as_dict()
    manifest = Manifest(
        target=tgt.to_dict() | {"requires": cpu_requirements(tgt)},  # checked at load time, there
        inputs=inputs, outputs=outputs, library=lib.name,
        compile_options=opts.to_dict() | facts,
        source_model=src.describe(),
        versions={"edgec": _edgec_version(), "tvm": tvm.__version__},
    )
    write_manifest(out, manifest)
    return Artifact.open(out)


def _edgec_version() -> str:
    """The installed distribution's version (the compiler does not import the edgec package)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("edgec")
    except PackageNotFoundError:
        return "unknown"
