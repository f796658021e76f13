"""Division by a constant that holds zeros becomes a multiplication by its reciprocal.

TVM's arithmetic simplifier refuses ``x / 0.0`` when the divisor is a literal ("Divide by zero",
an InternalError at build time), although IEEE gives +-inf or NaN and ONNX Runtime computes it.
``x * (1 / c)`` is the same IEEE result for every x (x/0 = x*inf, x/-0 = x*-inf, 0/0 = 0*inf = NaN),
so a float Div whose divisor is an initializer containing a zero is rewritten that way. Other
divisions are left alone (a reciprocal would change their rounding).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from edgec.compiler.passes.graph_utils import copy_model, remove_dead
from edgec.compiler.passes.registry import PassContext, register


@register("div_by_zero")
def div_by_zero(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    model = copy_model(model)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    rewritten = 0
    for node in g.node:
        if node.op_type != "Div" or node.domain not in ("", "ai.onnx") or len(node.input) != 2:
            continue
        t = inits.get(node.input[1])
        if t is None:
            continue
        c = numpy_helper.to_array(t)
        if not np.issubdtype(c.dtype, np.floating) or np.all(c != 0):
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            recip = (np.ones((), c.dtype) / c).astype(c.dtype)
        name = f"{node.input[1]}__reciprocal"
        if name not in inits:
            inits[name] = numpy_helper.from_array(recip, name)
            g.initializer.append(inits[name])
        node.op_type = "Mul"
        node.input[1] = name
        rewritten += 1
    if rewritten:
        remove_dead(g)
    return model, {"divisions_rewritten": rewritten}
