"""verify(): run an artifact and the reference runtime on the same inputs and compare.

Errors reported: max-abs and relative-L2 (||a-r|| / ||r||), worst over outputs. The default
tolerance is relative-L2 <= 1e-4, which fp32 TVM code meets on the zoo models (different
summation order only); max-abs is reported, not gated, because its scale depends on the model.
Quantized models get QDQ_RTOL_L2 (see there).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgec.errors import ArtifactError
from edgec.reference import reference_for
from edgec.runtime.artifact import Artifact
from edgec.runtime.manifest import TensorSpec

DEFAULT_RTOL_L2 = 1e-4
# A quantized (QDQ) model: ONNX Runtime and edgec run different integer pipelines. They round at
# different points (ORT requantizes conv outputs, edgec fuses the chain and drops fake-quant pairs
# no int8 kernel reads), a value near a rounding boundary lands one step apart, and the step
# propagates. Measured on random inputs: digits 3e-7, ppocr-cls 0.16, ppocr-rec 0.21; on real
# text lines rec is as far from ORT's int8 as ORT's own float model is (0.35). A wrong kernel
# gives >= 1. Task accuracy (tools/quant_eval.py) is the real int8 check.
QDQ_RTOL_L2 = 0.5


@dataclass
class OutputError:
    name: str
    max_abs_error: float
    rel_l2_error: float


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
    return random_inputs(art.manifest.inputs, {k: tuple(v) for k, v in opts.get("input_ranges", {}).items()},
                         seed, opts.get("input_samples", {}))


def compare(got: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> list[OutputError]:
    errs = []
    for name, r in ref.items():
        a = np.asarray(got[name], dtype=np.float64)
        r = np.asarray(r, dtype=np.float64)
        if a.shape != r.shape:
            raise ArtifactError(f"output '{name}' has shape {a.shape}, the reference gives {r.shape}")
        diff = a - r
        denom = max(np.linalg.norm(r), 1e-30)
        errs.append(OutputError(name, float(np.abs(diff).max(initial=0.0)), float(np.linalg.norm(diff) / denom)))
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
        data = Path(model).read_bytes()
    import hashlib

    if hashlib.sha256(data).hexdigest() != src.get("sha256"):
        raise ArtifactError("the given model is not the one this artifact was compiled from (sha256 differs)")
    return src["format"], data


def default_tolerance(art: Artifact) -> float:
    return QDQ_RTOL_L2 if art.manifest.compile_options.get("qdq") else DEFAULT_RTOL_L2


def verify(artifact: "str | Path | Artifact", model=None, inputs: dict | None = None, seed: int = 0,
           tolerance: float | None = None, emulate: bool = False) -> VerifyResult:
    """Compare ``artifact`` with the reference runtime on ``inputs`` (random in range if None).
    ``tolerance`` defaults to 1e-4 relative-L2, QDQ_RTOL_L2 for quantized models."""
    art = artifact if isinstance(artifact, Artifact) else Artifact.open(artifact)
    tolerance = default_tolerance(art) if tolerance is None else tolerance
    fmt, data = _source_bytes(art, model)
    feeds = inputs if inputs is not None else default_inputs(art, seed)
    ref = reference_for(fmt, data)
    expected = ref.run(feeds)
    got, ran_on = _run_artifact(art, feeds, emulate)
    errs = compare(got, expected)
    worst_l2 = max(e.rel_l2_error for e in errs)
    return VerifyResult(str(art.path), ref.name, ran_on, tolerance, max(e.max_abs_error for e in errs), worst_l2,
                        bool(worst_l2 <= tolerance), errs)


def _run_artifact(art: Artifact, feeds: dict, emulate: bool) -> tuple[dict, str]:
    if art.manifest.target.get("is_cross") or emulate:
        from edgec.runtime.emulate import run_emulated

        return run_emulated(art, feeds), f"emulated ({art.manifest.target.get('emulator', {}).get('command', '?')})"
    return art.load().run(feeds), "host"
