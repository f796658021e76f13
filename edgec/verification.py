"""verify(): run an artifact and the reference runtime on the same inputs and compare.

Errors reported: max-abs and relative-L2 (||a-r|| / ||r||) per output, worst over outputs. The
default tolerance is relative-L2 <= 1e-4, which fp32 TVM code meets on the zoo models (different
summation order only); max-abs is reported, not gated, because its scale depends on the model.
Quantized (QDQ) models are compared with the host-independent reference (edgec.reference.
ort_session: QDQ run as float) and gated per output by what quantization allows: an output that
is itself quantized (comes out of a DequantizeLinear) by max-abs <= QDQ_LSBS steps of its scale,
any other output by relative-L2 <= QDQ_RTOL_L2 (see there). A ``tolerance`` the caller gives is
a relative-L2 bound for every output.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgec.errors import ArtifactError
from edgec.reference import quantized_output_scales, reference_for
from edgec.runtime.artifact import Artifact
from edgec.runtime.manifest import TensorSpec

DEFAULT_RTOL_L2 = 1e-4
# Quantized outputs (DequantizeLinear at the end): the reference's values lie on the output's
# grid (k * scale). edgec skips that last fake-quant when no int8 kernel reads it (<= 1/2 step),
# its integer kernels sum in another order than the reference's float conv (a value at a rounding
# boundary lands one step apart), and such one-step differences upstream move the output by
# fractions of a step each. Measured (rpi5 sdot kernels under qemu, tests/compiler/test_int8.py
# _qdq_cnn, 40 random inputs): median 1.0, max 1.96 steps. ORT's saturating AVX2 int8 kernels on
# the same model are 11 steps off; a wrong scale or zero point, more. So 4 steps.
QDQ_LSBS = 4.0
# Other outputs of a quantized model (after a float Softmax, Sigmoid, ...): no grid to count in.
# edgec's int8 pipeline rounds where the QDQ model does except for fake-quant pairs it drops
# (no int8 kernel reads them; --drop-fake-quant drops more), and a value at a rounding boundary
# lands a step apart and propagates through every later layer: edgec's result is another sample
# of the model's quantization noise around the float result, not the reference's sample. The
# bound is that noise: relative-L2 of int8 vs float on real inputs is up to 0.35 (PP-OCR rec on
# text lines), so two independent samples differ by up to ~0.5; a wrong kernel gives >= 1.
# Task accuracy vs the float model (tools/quant_eval.py) is the real int8 check.
QDQ_RTOL_L2 = 0.5


@dataclass
class OutputError:
    name: str
    max_abs_error: float
    rel_l2_error: float
    tolerance_max_abs: float | None = None  # set for a quantized output: QDQ_LSBS x its scale
    tolerance_rel_l2: float | None = None  # otherwise
    passed: bool = True
    nonfinite_mismatches: int = 0  # positions where NaN / +inf / -inf differ: must be none

    def gate(self, rel_l2: float, max_abs: float | None = None) -> "OutputError":
        """Apply the tolerance (max-abs when given, else relative-L2) to the finite values; NaN and
        inf must sit at exactly the reference's positions."""
        self.tolerance_max_abs, self.tolerance_rel_l2 = max_abs, None if max_abs is not None else rel_l2
        close = self.max_abs_error <= max_abs if max_abs is not None else self.rel_l2_error <= rel_l2
        self.passed = bool(close and self.nonfinite_mismatches == 0)
        return self


