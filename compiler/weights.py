"""How many bytes of weights a compiled model carries: the size figure users compare (int8 vs float)."""
from __future__ import annotations

import numpy as np
import tvm
from tvm import relax


def weight_bytes(mod: tvm.IRModule) -> int:
    """Bytes of the constants the built library embeds. A constant that only feeds a dequantize
    (a float layer's int8 weights) is counted as float32: TVM folds it, and the library stores
    the float result."""
    total = 0
    dq_args: set = set()
    consts: list = []

    def visit(e) -> None:
        if isinstance(e, relax.Call) and isinstance(e.op, tvm.ir.Op) and e.op.name == "relax.dequantize":
            dq_args.add(e.args[0])
        if isinstance(e, tvm.ir.expr.Constant) and hasattr(e.value, "numpy"):
            consts.append(e)

    for _, func in mod.functions_items():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func, visit)
    seen: set = set()
    for c in consts:
        if c in seen:
            continue
        seen.add(c)
        a = c.value.numpy()
        total += a.size * 4 if c in dq_args and a.dtype != np.float32 else a.nbytes
    return int(total)
