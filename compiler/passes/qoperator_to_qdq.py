"""QOperator-format int8 ONNX (QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger) -> QDQ.

TVM's ONNX importer has none of these ops. Rewritten as DequantizeLinear -> Conv/MatMul ->
QuantizeLinear (the same arithmetic, spelled the way QDQ models are), they import and then run on
edgec's int8 kernels like any QDQ model.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgec.compiler.passes.graph_utils import copy_model
from edgec.compiler.passes.registry import PassContext, register
from edgec.errors import UnsupportedOperatorError

QOPS = ("QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger")


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


@register("qoperator_to_qdq")
def qoperator_to_qdq(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    if not any(n.op_type in QOPS for n in model.graph.node):
        return model, {"qoperators_rewritten": 0}
    if _opset(model) < 13:  # DequantizeLinear's per-channel axis needs opset 13
        from onnx import version_converter

        model = version_converter.convert_version(model, 13)
    model = copy_model(model)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    new_nodes, count = [], 0
    for node in g.node:
        if node.op_type not in QOPS:
            new_nodes.append(node)
            continue
        count += 1
        new_nodes += _rewrite(node, inits, g)
    del g.node[:]
    g.node.extend(new_nodes)
    return model, {"qoperators_rewritten": count}


def _const(g: onnx.GraphProto, inits: dict, name: str, value: np.ndarray) -> str:
    t = numpy_helper.from_array(value, name)
    g.initializer.append(t)
    inits[name] = t
    return name


def _size(g: onnx.GraphProto, inits: dict, name: str) -> int | None:
    """Elements of a constant or of a graph value whose shape is known (scales fed at run time)."""
    if name in inits:
        return int(np.prod(inits[name].dims))
    for vi in list(g.input) + list(g.value_info):
        if vi.name == name and vi.type.tensor_type.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
            return int(np.prod(dims)) if None not in dims else None
    return None


def _array(inits: dict, name: str, node: onnx.NodeProto) -> np.ndarray:
    if name not in inits:
        raise UnsupportedOperatorError({f"{node.op_type} with a non-constant input '{name}'": node.name or node.output[0]})
    return numpy_helper.to_array(inits[name])


def _rewrite(node: onnx.NodeProto, inits: dict, g: onnx.GraphProto) -> list[onnx.NodeProto]:
    p = node.name or node.output[0]
    ins = list(node.input) + [""] * 9
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    op = "Conv" if "Conv" in node.op_type else "MatMul"
    nodes = []

    def dq(x: str, scale: str, zp: str, out: str, axis: int | None = None) -> str:
        kw = {"axis": axis} if axis is not None else {}
        nodes.append(helper.make_node("DequantizeLinear", [x, scale] + ([zp] if zp else []), [out], name=f"{p}/{out}", **kw))
        return out

    if node.op_type in ("QLinearConv", "QLinearMatMul"):
        x, xs, xz, w, ws, wz, ys, yz = ins[:8]
        w_axis = 0 if op == "Conv" else 1
        n_scales = _size(g, inits, ws)
        if n_scales is None:
            _array(inits, ws, node)  # unknown size and not constant: refused by name
        per_channel = n_scales > 1
        xf = dq(x, xs, xz, f"{p}_xf")
        wf = dq(w, ws, wz, f"{p}_wf", w_axis if per_channel else None)
        args = [xf, wf]
        if op == "Conv" and ins[8]:  # int32 bias, scale x_scale * w_scale
            if xs in inits and ws in inits:
                bscale = (_array(inits, xs, node).astype(np.float32) * _array(inits, ws, node).astype(np.float32))
                bs = _const(g, inits, f"{p}_bias_scale", bscale.reshape(-1) if per_channel else bscale.reshape(()))
            else:  # scales fed at run time: the bias scale is computed in the graph
                bs = f"{p}_bias_scale"
                nodes.append(helper.make_node("Mul", [xs, ws], [bs], name=f"{p}/bias_scale"))
            args.append(dq(ins[8], bs, "", f"{p}_bf", 0 if per_channel else None))
        nodes.append(helper.make_node(op, args, [f"{p}_yf"], name=f"{p}/{op}", **attrs))
        nodes.append(helper.make_node("QuantizeLinear", [f"{p}_yf", ys] + ([yz] if yz else []), [node.output[0]],
                                      name=f"{p}/quantize"))
        return nodes
    # ConvInteger / MatMulInteger: int32 = sum((x - xz) * (w - wz))
    x, w, xz, wz = ins[:4]
    one = _const(g, inits, f"{p}_one", np.array(1.0, np.float32))
    xf = dq(x, one, xz, f"{p}_xf")
    n_wz = _size(g, inits, wz) if wz else None
    if wz and n_wz is None:
        _array(inits, wz, node)  # unknown size and not constant: refused by name
    if n_wz is not None and n_wz > 1:
        ones = _const(g, inits, f"{p}_ones", np.ones(n_wz, np.float32))
        wf = dq(w, ones, wz, f"{p}_wf", 0 if op == "Conv" else 1)
    else:
        wf = dq(w, one, wz, f"{p}_wf")
    nodes.append(helper.make_node(op, [xf, wf], [f"{p}_yf"], name=f"{p}/{op}", **attrs))
    nodes.append(helper.make_node("Cast", [f"{p}_yf"], [node.output[0]], to=onnx.TensorProto.INT32, name=f"{p}/cast"))
    return nodes
