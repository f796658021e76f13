"""Real integer compute for QDQ models: dot-product ISA detection, int8 kernels, the Relax rewrite."""
from edgec.compiler.int8.isa import DotISA, dot_isa
from edgec.compiler.int8.rewrite import Int8Stats, lower_int8

__all__ = ["DotISA", "Int8Stats", "dot_isa", "lower_int8"]
