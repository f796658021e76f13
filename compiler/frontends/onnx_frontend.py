"""ONNX in: parse with clear errors, clean up so real exports import, then TVM Relax.

The clean-up (fixed input shapes, shape inference, folding of shape arithmetic, identity removal)
is a pass pipeline; see edgec.compiler.passes.
"""
from __future__ import annotations

import onnx
from google.protobuf.message import DecodeError

from edgec.errors import EdgecError, ModelFormatError, UnsupportedOperatorError


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

    # If: TVM's importer builds a Relax If itself (no converter); Loop: edgec's (onnx_loop.py)
    return set(_get_convert_map()) | {"If", "Loop"}


def check_onnx_ops(model: onnx.ModelProto) -> None:
    """Raise UnsupportedOperatorError naming every op type TVM cannot import, with one node each."""
    supported = supported_onnx_ops()
    bad: dict[str, str] = {}
    for node in model.graph.node:
        op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        if (node.domain not in ("", "ai.onnx") or node.op_type not in supported) and op not in bad:
            bad[op] = node.name or f"#{list(model.graph.node).index(node)} ({node.output[0]})"
    bad.update(_float_only_ops(model))
    if bad:
        raise UnsupportedOperatorError(bad, "ONNX")
    _check_resize(model)
    _check_split(model)
    for i, node in enumerate(model.graph.node):
        if node.op_type in _DATA_DEPENDENT_OPS and node.domain in ("", "ai.onnx"):
            err = UnsupportedOperatorError({node.op_type: node.name or f"#{i} ({node.output[0]})"}, "ONNX")
            err.hint = (f"{node.op_type}'s output shape depends on the data ({_DATA_DEPENDENT_OPS[node.op_type]}); "
                        "edgec compiles static shapes: run it after the model (e.g. in numpy or ONNX Runtime)")
            raise err
    _check_required_inputs(model)


def _check_required_inputs(model: onnx.ModelProto) -> None:
    """An empty input name means "omitted", which only an optional input may be. TVM's importer
    hands the missing value on as None and segfaults building a tuple of it (found by
    tools/fuzz.py: Concat with an input named ''); onnx's checker lets it through."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    optional = onnx.defs.OpSchema.FormalParameterOption.Optional
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx") or all(node.input):
            continue
        try:
            params = onnx.defs.get_schema(node.op_type, opset, "").inputs
        except Exception:  # noqa: BLE001 - no schema: check_onnx_ops has named the op already
            continue
        for i, name in enumerate(node.input):
            if not name and (not params or params[min(i, len(params) - 1)].option != optional):
                raise ModelFormatError(f"node '{node.name or node.output[0]}' ({node.op_type}) leaves its required "
                                       f"input {i} empty", hint="the model is corrupt; re-export it")
    for i, node in enumerate(model.graph.node):
        # the clean-up removes inference-time Dropout; one left takes training_mode from the graph
        if node.op_type == "Dropout" and node.domain in ("", "ai.onnx") and len(node.input) > 2 and node.input[2]:
            name = node.name or f"#{i} ({node.output[0]})"
            err = UnsupportedOperatorError({"Dropout": name}, "ONNX")
            err.message = (f"node '{name}' (Dropout) takes training_mode from '{node.input[2]}', which is not a "
                           "constant false: edgec compiles inference only (random dropout is not supported)")
            err.hint = "remove the training_mode input (inference), or make it a constant false initializer"
            err.args = (err.message,)
            raise err


# Ops whose output shape depends on the data, which TVM's importer gives a static shape it then
# fails to lower (an InternalError at build time): refused up front.
_DATA_DEPENDENT_OPS = {"NonMaxSuppression": "the number of boxes kept"}

def _constant(model: onnx.ModelProto, name: str):
    t = next((t for t in model.graph.initializer if t.name == name), None)
    return onnx.numpy_helper.to_array(t).reshape(-1) if t is not None else None


def _check_resize(model: onnx.ModelProto) -> None:
    """Resize forms TVM's lowering fails on with an internal error: refused here, by node."""
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in list(model.graph.value_info) + list(model.graph.output) + list(model.graph.input)}
    for i, node in enumerate(model.graph.node):
        if node.op_type != "Resize" or node.domain not in ("", "ai.onnx"):
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        ctm = attrs.get("coordinate_transformation_mode", b"half_pixel")
        ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
        mode = attrs.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        why = None
        scales = _constant(model, node.input[2]) if len(node.input) > 2 and node.input[2] else None
        in_shape = shapes.get(node.input[0], [])
        fractional = scales is not None and scales.size == len(in_shape) and any(
            abs(d * f - round(d * f)) > 1e-6 for d, f in zip(in_shape, scales.tolist()))
        if fractional and mode != "nearest" and ctm != "tf_crop_and_resize":
            why = (f"scales {scales.tolist()} that do not give whole output sizes for input {in_shape} "
                   "(TVM maps coordinates by output/input size, ONNX by the given scale: different numbers)")
        elif ctm == "half_pixel_symmetric":
            why = "coordinate_transformation_mode half_pixel_symmetric (TVM has no such mode)"
        elif attrs.get("antialias", 0) and mode != "nearest":
            why = "antialias (TVM's Resize ignores it: the numbers would be silently different)"
        elif ctm == "align_corners" and mode != "nearest" and 1 in shapes.get(node.output[0], [])[2:]:
            why = "align_corners onto an output dimension of 1 (TVM's lowering divides by zero)"
        if why:
            name = node.name or f"#{i} ({node.output[0]})"
            err = UnsupportedOperatorError({"Resize": name}, "ONNX")
            err.message = f"node '{name}' (Resize) uses {why}"
            err.hint = "export the Resize with another coordinate_transformation_mode, or open an issue"
            err.args = (err.message,)
            raise err