@dataclass
class VerifyResult:
    artifact: str
    reference: str
    ran_on: str
    tolerance_rel_l2: float
    max_abs_error: float
    rel_l2_error: float
    passed: bool
    outputs: list[OutputError] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def random_inputs(specs: list[TensorSpec], ranges: dict | None = None, seed: int = 0,
                  samples: dict | None = None) -> dict[str, np.ndarray]:
    """Uniform random inputs in each input's range (from the zoo entry; [-1, 1] otherwise), or a
    named synthetic sample (edgec.models.samples) where the zoo entry asks for one."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for s in specs:
        if (samples or {}).get(s.name):
            from edgec.models.samples import SAMPLES

            if samples[s.name] not in SAMPLES:
                raise ArtifactError(f"input '{s.name}' asks for sample {samples[s.name]!r}, which this edgec does not "
                                    f"have (known: {sorted(SAMPLES)})", hint="pass --inputs")
            feeds[s.name] = SAMPLES[samples[s.name]](s.shape, seed=seed).astype(s.dtype)
            continue
        lo, hi = (ranges or {}).get(s.name, (-1.0, 1.0))
        if np.issubdtype(np.dtype(s.dtype), np.integer):
            info = np.iinfo(np.dtype(s.dtype))
            feeds[s.name] = rng.integers(max(int(lo), info.min), min(int(hi), info.max) + 1, size=s.shape).astype(s.dtype)
        else:
            feeds[s.name] = rng.uniform(lo, hi, size=s.shape).astype(s.dtype)
    return feeds


def default_inputs(art: Artifact, seed: int = 0) -> dict[str, np.ndarray]:
    """The inputs verify/run/bench use when the user gives none (recorded in the manifest)."""
    opts = art.manifest.compile_options
    try:
        return _default_inputs(art, opts, seed)
    except (ValueError, TypeError, OverflowError, MemoryError) as e:  # ranges/samples that make no inputs
        raise ArtifactError(f"artifact {art.path}: cannot make inputs from its manifest's input ranges or samples "
                            f"({type(e).__name__}: {str(e)[:200]})", hint="pass --inputs") from None


def _default_inputs(art: Artifact, opts: dict, seed: int) -> dict[str, np.ndarray]:
    return random_inputs(art.manifest.inputs, {k: tuple(v) for k, v in opts.get("input_ranges", {}).items()},
                         seed, opts.get("input_samples", {}))


def compare(got: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> list[OutputError]:
    """Errors per reference output: NaN, +inf and -inf positions compared exactly (counted in
    ``nonfinite_mismatches``), max-abs and relative-L2 over the values finite in both."""
    errs = []
    for name, r in ref.items():
        if name not in got:
            raise ArtifactError(f"the artifact gives no output '{name}' (it gives {sorted(got)})")
        a = np.asarray(got[name], dtype=np.float64)
        r = np.asarray(r, dtype=np.float64)
        if a.shape != r.shape:
            raise ArtifactError(f"output '{name}' has shape {a.shape}, the reference gives {r.shape}")
        fa, fr = np.isfinite(a), np.isfinite(r)
        both = fa & fr
        mismatches = 0
        if not (fa.all() and fr.all()):
            mismatches = int(np.count_nonzero((np.isnan(a) != np.isnan(r)) | (np.isposinf(a) != np.isposinf(r))
                                              | (np.isneginf(a) != np.isneginf(r))))
            a, r = a[both], r[both]
        diff = a - r
        denom = max(float(np.linalg.norm(r)), 1e-30)
        errs.append(OutputError(name, float(np.abs(diff).max(initial=0.0)), float(np.linalg.norm(diff) / denom),
                                nonfinite_mismatches=mismatches))
    return errs


def _source_bytes(art: Artifact, model) -> tuple[str, bytes]:
    src = art.manifest.source_model
    if model is None and (art.path / "source.onnx").exists():  # a pruned/quantized model compiled as is
        model = art.path / "source.onnx"
    if model is None:
        from edgec import models

        if src.get("zoo"):
            model = models.fetch(src["zoo"], quiet=True)
        elif src.get("path") and Path(src["path"]).exists():
            model = src["path"]
        else:
            raise ArtifactError("the artifact's source model is not available; pass the model to verify against")
    if hasattr(model, "SerializeToString"):
        data = model.SerializeToString()
    else:
        from edgec.runtime.files import MODEL_LIMIT, read_bytes

        data = read_bytes(model, "model", MODEL_LIMIT)
    import hashlib

    if hashlib.sha256(data).hexdigest() != src.get("sha256"):
        raise ArtifactError("the given model is not the one this artifact was compiled from (sha256 differs)")
    return src["format"], data


def reference_feeds(art: Artifact, fmt: str, data: bytes, feeds: dict) -> dict:
    """The feeds for the reference runtime: the artifact's plus the inputs pinned at compile time
    (--input-value), which the source model still takes."""
    pinned = art.manifest.compile_options.get("input_values") or {}
    if not pinned or fmt != "onnx":
        return feeds
    import onnx

    from edgec.compiler.passes.pin_input_values import coerce_value

    inputs = {vi.name: vi for vi in onnx.load_from_string(data).graph.input}
    return {**feeds, **{k: coerce_value(k, v, inputs[k]) for k, v in pinned.items() if k in inputs}}


def default_tolerance(art: Artifact) -> float:
    """The relative-L2 bound: QDQ_RTOL_L2 for quantized models, DEFAULT_RTOL_L2 otherwise."""
    return QDQ_RTOL_L2 if art.manifest.compile_options.get("qdq") else DEFAULT_RTOL_L2


def output_tolerances(art: Artifact, fmt: str, data: bytes) -> dict[str, float]:
    """{output: max-abs bound} for the quantized outputs of a QDQ ONNX model (QDQ_LSBS steps)."""
    if fmt != "onnx" or not art.manifest.compile_options.get("qdq"):
        return {}
    return {name: QDQ_LSBS * scale for name, scale in quantized_output_scales(data).items()}


def verify(artifact: "str | Path | Artifact", model=None, inputs: dict | None = None, seed: int = 0,
           tolerance: float | None = None, emulate: bool = False) -> VerifyResult:
    """Compare ``artifact`` with the reference runtime on ``inputs`` (random in range if None).
    ``tolerance`` (relative-L2, every output) defaults to 1e-4; for quantized models to
    QDQ_LSBS steps max-abs on quantized outputs and QDQ_RTOL_L2 on the others."""
    art = artifact if isinstance(artifact, Artifact) else Artifact.open(artifact)
    fmt, data = _source_bytes(art, model)
    max_abs = output_tolerances(art, fmt, data) if tolerance is None else {}
    tolerance = default_tolerance(art) if tolerance is None else tolerance
    feeds = inputs if inputs is not None else default_inputs(art, seed)
    if inputs is not None:
        from edgec.runtime.session import check_feeds

        check_feeds(art.manifest.inputs, feeds)  # before the reference sees them
    ref = reference_for(fmt, data)
    expected = ref.run(reference_feeds(art, fmt, data, feeds))
    got, ran_on = _run_artifact(art, feeds, emulate)
    errs = [e.gate(tolerance, max_abs.get(e.name)) for e in compare(got, expected)]
    return VerifyResult(str(art.path), ref.name, ran_on, tolerance, max(e.max_abs_error for e in errs),
                        max(e.rel_l2_error for e in errs), all(e.passed for e in errs), errs)


def _run_artifact(art: Artifact, feeds: dict, emulate: bool) -> tuple[dict, str]:
    from edgec.runners import runner_for

    res = runner_for(art, emulate=emulate).run(feeds)  # emulated for another architecture than this machine's
    return res.outputs, res.where
