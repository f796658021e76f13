"""ONNX shape inference (strict data propagation), so later passes and TVM see static shapes."""
from __future__ import annotations

import onnx

from edgec.compiler.passes.registry import PassContext, register
from edgec.errors import ModelFormatError


@register("infer_shapes")
def infer_shapes(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    try:
        out = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception as e:  # onnx raises InferenceError and plain RuntimeErrors
        raise ModelFormatError(f"shape inference failed: {e}") from None
    return out, {"value_infos": len(out.graph.value_info)}
