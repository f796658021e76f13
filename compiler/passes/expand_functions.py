"""Expand ONNX ops that ONNX defines by a function body when TVM's importer cannot take them.

Many recent ops (Attention, RMSNormalization, RotaryEmbedding, SoftmaxCrossEntropyLoss,
CenterCropPad, Celu, Mish, ...) come with a body in their schema: plain ONNX ops that compute them.
A node is replaced by its body, for the model's opset (context-dependent bodies get the inputs'
types, so the pass runs after shape inference), when

- TVM's importer has no converter for the op, or
- TVM's converter is another op under that name (ONNX Attention vs com.microsoft Attention), or
- it would drop outputs the graph uses (LayerNormalization's Mean / InvStdDev), or
- TVM's lowering of it fails (RMSNormalization over all axes: an InternalError at build time).

Ops TVM converts are kept fused. Bodies may use ops that need expanding themselves: repeated
until none is left (at most 4 rounds).
"""
from __future__ import annotations

import onnx
from onnx import AttributeProto, FunctionProto, NodeProto, TypeProto, helper

from edgec.compiler.passes.graph_utils import consumers, copy_model
from edgec.compiler.passes.inline_if import _defined, _rename_uses
from edgec.compiler.passes.registry import PassContext, register

# TVM 0.27 names these but converts a different op (com.microsoft Attention: num_heads, ...)
_TVM_OTHER_OP = {"Attention"}
# TVM converts only the first output; the others are placeholders
_FIRST_OUTPUT_ONLY = {"LayerNormalization"}
MAX_ROUNDS = 4


def _opset(model: onnx.ModelProto, domain: str) -> int | None:
    for o in model.opset_import:
        if (o.domain or "") == domain or (domain in ("", "ai.onnx") and o.domain in ("", "ai.onnx")):
            return o.version
    return None


def _schema(node: NodeProto, version: int):
    try:
        return onnx.defs.get_schema(node.op_type, version, node.domain)
    except Exception:  # noqa: BLE001 - SchemaError: no such op in this domain/version
        return None


def _body(node: NodeProto, schema, version: int, types: list[TypeProto]) -> FunctionProto | None:
    """The schema's function body for ``version`` (context-dependent ones see the input types)."""
    def pick(versions):
        versions = sorted(versions)
        below = [v for v in versions if v <= version]
        return below[-1] if below else (versions[0] if versions else None)

    f = FunctionProto()
    v = pick(schema.function_opset_versions) if schema.has_function else None
    if v is not None:
        f.ParseFromString(schema.get_function_with_opset_version(v))
        return f
    v = pick(schema.context_dependent_function_opset_versions) if schema.has_context_dependent_function else None
    if v is None:
        return None
    try:
        data = schema.get_context_dependent_function_with_opset_version(
            v, node.SerializeToString(), [t.SerializeToString() for t in types])
    except Exception:  # noqa: BLE001 - the builder refuses input types it cannot handle
        return None
    if not data:
        return None
    f.ParseFromString(data)
    return f if f.node else None


def with_defaults(node: NodeProto, schema) -> NodeProto:
    """A copy of ``node`` with the schema's defaults of unset attributes (bodies may refer to them)."""
    full = NodeProto()
    full.CopyFrom(node)
    present = {a.name for a in node.attribute}
    for name, attr in schema.attributes.items():
        if name not in present and attr.default_value.type != AttributeProto.UNDEFINED:
            full.attribute.append(attr.default_value)
    return full


def _rename(body_node: NodeProto, names: dict[str, str], attrs: dict[str, AttributeProto], prefix: str) -> NodeProto:
    out = NodeProto()
    out.CopyFrom(body_node)
    del out.input[:], out.output[:], out.attribute[:]
    ren = lambda n: names.get(n, prefix + n) if n else ""  # noqa: E731
    out.input.extend(ren(n) for n in body_node.input)
    out.output.extend(ren(n) for n in body_node.output)
    if out.name:
        out.name = prefix + out.name
    for a in body_node.attribute:
        if a.ref_attr_name:
            if a.ref_attr_name in attrs:  # an unset optional attribute leaves the body's attribute out
                new = AttributeProto()
                new.CopyFrom(attrs[a.ref_attr_name])
                new.name = a.name
                out.attribute.append(new)
        elif a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS):  # a Scan/Loop/If in the body
            new = AttributeProto()
            new.CopyFrom(a)
            for sub in ([new.g] if a.type == AttributeProto.GRAPH else list(new.graphs)):
                outer = _outer_names(sub)  # what the subgraph reads from the body: renamed like the body
                _rename_uses(sub, {n: ren(n) for n in outer})
            out.attribute.append(new)
        else:
            out.attribute.append(a)
    return out


