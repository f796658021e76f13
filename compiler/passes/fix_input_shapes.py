"""Pin the model's input shapes: symbolic dims become the user's (or the zoo's) numbers.

Edge deployment compiles for one shape; static shapes let every later pass fold shape math.
"""
from __future__ import annotations

import onnx

from edgec.compiler.passes.graph_utils import copy_model, initializers
from edgec.compiler.passes.registry import PassContext, register
from edgec.errors import UserInputError


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Real inputs: graph inputs that are not initializers (old exporters list both)."""
    inits = initializers(model.graph)
    return [i for i in model.graph.input if i.name not in inits]


def dims(vi: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in vi.type.tensor_type.shape.dim]


def dynamic_inputs_error(dynamic: list[onnx.ValueInfoProto]) -> UserInputError:
    """One error naming every input with a dynamic shape, with a ready-to-paste --input-shape line
    (N where the model leaves a dimension open)."""
    what = ", ".join(f"'{vi.name}' {dims(vi)}" for vi in dynamic)
    flags = " ".join(f"--input-shape {vi.name}=" + ",".join(str(d) if isinstance(d, int) and d > 0 else "N"
                                                          for d in dims(vi)) for vi in dynamic)
    noun = "input has a dynamic shape" if len(dynamic) == 1 else f"{len(dynamic)} inputs have dynamic shapes"
    return UserInputError(f"{noun}: {what}; give static ones",
                          hint=f"replace each N: {flags} (an input that selects a mode can be pinned by value "
                               "instead: --input-value NAME=V)")


@register("fix_input_shapes")
def fix_input_shapes(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    model = copy_model(model)
    inputs = graph_inputs(model)
    names = [i.name for i in inputs]
    unknown = sorted(set(ctx.input_shapes) - set(names))
    if unknown:
        raise UserInputError(f"--input-shape names {unknown} are not inputs of the model; its inputs are {names}")
    dynamic = [vi for vi in inputs if vi.name not in ctx.input_shapes
               and any(not isinstance(d, int) or d <= 0 for d in dims(vi))]
    if dynamic:  # all of them in one error: a user fixes them in one go, not one per run
        raise dynamic_inputs_error(dynamic)
    fixed = 0
    for vi in inputs:
        cur = dims(vi)
        want = ctx.input_shapes.get(vi.name)
        if want is None:
            continue
        if len(want) != len(cur):
            raise UserInputError(f"--input-shape for '{vi.name}' has rank {len(want)}, the model's input has rank {len(cur)} {cur}")
        for d, have, new in zip(vi.type.tensor_type.shape.dim, cur, want):
            if isinstance(have, int) and have > 0 and have != new:
                raise UserInputError(f"--input-shape {vi.name}={','.join(map(str, want))} conflicts with the model's fixed shape {cur}")
            d.ClearField("dim_param")
            d.dim_value = int(new)
        fixed += 1
    # Stale shapes of intermediate values would contradict the new input shapes.
    del model.graph.value_info[:]
    for o in model.graph.output:
        o.type.tensor_type.ClearField("shape")
    return model, {"inputs_fixed": fixed}
