"""compile(SourceModel, CompileOptions, folder) -> Artifact: import, lower, build, write the manifest.

Prune/quantize steps, zoo lookup and the output folder's staging and --force rules live a layer
up (edgec/compiling.py); this module only turns one model and one set of options into code."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import tvm

from edgec.compiler.backends import backend_for
from edgec.compiler.frontends.imported import Imported, check_dims
from edgec.compiler.frontends.registry import FRONTENDS
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
    check_dims(specs, "output")
    return specs


def import_model(src: SourceModel, opts: CompileOptions) -> Imported:
    """The source's frontend (compiler/frontends/registry.py) imports it: graph passes where the
    format has them, then TVM's importer. Returns (IRModule, inputs, output names, pass reports)."""
    return FRONTENDS.get(src.format).import_fn()(src, opts)


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
