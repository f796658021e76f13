"""ONNX in: parse with clear errors, clean up so real exports import, then TVM Relax.

The clean-up (fixed input shapes, shape inference, folding of shape arithmetic, identity removal)
is a pass pipeline; see edgec.compiler.passes.
"""
from __future__ import annotations

import onnx
from google.protobuf.message import DecodeError

from edgec.errors import ModelFormatError, UnsupportedOperatorError


def parse_onnx(data: bytes, where: str) -> onnx.ModelProto:
    try:
        model = onnx.load_from_string(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ModelFormatError(f"{where} is not a valid ONNX model: the protobuf cannot be parsed ({e}); "
                               "the file may be truncated or corrupt") from None
    return validate_onnx(model, where)


MIN_OPSET = 7  # ONNX Runtime, the reference every compiled model is checked against, starts there


def validate_onnx(model: onnx.ModelProto, where: str = "the model") -> onnx.ModelProto:
    if not model.graph.node or not model.opset_import:
        raise ModelFormatError(f"{where} is not a usable ONNX model: it has no graph nodes or no opset")
    newest = onnx.defs.onnx_opset_version()
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx") and not MIN_OPSET <= o.version <= newest:
            raise ModelFormatError(f"{where} uses ONNX opset {o.version}; edgec (with ONNX Runtime as its reference) "
                                   f"reads opsets {MIN_OPSET} to {newest}",
                                   hint="convert it: onnx.version_converter.convert_version(model, 17)")
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, Exception) as e:  # noqa: B014 - checker raises several types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFormatError(f"{where} is not a valid ONNX model: {first}",
                               hint="the file may be truncated or corrupt; re-export it") from None
    return model


def supported_onnx_ops() -> set[str]:
    from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

    return set(_get_convert_map())


def check_onnx_ops(model: onnx.ModelProto) -> None:
    """Raise UnsupportedOperatorError naming every op type TVM cannot import, with one node each."""
    supported = supported_onnx_ops()
    bad: dict[str, str] = {}
    for node in model.graph.node:
        op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        if (node.domain not in ("", "ai.onnx") or node.op_type not in supported) and op not in bad:
            bad[op] = node.name or f"#{list(model.graph.node).index(node)} ({node.output[0]})"
    if bad:
        raise UnsupportedOperatorError(bad, "ONNX")


def onnx_to_relax(model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]):
    """Import a cleaned-up ONNX model; returns a tvm IRModule with parameters bound."""
    from tvm.relax.frontend.onnx import from_onnx

    check_onnx_ops(model)
    try:
        return from_onnx(model, shape_dict={k: list(v) for k, v in input_shapes.items()}, keep_params_in_input=False)
    except Exception as e:  # TVM converters raise assorted types; the message is what matters
        msg = str(e).strip().splitlines()
        raise ModelFormatError(f"TVM's ONNX importer failed: {msg[-1] if msg else type(e).__name__}") from None
