"""The ONNX import step: graph passes (clean-up, pinned inputs and shapes), the op check, then
TVM's importer (onnx_frontend.onnx_to_relax). Registered as the "onnx" frontend (registry.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from edgec.compiler import passes
from edgec.compiler.frontends.imported import Imported, check_dims
from edgec.compiler.frontends.onnx_frontend import check_onnx_ops, onnx_to_relax
from edgec.errors import ModelFormatError, UserInputError
from edgec.runtime.manifest import DTYPES, TensorSpec

if TYPE_CHECKING:
    from edgec.compiler.options import CompileOptions
    from edgec.compiler.source import SourceModel


def import_onnx(src: "SourceModel", opts: "CompileOptions") -> Imported:
    """``src``: a SourceModel of format "onnx"; ``opts``: its CompileOptions (shapes, values, pipeline)."""
    from edgec.compiler.passes.fix_input_shapes import dims, graph_inputs

    both = sorted(set(opts.input_values) & set(opts.input_shapes))
    if both:
        raise UserInputError(f"{both}: give an input a value (--input-value) or a shape (--input-shape), not both")
    # a zoo entry's pinned inputs apply to every caller (compile, bench's FLOP count...); the user's win
    values = {**{k: v for k, v in src.default_values.items() if k not in opts.input_shapes}, **opts.input_values}
    shapes = {k: v for k, v in {**src.default_shapes, **opts.input_shapes}.items() if k not in values}
    ctx = passes.PassContext(input_shapes=shapes, input_values=values, verbose=True)
    names = opts.pipeline
    if values and "pin_input_values" not in names:  # a custom pipeline still pins them
        names = ["pin_input_values", *names]
    model, reports = passes.run_pipeline(src.onnx, names, ctx)
    check_onnx_ops(model)  # an unsupported op is the clearer message than the dtype it takes
    inputs = [TensorSpec(vi.name, tuple(dims(vi)), _onnx_dtype(vi)) for vi in graph_inputs(model)]
    check_dims(inputs, "input")
    mod = onnx_to_relax(model, {t.name: t.shape for t in inputs})
    return Imported(mod, inputs, [o.name for o in model.graph.output], reports)


def _onnx_dtype(vi) -> str:
    import onnx

    t = vi.type.tensor_type.elem_type
    try:
        name = str(onnx.helper.tensor_dtype_to_np_dtype(t))
    except (KeyError, ValueError, TypeError):
        name = onnx.TensorProto.DataType.Name(t) if t in onnx.TensorProto.DataType.values() else str(t)
    if name not in DTYPES:
        raise ModelFormatError(f"input '{vi.name}' has element type {name}; edgec takes inputs of "
                               f"{', '.join(sorted(DTYPES))}")
    return name
