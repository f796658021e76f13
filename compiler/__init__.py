"""edgec.compiler: import, optimize and lower models with TVM. TVM types stay inside this package.

``compile(SourceModel, CompileOptions, folder) -> Artifact`` is the contract. The names load on
first use, so the parts that need only onnx (source, passes, prune, quantize) do not pull in TVM."""
from __future__ import annotations

__all__ = ["CompileOptions", "SourceModel", "compile", "load_source"]


def __getattr__(name: str):
    if name == "compile":
        from edgec.compiler.driver import compile as f

        return f
    if name == "CompileOptions":
        from edgec.compiler.options import CompileOptions

        return CompileOptions
    if name in ("SourceModel", "load_source"):
        from edgec.compiler import source

        return getattr(source, name)
    raise AttributeError(name)