def _check_split(model: onnx.ModelProto) -> None:
    """A Split with an empty part before the last: TVM's lowering needs strictly increasing split points
    (InternalError)."""
    inits = {t.name: t for t in model.graph.initializer}
    for i, node in enumerate(model.graph.node):
        if node.op_type != "Split" or node.domain not in ("", "ai.onnx"):
            continue
        sizes = next((list(a.ints) for a in node.attribute if a.name == "split"), None)
        if sizes is None and len(node.input) > 1 and node.input[1] in inits:
            sizes = onnx.numpy_helper.to_array(inits[node.input[1]]).reshape(-1).tolist()
        if sizes and 0 in sizes[:-1]:  # TVM takes the split points, strictly increasing: a last empty part is fine
            name = node.name or f"#{i} ({node.output[0]})"
            err = UnsupportedOperatorError({"Split": name}, "ONNX")
            err.message = (f"node '{name}' (Split) has an empty part (split sizes {sizes}); TVM's Split needs every "
                           "part but the last non-empty")
            err.hint = "drop the empty outputs from the Split before compiling"
            err.args = (err.message,)
            raise err


# Ops ONNX defines for integers too but TVM's lowering takes in float only (an InternalError at
# build time otherwise; found by tools/fuzz.py): op -> index of the input whose type decides.
_FLOAT_ONLY = {"Pow": 0}
_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}


def _float_only_ops(model: onnx.ModelProto) -> dict[str, str]:
    g = model.graph
    types = {t.name: t.data_type for t in g.initializer}
    types |= {v.name: v.type.tensor_type.elem_type for v in list(g.input) + list(g.value_info) + list(g.output)}
    out = {}
    for node in g.node:
        i = _FLOAT_ONLY.get(node.op_type)
        if i is not None and node.domain in ("", "ai.onnx") and len(node.input) > i:
            t = types.get(node.input[i])
            if t and t not in _FLOAT_TYPES:
                out.setdefault(f"{node.op_type} on {onnx.TensorProto.DataType.Name(t).lower()}",
                               node.name or node.output[0])
    return out


def onnx_to_relax(model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]):
    """Import a cleaned-up ONNX model; returns a tvm IRModule with parameters bound."""
    from edgec.compiler.frontends.onnx_loop import from_onnx

    check_onnx_ops(model)
    try:
        return from_onnx(model, shape_dict={k: list(v) for k, v in input_shapes.items()})
    except EdgecError:
        raise  # edgec's own converters (Loop) say what is wrong themselves
    except Exception as e:  # TVM converters raise assorted types; the message is what matters
        msg = str(e).strip().splitlines()
        detail = msg[-1] if msg else type(e).__name__
        node = _failing_node(e.__traceback__)
        if node is None:
            raise ModelFormatError(f"TVM's ONNX importer failed: {detail}") from None
        raise importer_error(model, node, e) from None


def _failing_node(tb) -> "onnx.NodeProto | None":
    """The ONNX node TVM's importer was converting when it raised (its `_construct_nodes` loop)."""
    found = None
    while tb is not None:
        f = tb.tb_frame
        if f.f_code.co_name == "_construct_nodes" and isinstance(f.f_locals.get("node"), onnx.NodeProto):
            found = f.f_locals["node"]  # the innermost one: a node inside an If/Loop body wins
        tb = tb.tb_next
    return found


# Inputs that decide an op's output shape: TVM's importer needs them constant.
SHAPE_INPUTS = {"Slice": "starts/ends/axes/steps", "Unsqueeze": "axes", "Squeeze": "axes", "Range": "start/limit/delta",
                "Reshape": "shape", "Expand": "shape", "Tile": "repeats", "Pad": "pads", "Resize": "roi/scales/sizes",
                "TopK": "k", "OneHot": "depth", "ConstantOfShape": "input", "Split": "split",
                "ReduceSum": "axes", "ReduceMean": "axes", "ReduceMax": "axes", "ReduceMin": "axes",
                "ReduceProd": "axes", "ReduceL1": "axes", "ReduceL2": "axes", "ReduceLogSum": "axes",
                "ReduceLogSumExp": "axes", "ReduceSumSquare": "axes", "Upsample": "scales", "CenterCropPad": "shape"}


def importer_error(model: onnx.ModelProto, node: onnx.NodeProto, e: BaseException) -> UnsupportedOperatorError:
    """A clear error for a node TVM's importer could not convert: op type, node, the importer's reason,
    and which inputs must be constant when the node takes its shape parameters from graph inputs."""
    op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
    name = node.name or f"#{list(model.graph.node).index(node) if node in model.graph.node else '?'} ({node.output[0]})"
    msg = str(e).strip().splitlines()
    reason = f"{type(e).__name__}: {msg[-1]}" if msg else type(e).__name__
    err = UnsupportedOperatorError({op: name}, "ONNX")
    err.message = f"TVM's ONNX importer cannot convert node '{name}' ({op}) in this form ({reason})"
    graph_inputs = {i.name for i in model.graph.input} - {t.name for t in model.graph.initializer}
    fed = [i for i in list(node.input)[1:] if i in graph_inputs]
    if fed and node.op_type in SHAPE_INPUTS:
        err.hint = (f"{op} takes its {SHAPE_INPUTS[node.op_type]} from graph input(s) {', '.join(fed)}; edgec needs "
                    "them constant: make them initializers (or fold them) before compiling")
    else:
        err.hint = "rewrite or remove this node before compiling, or open an issue naming the op and this message"
    err.args = (err.message,)
    return err