def _outer_names(graph: onnx.GraphProto) -> set[str]:
    """Names a subgraph reads without defining them (its captures from the enclosing scope)."""
    defined = _defined(graph)
    used = set()
    for n in graph.node:
        used.update(i for i in n.input if i)
        for a in n.attribute:
            for sub in ([a.g] if a.type == AttributeProto.GRAPH else list(a.graphs)):
                used |= _outer_names(sub)
    used.update(o.name for o in graph.output)
    return used - defined


def expand_node(node: NodeProto, body: FunctionProto, prefix: str) -> list[NodeProto] | None:
    names = {}
    for i, name in enumerate(body.input):
        names[name] = node.input[i] if i < len(node.input) else ""
    for i, name in enumerate(body.output):
        if i < len(node.output) and node.output[i]:
            names[name] = node.output[i]
    attrs = {a.name: a for a in node.attribute}
    out = [_rename(n, names, attrs, prefix) for n in body.node]
    return None if any(n is None for n in out) else out


def _rank(t: TypeProto | None) -> int | None:
    return len(t.tensor_type.shape.dim) if t is not None and t.tensor_type.HasField("shape") else None


def _needs_expanding(node: NodeProto, supported: set[str], used: set[str], types: dict[str, TypeProto]) -> bool:
    default = node.domain in ("", "ai.onnx")
    if not default and node.domain.startswith("com."):
        return False  # vendor ops (com.microsoft): no schema bodies here
    if not default or node.op_type not in supported or node.op_type in _TVM_OTHER_OP:
        return True
    if node.op_type == "RMSNormalization":  # TVM's rms_norm fails to lower over all axes (axis 0)
        axis = next((a.i for a in node.attribute if a.name == "axis"), -1)
        rank = _rank(types.get(node.input[0]))
        return rank is not None and axis % max(rank, 1) == 0
    return node.op_type in _FIRST_OUTPUT_ONLY and any(o in used for o in node.output[1:] if o)


def _types(model: onnx.ModelProto) -> dict[str, TypeProto]:
    g = model.graph
    t = {vi.name: vi.type for vi in [*g.input, *g.value_info, *g.output]}
    for init in g.initializer:
        if init.name not in t:
            t[init.name] = helper.make_tensor_type_proto(init.data_type, list(init.dims))
    return t


@register("expand_functions")
def expand_functions(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    from edgec.compiler.frontends.onnx_frontend import supported_onnx_ops

    supported = supported_onnx_ops()
    model = copy_model(model)
    expanded: dict[str, int] = {}
    for rnd in range(MAX_ROUNDS):
        g = model.graph
        used = {o.name for o in g.output} | set(consumers(g))
        types = _types(model)
        new_nodes, changed, imports = [], False, {}
        for i, node in enumerate(g.node):
            version = _opset(model, node.domain or "")
            schema = _schema(node, version) if version and _needs_expanding(node, supported, used, types) else None
            body = None
            if schema is not None:
                node = with_defaults(node, schema)
                body = _body(node, schema, version, [types.get(n, TypeProto()) for n in node.input])
            nodes = expand_node(node, body, f"{node.name or node.output[0]}__{node.op_type}{rnd}_{i}__") \
                if body is not None else None
            if not nodes:
                new_nodes.append(node)
                continue
            new_nodes.extend(nodes)
            changed = True
            op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
            expanded[op] = expanded.get(op, 0) + 1
            for o in body.opset_import:
                imports.setdefault(o.domain or "", o.version)
        if not changed:
            break
        del g.node[:]
        g.node.extend(new_nodes)
        for domain, version in imports.items():
            if _opset(model, domain) is None:
                model.opset_import.append(helper.make_operatorsetid(domain, version))
        if rnd + 1 < MAX_ROUNDS:  # types of the new intermediates, for context-dependent bodies
            from edgec.compiler.passes.infer_shapes import fresh_shapes

            try:
                model = fresh_shapes(model)
            except Exception:  # noqa: BLE001 - the next infer_shapes pass reports it
                break
    return model, {f"expanded_{k}": v for k, v in sorted(expanded.items())}
