"""edgec: compile trained models (ONNX, TFLite) with Apache TVM for edge devices, and run them.

    art = edgec.compile("ppocr-cls", target="host", out="out/")
    sess = edgec.load("out/")
    outputs = sess.run({"x": x})

The compiler (TVM, onnx) is imported only when compiling, so `edgec.load` stays light.
"""
from __future__ import annotations

__version__ = "0.1.0"

from edgec.errors import EdgecError  # noqa: E402

__all__ = ["EdgecError", "__version__", "compile", "inspect", "load", "models", "verify"]


def compile(model, target="host", out="out", **kwargs):  # noqa: A001 - the verb users expect
    """Compile a model (path, zoo name or onnx.ModelProto) into an artifact directory.

    kwargs: input_shapes={"x": (1, 3, 48, 192)}, pipeline=[pass names], schedule="default"|"none",
    force=False, verbose=False. Returns an edgec.runtime.Artifact.
    """
    from edgec.compiler.driver import compile as _compile

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


def __getattr__(name: str):
    if name == "models":
        import edgec.models as m

        return m
    raise AttributeError(name)
