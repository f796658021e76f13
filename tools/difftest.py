#!/usr/bin/env python3
"""Differential testing of edgec against ONNX Runtime on random models (issue 16).

Each case: a random valid ONNX model (edgec.models.random_graphs, deterministic per seed),
compiled by edgec with its default CPU schedules, run on random inputs and compared with ONNX
Runtime (all graph optimizations off) by relative-L2, worst over outputs. A mismatch is compiled
again with ``schedule="none"`` (stock TVM lowering) to tell an edgec schedule bug from an
import/TVM bug, then reduced (nodes deleted, inputs shrunk while the same failure holds) and
saved as ONNX under --save.

  python tools/difftest.py --seed 0 --count 100
  python tools/difftest.py --minutes 40 --save difftest-failures/ --json
  python tools/difftest.py --int8 --count 20      # QDQ int8 models (edgec's own quantizer)
  python tools/difftest.py --int8 --target rpi5   # aarch64 int8 (sdot) kernels, run under qemu

Statuses: ok, mismatch, compile_error, run_error, quantize_error (--int8). Classes of a failure: "schedule" (the
default schedules fail, schedule="none" passes), "import" (both fail: the ONNX importer, TVM's
lowering or a reference-side difference), "schedule-crash" / "import-crash" for compile errors.
Failures matching a documented issue (KNOWN, docs/difftest.md) are counted apart as "known:NAME".
The exit status is 1 when any failure is unexplained.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx

from edgec.models.random_graphs import (GenOptions, op_histogram, ort_run, random_inputs, random_model,
                                        reduce_model)

FP32_RTOL_L2 = 1e-4  # edgec's stated tolerance (edgec verify)
# int8 QDQ: edgec and ORT evaluate the same QDQ graph, but a value within rounding error of a
# quantization step boundary rounds one step apart, and edgec drops fake-quant pairs no int8
# kernel reads (their rounding goes with them, compiler/int8/qdq.py). A case passes when
# rel-L2 <= INT8_RTOL_L2, or when the largest error is at most INT8_LSBS steps of the coarsest
# activation quantizer in the model (a one-step flip in a one-element output is rel-L2 0.06; a
# LayerNorm after a Softmax amplifies flips to ~1e-2). A wrong kernel or a lost saturation is tens
# of steps off and rel-L2 >= 0.3 (docs/difftest.md).
INT8_RTOL_L2 = 5e-2
INT8_LSBS = 4


def activation_lsb(model: onnx.ModelProto) -> float:
    """The largest scale of a DequantizeLinear that reads an activation (not a weight). A scale of
    exactly 1.0 is ORT's placeholder for a tensor calibrated to the range [0, 0] (a Relu that is
    always 0): it is no step size of the model's values, and counting it would let 4 "steps" of
    1.0 hide any error (int8 seed 10044 passed at rel-L2 0.74 that way)."""
    inits = {t.name: t for t in model.graph.initializer}
    scales = [float(np.max(onnx.numpy_helper.to_array(inits[n.input[1]]))) for n in model.graph.node
              if n.op_type == "DequantizeLinear" and n.input[0] not in inits and n.input[1] in inits]
    return max((s for s in scales if s != 1.0), default=0.0)


@dataclass(frozen=True)
class Known:
    """A failure understood and documented (docs/difftest.md): counted apart, not a finding."""

    name: str
    why: str
    matches: object  # (model, Outcome) -> bool


def _has_op(model: onnx.ModelProto, op: str, **attrs) -> bool:
    for n in model.graph.node:
        if n.op_type == op and all(any(a.name == k and onnx.helper.get_attribute_value(a) == v for a in n.attribute)
                                   for k, v in attrs.items()):
            return True
    return False


KNOWN = [
    Known("tvm-resize-align-corners-unit-axis",
          "TVM's Resize lowering with coordinate_transformation_mode=align_corners divides by (size - 1); "
          "a size-1 input or output axis stops the build with 'Divide by zero' (loud, never a wrong answer)",
          lambda m, o: o.status == "compile_error" and _has_op(m, "Resize", coordinate_transformation_mode=b"align_corners")
          and ("Divide by zero" in o.error  # edgec refuses it clearly since 773df85 (fp32 seeds 42416, 43083, 43658)
               or ("UnsupportedOperatorError" in o.error and "Resize" in o.error))),
    Known("ort-quantizer-gemm-2d-bias",
          "ONNX Runtime's quantize_static (which edgec's int8 quantizer drives) assumes a 1-D Gemm bias: "
          "a C of shape [M, N] or [M, 1] fails in _adjust_weight_scale_for_int32_bias ('truth value of "
          "an array ... is ambiguous', 'cannot reshape array', 'index 1 is out of bounds'); the float model "
          "compiles and verifies",
          lambda m, o: o.status == "quantize_error"
          and any(t in o.error for t in ("truth value of an array", "cannot reshape array", "out of bounds for axis"))
          and any(n.op_type == "Gemm" and len(n.input) > 2 and _dims(m, n.input[2]) == 2 for n in m.graph.node)),
    Known("tvm-resize-scales-truncated",
          "TVM's ONNX importer turns Resize scales into sizes floor(scale * dim) and then maps "
          "coordinates with the size ratio; ONNX (and ORT, and onnx.reference) use 1/scale. They differ "
          "whenever scale * dim is not an integer (23 * 0.5 -> 11: ratio 2.09 instead of 2). Since commit "
          "773df85 edgec refuses a linear/cubic Resize of that kind with a clear UnsupportedOperatorError; "
          "nearest still differs silently",
          lambda m, o: _resize_scale_truncates(m) and (
              o.status == "mismatch"
              or (o.status == "compile_error" and "UnsupportedOperatorError" in o.error and "Resize" in o.error))),
    Known("tvm-maxpool-same-lower-floor",
          "TVM's ONNX importer sizes a MaxPool with auto_pad=SAME_LOWER as floor(in / stride) instead of "
          "ceil(in / stride) (onnx_frontend.Pool): with in % stride != 0 the output is one row/column short. "
          "Usually loud (output shape differs, or a Reshape fails); silent where a global pool or reduction "
          "absorbs the shape. Workaround: explicit pads",
          lambda m, o: o.status != "ok" and _maxpool_same_lower_uneven(m)),
]


def _shaped_nodes(model: onnx.ModelProto) -> tuple[dict, list] | None:
    """(every value's shape, [(node, its attributes)]), or None where shape inference fails."""
    from edgec.models.random_graphs import _shapes

    try:
        shapes = _shapes(model)
    except Exception:  # noqa: BLE001
        return None
    return shapes, [(n, {x.name: onnx.helper.get_attribute_value(x) for x in n.attribute}) for n in model.graph.node]


def _maxpool_same_lower_uneven(model: onnx.ModelProto) -> bool:
    shaped = _shaped_nodes(model)
    if shaped is None:
        return False
    shapes, nodes = shaped
    for n, a in nodes:
        if n.op_type == "MaxPool" and a.get("auto_pad") == b"SAME_LOWER" and n.input[0] in shapes:
            dims = shapes[n.input[0]][2:]
            strides = a.get("strides", [1] * len(dims))
            if any(d % s for d, s in zip(dims, strides)):
                return True
    return False


def _resize_scale_truncates(model: onnx.ModelProto) -> bool:
    from edgec.models.random_graphs import _shapes

    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    try:
        shapes = _shapes(model)
    except Exception:  # noqa: BLE001
        return False
    for n in model.graph.node:
        if n.op_type == "Resize" and len(n.input) > 2 and n.input[2] in inits and n.input[0] in shapes:
            prod = np.asarray(shapes[n.input[0]], dtype=np.float64) * inits[n.input[2]].astype(np.float64)
            if np.any(np.abs(prod - np.round(prod)) > 1e-6):
                return True
    return False


def _dims(model: onnx.ModelProto, name: str) -> int:
    return next((len(t.dims) for t in model.graph.initializer if t.name == name), -1)


# Arbitration rather than a pattern: an "import" mismatch (stock TVM agrees with edgec) where
# edgec matches onnx.reference, the ONNX spec's own implementation, and ORT does not.
ORT_DIFFERS = Known("ort-differs-from-onnx-reference",
                    "ONNX Runtime disagrees with onnx.reference (the spec's implementation) and edgec agrees "
                    "with onnx.reference: e.g. a nearest Resize whose source coordinate is exactly an integer, "
                    "which ORT computes in float32 and floors one below (pytorch_half_pixel 14 -> 2: "
                    "ORT picks row 2, the spec row 3)",
                    lambda m, o: False)


def agrees_with_onnx_reference(model: onnx.ModelProto, feeds: dict, got: dict, tol: float) -> bool:
    """edgec's outputs ``got`` match onnx.reference's within ``tol`` (rel-L2), while ORT's did not."""
    try:
        from onnx.reference import ReferenceEvaluator

        names = [o.name for o in model.graph.output]
        ref = dict(zip(names, ReferenceEvaluator(model).run(None, feeds)))
        rel, _ = _rel_l2(got, ref)
    except Exception:  # noqa: BLE001 - onnx.reference lacks an op or is slow: no arbitration then
        return False
    return bool(rel <= tol)


# An output whose reference is exactly zero has no relative error: rel-L2 divides by its norm.
# A LayerNormalization over a row of equal values (variance exactly 0) gives 0 in ORT and
# onnx.reference; edgec's float32 mean of the row can be an ulp off the value, and 1/sqrt(eps)
# (1000 at eps = 1e-6) turns that into ~1e-7 (fp32 seed 45073: 1.7e-7 against 0, rel-L2 4e23).
ZERO_REF_ABS = 1e-5
ZERO_REFERENCE = Known("zero-reference-rounding",
                       "the reference output is exactly zero and edgec's differs from it by float32 rounding "
                       f"(max |x| <= {ZERO_REF_ABS}); every other output matches at the tolerance",
                       lambda model, outcome: False)


def zero_reference_explains(model: onnx.ModelProto, feeds: dict, got: dict, tol: float) -> bool:
    """Every output of ``got`` either matches ORT at ``tol`` or is within ZERO_REF_ABS of an
    all-zero ORT output, and at least one is the latter."""
    from edgec.verification import compare

    ref = ort_run(model, feeds)
    zero_ref = False
    for e in compare(got, ref):
        if e.rel_l2_error <= tol:
            continue
        if np.any(ref[e.name] != 0) or not e.max_abs_error <= ZERO_REF_ABS:
            return False
        zero_ref = True
    return zero_ref


# Arbitration for int8: edgec drops the fake-quant pairs no int8 kernel reads
# (compiler/int8/qdq.py), and with them their rounding, by design. A LayerNormalization (or any
# op that divides by a spread) after such a pair turns ORT's half-step rounding into a large error
# when a normalized row is nearly flat (host int8 seeds 30817, 30903: rel-L2 0.096 and 0.14).
DROPPED_ROUNDING = Known("edgec-int8-dropped-fake-quant",
                         "edgec drops the Q/DQ pairs no int8 kernel reads (compiler/int8/qdq.py) and so "
                         "skips their rounding; ORT rounds. Counted only when edgec with every pair kept "
                         "matches ORT and stock TVM lowering with the same pairs dropped matches edgec",
                         lambda m, o: False)


@contextlib.contextmanager
def _fake_quant(mode: str):
    """Compile under a changed fake-quant policy, for DROPPED_ROUNDING's two checks. "keep": the
    default pipeline keeps every Q/DQ pair (int8 kernels and schedules unchanged). "drop": the
    stock lowering (schedule="none") drops the pairs the default pipeline drops, so the two differ
    in their kernels and schedules only. Patches edgec's driver for the duration (restored after)."""
    import edgec.compiler.driver as drv
    import edgec.compiler.int8.rewrite as rw

    saved = drv._lower_int8, rw.drop_unused_qdq
    if mode == "keep":
        rw.drop_unused_qdq = lambda mod, stats=None, keep_before=(): mod
    else:
        def lower(mod, tgt, schedule, speed_guard, drop_fake_quant):
            if schedule != "none":
                return saved[0](mod, tgt, schedule, speed_guard, drop_fake_quant)
            from edgec.compiler.int8 import Int8Stats, dot_isa
            from edgec.compiler.int8.qdq import KEEP_BEFORE
            from edgec.compiler.tvm_target import to_tvm

            if dot_isa(to_tvm(tgt)) is None:  # the default pipeline drops nothing there either
                return None
            stats = Int8Stats()
            return saved[1](mod, stats, () if drop_fake_quant else KEEP_BEFORE), stats
        drv._lower_int8 = lower
    try:
        yield
    finally:
        drv._lower_int8, rw.drop_unused_qdq = saved


def dropped_rounding_explains(model: onnx.ModelProto, feeds: dict, tol: float, got: dict, target: str = "host",
                              lsb: float = 0.0) -> bool:
    """An int8 "schedule" mismatch is DROPPED_ROUNDING when both hold: (1) edgec with every
    fake-quant pair kept matches ORT, and (2) edgec's own outputs ``got`` match stock TVM
    lowering with the same pairs dropped. (1) alone could hide a schedule bug that only shows
    without the pairs; (2) alone could hide a wrong drop decision."""
    try:
        with _fake_quant("keep"):
            if check(model, feeds, tol, target=target, lsb=lsb).status != "ok":
                return False
        with _fake_quant("drop"):
            return check(model, feeds, tol, schedule="none", target=target, ref=got, lsb=lsb).status == "ok"
    except Exception:  # noqa: BLE001 - the driver changed under the patch: no arbitration then
        return False


# Arbitration for a mismatch of either class: a nearest Resize whose
# exact source coordinate sits on a rounding boundary for some output row.
RESIZE_TIE = Known("tvm-resize-nearest-tie-float32",
                   "TVM's Resize lowering computes a nearest source coordinate in float32 as "
                   "(i + 0.5) * (in / out) - 0.5; on an exact tie of the rounding (x.5 for round_prefer_floor/ceil, "
                   "an integer for floor/ceil) the float result can land one ulp off and pick the neighbouring "
                   "row: 22 -> 39 rows, half_pixel, output row 19 is source 10.5 exactly, TVM gets 10.500001 "
                   "and row 11, ORT and onnx.reference row 10 (fp32 seed 42814). With edgec's schedules the "
                   "multiply-add may be fused: 7.5 * (8/15) - 0.5 is 3.5 in float32 but 3.5000002 fused "
                   "(seed 43742, 'schedule' class). Counted only when the other tie-break makes edgec match ORT",
                   lambda m, o: False)


def _resize_nearest_tie(model: onnx.ModelProto) -> bool:
    """A nearest Resize of ``model`` maps some output index to a source coordinate that is, in exact
    arithmetic, a rounding boundary of its nearest_mode (where a float32 coordinate may round
    either way). Scales are taken as given (float32), sizes as the ratio out / in."""
    from fractions import Fraction

    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    shaped = _shaped_nodes(model)
    if shaped is None:
        return False
    shapes, nodes = shaped
    for n, a in nodes:
        if n.op_type != "Resize" or a.get("mode", b"nearest") != b"nearest" or n.output[0] not in shapes:
            continue
        ctm = a.get("coordinate_transformation_mode", b"half_pixel").decode()
        nm = a.get("nearest_mode", b"round_prefer_floor").decode()
        ins, outs = shapes.get(n.input[0]), shapes[n.output[0]]
        scales = inits.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
        if ins is None:
            continue
        for ax, (d_in, d_out) in enumerate(zip(ins, outs)):
            if d_in == d_out:
                continue
            scale = (Fraction(float(scales[ax])) if scales is not None and scales.size == len(ins)
                     else Fraction(d_out, d_in))
            for i in range(d_out):
                if ctm in ("half_pixel", "pytorch_half_pixel"):
                    x = (i + Fraction(1, 2)) / scale - Fraction(1, 2) if d_out > 1 or ctm == "half_pixel" else None
                elif ctm == "asymmetric":
                    x = i / scale
                elif ctm == "align_corners":
                    x = Fraction(i * (d_in - 1), d_out - 1) if d_out > 1 else None
                else:
                    x = None
                if x is None:
                    continue
                frac = x - (x.numerator // x.denominator)
                if (nm.startswith("round_prefer") and frac == Fraction(1, 2)) or (nm in ("floor", "ceil") and frac == 0 and x > 0):
                    return True
    return False


def resize_tie_explains(model: onnx.ModelProto, feeds: dict, tol: float, target: str = "host") -> bool:
    """The mismatch is the tie: with the other tie-break on the tied Resize nodes (round_prefer_floor
    <-> round_prefer_ceil; floor/ceil -> round_prefer_floor, robust at an integer coordinate),
    edgec matches ORT for one of them. The rest of the graph is unchanged, so a bug elsewhere still
    fails. Needed for both classes: edgec's schedules contract the coordinate's multiply-add into an
    FMA (fp32 seed 43742: 7.5 * (8/15) - 0.5 is 3.5 in float32, 3.5000002 with an FMA, row 4 not 3)."""
    variants = {"round_prefer_floor": "round_prefer_ceil", "round_prefer_ceil": "round_prefer_floor",
                "floor": "round_prefer_floor", "ceil": "round_prefer_ceil"}
    for flip in (True, False):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        changed = False
        for n in m.graph.node:
            if n.op_type != "Resize":
                continue
            a = next((x for x in n.attribute if x.name == "nearest_mode"), None)
            cur = a.s.decode() if a is not None else "round_prefer_floor"
            new = variants.get(cur, cur) if flip else ("round_prefer_floor" if cur in ("floor", "ceil") else cur)
            changed |= new != cur
            if a is None:
                n.attribute.append(onnx.helper.make_attribute("nearest_mode", new))
            else:
                a.s = new.encode()
        if not changed:
            continue
        try:
            if check(m, feeds, tol, target=target).status == "ok":
                return True
        except Exception:  # noqa: BLE001
            continue
    return False


def known_issue(model: onnx.ModelProto, outcome: "Outcome") -> Known | None:
    return next((k for k in KNOWN if k.matches(model, outcome)), None)


FAMILIES = {  # operator families for the per-family table (docs/difftest.md)
    "conv": ("Conv",), "convtranspose": ("ConvTranspose",), "matmul/gemm": ("MatMul", "Gemm"),
    "pooling": ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"), "resize": ("Resize",),
    "concat/split/slice": ("Concat", "Split", "Slice"), "pad": ("Pad",),
    "reductions": ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceL2"),
    "normalization": ("BatchNormalization", "LayerNormalization", "Softmax"),
    "activations": ("Relu", "PRelu", "LeakyRelu", "HardSwish", "HardSigmoid", "Sigmoid", "Clip", "Tanh", "Elu",
                    "Softplus", "Abs", "Erf"),
    "layout": ("Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "DepthToSpace", "SpaceToDepth"),
    "binary (broadcast)": ("Add", "Mul", "Sub", "Div", "Max", "Min"),
}


def families(ops: dict) -> list[str]:
    """The FAMILIES a model's operator histogram touches."""
    return [f for f, members in FAMILIES.items() if any(ops.get(op) for op in members)]


@dataclass
class Outcome:
    status: str  # ok | mismatch | compile_error | run_error | quantize_error
    rel_l2: float = 0.0
    max_abs: float = 0.0
    error: str = ""
    compile_s: float = 0.0


@dataclass
class Case:
    seed: int
    mode: str  # fp32 | int8
    nodes: int
    ops: dict
    outcome: Outcome
    klass: str = ""  # for failures: schedule | import | schedule-crash | import-crash
    reduced_nodes: int | None = None
    saved: str = ""
    seconds: float = 0.0


@dataclass
class Summary:
    mode: str
    seeds: list = field(default_factory=list)
    cases: int = 0
    statuses: dict = field(default_factory=dict)
    classes: dict = field(default_factory=dict)  # unexplained failures by class
    known: dict = field(default_factory=dict)  # documented failures (KNOWN) by name
    op_counts: dict = field(default_factory=dict)
    families: dict = field(default_factory=dict)  # family -> {"models", "ok", "known", "unexplained"}
    failures: list = field(default_factory=list)
    worst_ok_rel_l2: float = 0.0
    seconds: float = 0.0


def _rel_l2(got: dict, ref: dict) -> tuple[float, float]:
    from edgec.verification import compare

    errs = compare(got, ref)
    return max(e.rel_l2_error for e in errs), max(e.max_abs_error for e in errs)


def compile_edgec(model: onnx.ModelProto, out: Path, schedule: str = "default", target: str = "host"):
    import edgec

    with contextlib.redirect_stdout(sys.stderr):  # TVM's importer prints its errors: keep --json clean
        return edgec.compile(model, target=target, out=out, schedule=schedule, speed_guard=False)


def run_artifact(art, feeds: dict, target: str = "host") -> dict:
    """Run on this machine; an artifact for another architecture (--target rpi5) under qemu."""
    import edgec
    from edgec.errors import ArtifactError

    if target != "host":
        try:
            return edgec.load(art.path).run(feeds)
        except ArtifactError:  # foreign code: edgec refuses to load it here
            from edgec.runners import run_emulated

            return run_emulated(art, feeds)
    return edgec.load(art.path).run(feeds)


def _gist(error: str) -> str:
    """An error message without its numbers (shapes, indices), to compare two failures."""
    import re

    return re.sub(r"\d+", "N", error)[:120]


def _msg(e: Exception) -> str:
    """The error's last line; for TVM's "... Offending call: <op>" form, the message and the op
    (the last line there is only "# Metadata omitted")."""
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip() and not ln.startswith("# Metadata")]
    if "Offending call:" in lines and 0 < lines.index("Offending call:") < len(lines) - 1:
        i = lines.index("Offending call:")
        return f"{type(e).__name__}: {lines[i - 1][:200]} | {lines[i + 1][:100]}"
    return f"{type(e).__name__}: {lines[-1][:300] if lines else ''}"


def check(model: onnx.ModelProto, feeds: dict, tol: float, schedule: str = "default", target: str = "host",
          ref: dict | None = None, lsb: float = 0.0) -> Outcome:
    """Compile with edgec, run, compare with ONNX Runtime (``ref``, computed if None). Passes at
    rel-L2 <= ``tol``, or (int8) max-abs <= INT8_LSBS * ``lsb``."""
    ref = ref if ref is not None else ort_run(model, feeds)
    with tempfile.TemporaryDirectory(prefix="edgec-difftest-") as d:
        t0 = time.perf_counter()
        try:
            art = compile_edgec(model, Path(d) / "a", schedule, target)
        except Exception as e:  # noqa: BLE001 - every failure is a finding
            return Outcome("compile_error", error=_msg(e))
        dt = time.perf_counter() - t0
        try:
            got = run_artifact(art, feeds, target)
            rel, mx = _rel_l2(got, ref)
        except Exception as e:  # noqa: BLE001 - e.g. a wrong output shape
            return Outcome("run_error", error=_msg(e), compile_s=dt)
    if not np.isfinite(rel) or (rel > tol and not mx <= INT8_LSBS * lsb):
        out = Outcome("mismatch", rel, mx, compile_s=dt)
        out.got = got  # not a field: kept for arbitration, never serialized
        return out
    return Outcome("ok", rel, mx, compile_s=dt)


def classify(model: onnx.ModelProto, feeds: dict, tol: float, first: Outcome, target: str, lsb: float = 0.0) -> str:
    none = check(model, feeds, tol, schedule="none", target=target, lsb=lsb)
    crash = first.status != "mismatch"
    if none.status == "ok":
        return "schedule-crash" if crash else "schedule"
    return "import-crash" if crash else "import"


def quantize(model: onnx.ModelProto, seed: int) -> onnx.ModelProto:
    """QDQ int8 with edgec's quantizer (static, minmax, per-channel). The calibration set holds the
    test input itself (plus three more), so no activation of the test run leaves its calibrated
    range: edgec drops fake-quant pairs no int8 kernel reads (compiler/int8/qdq.py), which drops
    their saturation too, and an out-of-range value would then differ by far more than an LSB by
    design, not by a bug."""
    from edgec.optimize import quantize_model

    calib = [random_inputs(model, seed)] + [random_inputs(model, seed * 31 + k + 1) for k in range(3)]
    return quantize_model(model, "int8", calib=calib).model


def run_case(seed: int, int8: bool = False, target: str = "host", save: Path | None = None,
             reduce: bool = True, opts: GenOptions = GenOptions(), log=print, reduce_seconds: float = 300) -> Case:
    t0 = time.perf_counter()
    model = random_model(seed, opts)
    mode = "int8" if int8 else "fp32"
    tol = INT8_RTOL_L2 if int8 else FP32_RTOL_L2
    if int8:
        try:
            model = quantize(model, seed)
        except Exception as e:  # noqa: BLE001 - the quantizer failing is a finding too
            out = Outcome("quantize_error", error=_msg(e))
            known = known_issue(model, out)
            return Case(seed, mode, len(model.graph.node), op_histogram(model), out,
                        f"known:{known.name}" if known else "quantizer", seconds=time.perf_counter() - t0)
    feeds = random_inputs(model, seed)
    lsb = activation_lsb(model) if int8 else 0.0
    out = check(model, feeds, tol, target=target, lsb=lsb)
    case = Case(seed, mode, len(model.graph.node), op_histogram(model), out)
    if out.status != "ok":
        known = known_issue(model, out)
        if known is not None:
            case.klass = f"known:{known.name}"
            case.seconds = time.perf_counter() - t0
            return case
        case.klass = classify(model, feeds, tol, out, target, lsb)
        if case.klass == "import" and agrees_with_onnx_reference(model, feeds, out.got, tol):
            case.klass = f"known:{ORT_DIFFERS.name}"
            case.seconds = time.perf_counter() - t0
            return case
        if out.status == "mismatch" and zero_reference_explains(model, feeds, out.got, tol):
            case.klass = f"known:{ZERO_REFERENCE.name}"
            case.seconds = time.perf_counter() - t0
            return case
        if out.status == "mismatch" and _resize_nearest_tie(model) and resize_tie_explains(model, feeds, tol, target):
            case.klass = f"known:{RESIZE_TIE.name}"
            case.seconds = time.perf_counter() - t0
            return case
        if int8 and case.klass == "schedule" and dropped_rounding_explains(model, feeds, tol, out.got, target, lsb):
            case.klass = f"known:{DROPPED_ROUNDING.name}"
            case.seconds = time.perf_counter() - t0
            return case
        reduced = model
        if reduce:
            def still_fails(m: onnx.ModelProto) -> bool:
                f = random_inputs(m, seed)
                m_lsb = activation_lsb(m) if int8 else 0.0
                o = check(m, f, tol, target=target, lsb=m_lsb)
                if o.status != out.status or _gist(o.error) != _gist(out.error):
                    return False  # a crash must stay the same crash, not turn into another one
                return classify(m, f, tol, o, target, m_lsb) == case.klass

            try:
                reduced = reduce_model(model, still_fails, log=lambda s: log(f"    {s}"), max_seconds=reduce_seconds)
            except Exception:  # noqa: BLE001 - keep the unreduced model then
                log("    reduction failed: " + traceback.format_exc().strip().splitlines()[-1])
        case.reduced_nodes = len(reduced.graph.node)
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)
            stem = f"{mode}-seed{seed}-{case.klass}"
            onnx.save(model, save / f"{stem}.orig.onnx")
            onnx.save(reduced, save / f"{stem}.onnx")
            (save / f"{stem}.json").write_text(json.dumps(asdict(case), indent=1, default=str))
            case.saved = str(save / f"{stem}.onnx")
    case.seconds = time.perf_counter() - t0
    return case


def run(seeds, int8: bool = False, minutes: float | None = None, target: str = "host", save: Path | None = None,
        reduce: bool = True, opts: GenOptions = GenOptions(), quiet: bool = False) -> Summary:
    log = (lambda *a, **k: None) if quiet else (lambda *a, **k: print(*a, **k, file=sys.stderr, flush=True))
    summary = Summary("int8" if int8 else "fp32")
    t0 = time.perf_counter()
    for seed in seeds:
        if minutes is not None and time.perf_counter() - t0 > minutes * 60:
            break
        try:
            case = run_case(seed, int8, target, save, reduce, opts, log)
        except Exception as e:  # noqa: BLE001 - a generator failure: report, go on
            log(f"seed {seed}: generator/harness error {type(e).__name__}: {e}")
            summary.statuses["harness_error"] = summary.statuses.get("harness_error", 0) + 1
            continue
        summary.cases += 1
        summary.seeds.append(seed)
        o = case.outcome
        summary.statuses[o.status] = summary.statuses.get(o.status, 0) + 1
        for k, v in case.ops.items():
            summary.op_counts[k] = summary.op_counts.get(k, 0) + v
        verdict = "ok" if o.status == "ok" else ("known" if case.klass.startswith("known:") else "unexplained")
        for fam in families(case.ops):
            row = summary.families.setdefault(fam, {"models": 0, "ok": 0, "known": 0, "unexplained": 0})
            row["models"] += 1
            row[verdict] += 1
        if o.status == "ok":
            summary.worst_ok_rel_l2 = max(summary.worst_ok_rel_l2, o.rel_l2)
        elif case.klass.startswith("known:"):
            summary.known[case.klass] = summary.known.get(case.klass, 0) + 1
        else:
            summary.classes[case.klass] = summary.classes.get(case.klass, 0) + 1
            summary.failures.append(asdict(case))
        log(f"[{summary.cases:5d}] seed {seed:7d} {case.mode} {case.nodes:3d} nodes  {o.status:13s} "
            f"rel-L2 {o.rel_l2:.1e}  {case.seconds:5.1f}s" + (f"  -> {case.klass} ({case.reduced_nodes} nodes) {o.error}"
                                                             if o.status != "ok" else ""))
    summary.seconds = round(time.perf_counter() - t0, 1)
    summary.seeds = [summary.seeds[0], summary.seeds[-1]] if summary.seeds else []
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0, help="first seed (cases use seed, seed+1, ...)")
    p.add_argument("--count", type=int, default=None, help="number of cases (default 100 unless --minutes)")
    p.add_argument("--minutes", type=float, default=None, help="stop starting new cases after this long")
    p.add_argument("--int8", action="store_true", help="quantize each model to QDQ int8 first")
    p.add_argument("--target", default="host", help="edgec target (a cross target runs under qemu)")
    p.add_argument("--save", type=Path, default=None, help="folder for failing models (reduced + original)")
    p.add_argument("--no-reduce", action="store_true", help="save failures unreduced")
    p.add_argument("--max-ops", type=int, default=GenOptions.max_ops)
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    a = p.parse_args(argv)
    count = a.count if a.count is not None else (10**9 if a.minutes else 100)
    opts = GenOptions(max_ops=a.max_ops)
    s = run(range(a.seed, a.seed + count), a.int8, a.minutes, a.target, a.save, not a.no_reduce, opts)
    if a.json:
        print(json.dumps(asdict(s), indent=1, default=str))
    else:
        print(f"{s.mode}: {s.cases} models in {s.seconds:.0f}s (seeds {s.seeds}): {s.statuses}; "
              f"unexplained failures by class {s.classes or '{}'}; known {s.known or '{}'}; "
              f"worst passing rel-L2 {s.worst_ok_rel_l2:.1e}")
        for f in s.failures:
            print(f"  seed {f['seed']}: {f['outcome']['status']} {f['klass']} rel-L2 {f['outcome']['rel_l2']:.2e} "
                  f"{f['outcome']['error']} {f['saved']}")
    return 1 if unexplained(s) else 0


def unexplained(s: Summary) -> int:
    """Failures that are neither fixed nor documented: the number that must stay 0."""
    return sum(s.classes.values()) + s.statuses.get("harness_error", 0)


if __name__ == "__main__":
    sys.exit(main())
