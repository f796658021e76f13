"""edgec: compile trained models (ONNX, TFLite) with Apache TVM for edge devices, and run them.

    art = edgec.compile("ppocr-cls", target="host", out="out/")
    sess = edgec.load("out/")
    outputs = sess.run({"x": x})

The compiler (TVM, onnx) is imported only when compiling, so `edgec.load` stays light.
"""
from __future__ import annotations

__version__ = "0.1.0"

from edgec.errors import EdgecError  # noqa: E402

__all__ = ["EdgecError", "__version__", "bench", "compile", "inspect", "load", "models", "package", "prune", "quantize",
           "tune", "verify"]


def compile(model, target="host", out="out", **kwargs):  # noqa: A001 - the verb users expect
    """Compile a model (path, zoo name or onnx.ModelProto) into an artifact directory.

    kwargs: input_shapes={"x": (1, 3, 48, 192)}, pipeline=[pass names], schedule="default"|"nchw"|"none",
    tuning_db=, prune=, quantize=, calib=, speed_guard=, drop_fake_quant= (edgec.compiler.CompileOptions),
    force=False, verbose=False. Returns an edgec.runtime.Artifact.
    """
    from edgec.compiling import compile as _compile

    return _compile(model, target, out, **kwargs)


def load(path, threads: int | None = None):
    """Load an artifact directory for running here; returns an edgec.runtime.Session."""
    from edgec.runtime.session import load as _load

    return _load(path, threads=threads)


def verify(artifact, model=None, **kwargs):
    """Run artifact and reference runtime on the same inputs; returns a VerifyResult."""
    from edgec.verification import verify as _verify

    return _verify(artifact, model, **kwargs)


def inspect(path_or_model, **kwargs) -> dict:
    """Summarize a model (inputs, outputs, op histogram, params) or an artifact (its manifest)."""
    from edgec.inspection import inspect as _inspect

    return _inspect(path_or_model, **kwargs)


def prune(model, **kwargs):
    """Prune an ONNX model (path, zoo name or ModelProto): method="channels"|"magnitude", ratio=,
    sparsity=, calib=, criterion=, reconstruct=, max_drop=, metric=. Returns a PruneResult whose
    .model is an onnx.ModelProto. Same options as `edgec prune`."""
    from edgec.optimize import prune_model

    return prune_model(model, **kwargs)


def quantize(model, mode: str = "int8", **kwargs):
    """Quantize an ONNX model: mode="int8"|"int8-weights"|"fp16", calib=, method=, activations=,
    max_drop=, metric=, report=. Returns a QuantResult (.model, .layers, .kept_float)."""
    from edgec.optimize import quantize_model

    return quantize_model(model, mode, **kwargs)


def tune(model, target="host", db="tuning.json", budget_s: float = 1200, **kwargs):
    """Tune schedule knobs per kernel within ``budget_s`` seconds; returns the TuningDB."""
    from edgec.compiler.tuning import tune as _tune
    from edgec.sources import resolve_model

    return _tune(resolve_model(model), target, db, budget_s, **kwargs)


def package(artifact, out, **kwargs):
    """Write a self-contained device bundle for an artifact; returns a Bundle (path, bytes, runner)."""
    from edgec.bundle import package as _package

    return _package(artifact, out, **kwargs)


def bench(model, targets=("host",), **kwargs):
    """Compile for each target and measure latency (native, RPC or emulated); list of TargetResult."""
    from edgec.benchmark import bench_targets

    return bench_targets(model, list(targets), **kwargs)


def __getattr__(name: str):
    if name == "models":
        import edgec.models as m

        return m
    raise AttributeError(name)
