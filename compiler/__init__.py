"""edgec.compiler: import, optimize and lower models with TVM. TVM types stay inside this package."""
from edgec.compiler.driver import CompileOptions, compile  # noqa: A004

__all__ = ["CompileOptions", "compile"]
