"""The body of each Loop that stays a loop gets the same clean-up as the main graph.

Why: a Loop that unroll_loops leaves in place (its condition comes from data, or it runs too
many steps to unroll: SLANet's 501-step table decoder) is imported as a Relax function
(frontends/onnx_loop.py). Its body is an ONNX graph of its own, and TVM's importer needs there
what it needs in the main graph: static shapes, folded shape arithmetic, the converter forms. So
the body is cut out as a model of its own (the step counter, the condition, the carried values
with the shapes of their initial values, and the outer values it reads as inputs or, when
constant, as initializers), run through the clean-up passes, and put back.

Carried values that the body passes through unchanged and that start as constants (exporters
hand weights to the body that way) become constants inside the body, so its MatMuls and convs
get constant weights like the rest of the model.
"""
from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from edgec.compiler.passes.registry import PassContext, register, run_pipeline

# The clean-up passes that make sense inside a body (no input pinning, no QOperator rewrite);
# loop_bodies itself handles nested loops.
BODY_PASSES = ["infer_shapes", "exotic_dtypes", "expand_functions", "fold_constants", "unroll_loops",
               "loop_bodies", "lower_recurrent", "cumprod_scan", "dft_matmul", "col2im_matmul", "index_ops",
               "converter_forms", "bitcast_det", "hyperbolic_to_exp", "bool_reductions", "resize_axes",
               "lp_normalization", "compress_to_gather", "normalize_axes", "simplify_split", "infer_shapes"]


def _value_infos(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    g = model.graph
    out = {vi.name: vi for vi in list(g.input) + list(g.value_info) + list(g.output)}
    for t in g.initializer:
        out.setdefault(t.name, helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return out


def _static(vi: "onnx.ValueInfoProto | None") -> bool:
    if vi is None or not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
        return False
    return all(d.HasField("dim_value") for d in vi.type.tensor_type.shape.dim)


def _free_names(graph: onnx.GraphProto) -> list[str]:
    from edgec.compiler.frontends.onnx_loop import _free_names as free

    return free(graph)


def _clean_body(node: onnx.NodeProto, model: onnx.ModelProto, ctx: PassContext) -> bool:
    g = model.graph
    attr = next(a for a in node.attribute if a.name == "body")
    body = attr.g
    infos = _value_infos(model)
    inits = {t.name: t for t in g.initializer}
    carried = list(node.input[2:])
    if len(body.input) != 2 + len(carried) or not all(_static(infos.get(x)) for x in carried):
        return False
    sub = onnx.GraphProto()
    sub.CopyFrom(body)
    sub.name = f"{g.name}_loop_body"
    del sub.input[:]
    del sub.value_info[:]
    names = [vi.name for vi in body.input]
    sub.input.append(helper.make_tensor_value_info(names[0], TensorProto.INT64, []))
    sub.input.append(helper.make_tensor_value_info(names[1], TensorProto.BOOL, []))
    outs = [o.name for o in body.output]
    identity = {n.output[0]: n.input[0] for n in body.node if n.op_type == "Identity"}
    for k, (x, name) in enumerate(zip(carried, names[2:])):
        passes_through = name in (outs[1 + k], identity.get(outs[1 + k]))
        if passes_through and x in inits:  # a constant handed through: a constant inside
            t = onnx.TensorProto()
            t.CopyFrom(inits[x])
            t.name = name
            sub.initializer.append(t)
            continue
        vi = onnx.ValueInfoProto()
        vi.CopyFrom(infos[x])
        vi.name = name
        sub.input.append(vi)
    outer = []
    for x in _free_names(body):
        if x in inits:
            t = onnx.TensorProto()
            t.CopyFrom(inits[x])
            sub.initializer.append(t)
        elif _static(infos.get(x)):
            sub.input.append(infos[x])
            outer.append(x)
        else:
            return False
    sub_model = helper.make_model(sub, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    body_ctx = PassContext(verbose=False)
    cleaned, _ = run_pipeline(sub_model, BODY_PASSES, body_ctx)
    cg = cleaned.graph
    if [o.name for o in cg.output] != outs:
        return False  # a pass renamed an output: keep the body as it was
    # back to a body: its inputs are the counter, the condition and the carried values (the
    # constants handed through keep their input slot, unused now); outer values are read by name
    have = {vi.name: vi for vi in cg.input}
    new_inputs = []
    for k, name in enumerate(names):
        if name in have:
            new_inputs.append(have[name])
        else:  # became an initializer: the slot stays, under a name nothing reads
            vi = onnx.ValueInfoProto()
            vi.CopyFrom(body.input[k])
            vi.name = f"{name}__unused"
            new_inputs.append(vi)
    del cg.input[:]
    cg.input.extend(new_inputs)
    outer_set = set(outer)
    kept = [vi for vi in cg.value_info if vi.name not in outer_set]
    del cg.value_info[:]
    cg.value_info.extend(kept)
    attr.g.CopyFrom(cg)
    return True


@register("loop_bodies")
def loop_bodies(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    loops = [n for n in model.graph.node if n.op_type == "Loop" and n.domain in ("", "ai.onnx")]
    if not loops:
        return model, {"loops": 0}
    out = onnx.ModelProto()
    out.CopyFrom(model)
    done = 0
    for node in out.graph.node:
        if node.op_type == "Loop" and node.domain in ("", "ai.onnx"):
            done += _clean_body(node, out, ctx)
    return out, {"loops": done}
