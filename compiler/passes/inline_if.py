"""Inline an If whose condition is a constant: the taken branch's nodes replace it.

Exports guard mode-specific code with If (silero-vad: `if sr == 16000`), and sizes with
`if len(x.shape) == 2`; once the mode is pinned (--input-value) and shapes are static, folding
makes the condition a constant, and the If is just its branch. TVM's importer would keep a
Relax If (both branches compiled, the VM choosing at run time) and cannot fold through it.
fold_constants calls this after each round, so Ifs nested in an inlined branch follow.
"""
from __future__ import annotations

import onnx
from onnx import helper, numpy_helper

from edgec.compiler.passes.graph_utils import copy_model
from edgec.compiler.passes.registry import PassContext, register


def _defined(graph: onnx.GraphProto) -> set[str]:
    names = {t.name for t in graph.initializer} | {i.name for i in graph.input}
    for n in graph.node:
        names.update(o for o in n.output if o)
    return names


def _rename_graph(graph: onnx.GraphProto, rename: dict[str, str]) -> None:
    """Rename uses (and, at this level, definitions) of ``rename``'s names in ``graph``, and uses
    of outer names inside nested subgraphs unless a subgraph defines the name itself."""
    for t in graph.initializer:
        t.name = rename.get(t.name, t.name)
    for n in graph.node:
        n.input[:] = [rename.get(i, i) for i in n.input]
        n.output[:] = [rename.get(o, o) for o in n.output]
        for a in n.attribute:
            for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                inner = {k: v for k, v in rename.items() if k not in _defined(sub)}
                _rename_uses(sub, inner)
    for o in graph.output:
        o.name = rename.get(o.name, o.name)


def _rename_uses(graph: onnx.GraphProto, rename: dict[str, str]) -> None:
    if not rename:
        return
    for n in graph.node:
        n.input[:] = [rename.get(i, i) for i in n.input]
        for a in n.attribute:
            for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                _rename_uses(sub, {k: v for k, v in rename.items() if k not in _defined(sub)})
    for o in graph.output:
        o.name = rename.get(o.name, o.name)


def inline_constant_ifs(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Returns a copy of ``model`` with every top-level If on a constant condition inlined."""
    consts = {t.name: t for t in model.graph.initializer}
    if not any(n.op_type == "If" and n.input[0] in consts for n in model.graph.node):
        return model, 0
    model = copy_model(model)
    g = model.graph
    consts = {t.name: t for t in g.initializer}
    nodes, inlined = [], 0
    for k, node in enumerate(g.node):
        cond = consts.get(node.input[0]) if node.op_type == "If" and node.domain in ("", "ai.onnx") else None
        value = numpy_helper.to_array(cond).reshape(-1) if cond is not None else None
        if value is None or value.size != 1:
            nodes.append(node)
            continue
        which = "then_branch" if bool(value[0]) else "else_branch"
        branch = onnx.GraphProto()
        branch.CopyFrom(next(a.g for a in node.attribute if a.name == which))
        prefix = f"{node.name or node.output[0]}/{which}#{k}/"  # branch-local names must not collide
        _rename_graph(branch, {n: prefix + n for n in _defined(branch)})
        g.initializer.extend(branch.initializer)
        nodes.extend(branch.node)
        for out, res in zip(node.output, branch.output):
            if out:
                nodes.append(helper.make_node("Identity", [res.name], [out], name=f"{prefix}out:{out}"))
        inlined += 1
    del g.node[:]
    g.node.extend(nodes)
    return model, inlined


@register("inline_if")
def inline_if(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    model, n = inline_constant_ifs(model)
    return model, {"inlined": n}

