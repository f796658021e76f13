"""ONNX shape inference (strict data propagation), so later passes and TVM see static shapes."""
from __future__ import annotations

import onnx

from edgec.compiler.passes.registry import PassContext, register
from edgec.errors import ModelFormatError


def fresh_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Infer shapes from scratch: stale partial value_info (from before folding) would win over
    what inference can now prove, so it is dropped first."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]
    try:
        return onnx.shape_inference.infer_shapes(m, check_type=False, strict_mode=False, data_prop=True)
    except Exception as e:  # onnx raises InferenceError and plain RuntimeErrors
        raise ModelFormatError(f"shape inference failed: {e}") from None


@register("infer_shapes")
def infer_shapes(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    out = fresh_shapes(model)
    return out, {"value_infos": len(out.graph.value_info)}
