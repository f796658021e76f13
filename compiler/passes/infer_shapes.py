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
        # check_type: a tensor of a type its op does not take (a bool into Conv) is the model's
        # error, said here, rather than a TVM InternalError during lowering
        return onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=False, data_prop=True)
    except MemoryError:
        raise ModelFormatError("shape inference ran out of memory: the model computes a constant too large "
                               "to hold (ConstantOfShape / Expand of a huge shape?)") from None
    except Exception as e:  # onnx raises InferenceError and plain RuntimeErrors
        if "bad_alloc" in str(e):
            raise ModelFormatError("shape inference ran out of memory: the model computes a constant too large "
                                   "to hold (ConstantOfShape / Expand of a huge shape?)") from None
        raise ModelFormatError(f"shape inference failed: {e}") from None


@register("infer_shapes")
def infer_shapes(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    out = fresh_shapes(model)
    return out, {"value_infos": len(out.graph.value_info)}
