"""Pin the *values* of inputs the user fixes (``--input-value sr=16000``): they become constants.

A scalar that selects a mode (a sample rate, a flag) or an input that gives an op its shape
parameters (Reshape's shape, Reduce axes, TopK's k) decides which graph edgec must compile. Made
an initializer before folding, it lets fold_constants evaluate what depends on it and inline the
If it selects. The pinned input is no longer an input of the artifact; verification feeds the
same value to the reference runtime (compile_options["input_values"]).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgec.compiler.passes.fix_input_shapes import dims, graph_inputs
from edgec.compiler.passes.graph_utils import copy_model
from edgec.compiler.passes.registry import PassContext, register
from edgec.errors import UserInputError


def coerce_value(name: str, value, vi: onnx.ValueInfoProto) -> np.ndarray:
    """``value`` as an array of the input's element type and shape (a flat list fills a static
    shape; one number is a scalar for a rank-0 input). Refuses values the type cannot hold."""
    elem = vi.type.tensor_type.elem_type
    try:
        dtype = helper.tensor_dtype_to_np_dtype(elem)
    except (KeyError, ValueError, TypeError):
        raise UserInputError(f"--input-value {name}: the input's element type "
                             f"{onnx.TensorProto.DataType.Name(elem)} cannot be pinned") from None
    given = np.asarray(value)
    if given.dtype.kind not in "biuf":
        raise UserInputError(f"--input-value {name}: {value!r} is not a number or a list of numbers")
    arr = given.astype(dtype)
    if arr.dtype.kind in "biu" and not np.array_equal(arr.astype(np.float64), given.astype(np.float64)):
        raise UserInputError(f"--input-value {name}: {value!r} does not fit the input's type {dtype}")
    shape = dims(vi) if vi.type.tensor_type.HasField("shape") else None
    if shape is not None and all(isinstance(d, int) and d > 0 for d in shape):
        if arr.size != int(np.prod(shape)):
            raise UserInputError(f"--input-value {name}: {arr.size} value(s) given, the input has shape {shape} "
                                 f"({int(np.prod(shape))} values)")
        return arr.reshape(shape)
    if shape is not None and arr.ndim != len(shape):
        if len(shape) == 1:
            return arr.reshape(-1)
        raise UserInputError(f"--input-value {name}: a value of rank {arr.ndim} for an input of rank {len(shape)} "
                             f"{shape}", hint="pass an array of the input's rank (Python API: input_values=...)")
    return arr


@register("pin_input_values")
def pin_input_values(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    if not ctx.input_values:
        return model, {"pinned": 0}
    model = copy_model(model)
    inputs = {vi.name: vi for vi in graph_inputs(model)}
    unknown = sorted(set(ctx.input_values) - set(inputs))
    if unknown:
        raise UserInputError(f"--input-value names {unknown} are not inputs of the model; its inputs are "
                             f"{list(inputs)}")
    for name, value in ctx.input_values.items():
        vi = inputs[name]
        arr = coerce_value(name, value, vi)
        model.graph.input.remove(vi)
        model.graph.initializer.append(numpy_helper.from_array(arr, name))
    return model, {"pinned": len(ctx.input_values)}
