"""Fold inference BatchNormalization into the preceding Conv or ConvTranspose: w' = w*s,
b' = (b-mean)*s + beta, with s = gamma/sqrt(var+eps). Saves one full pass over the activation
per BN. (Conv weights are [co, ci/g, kh, kw]; ConvTranspose weights are [ci, co/g, kh, kw].)"""
from __future__ import annotations

import numpy as np
import onnx

from edgec.compiler.passes.graph_utils import (consumers, copy_model, initializers, remove_dead,
                                                 set_initializer, to_array)
from edgec.compiler.passes.registry import PassContext, register


@register("fold_batchnorm")
def fold_batchnorm(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    model = copy_model(model)
    g = model.graph
    inits = initializers(g)
    uses = consumers(g)
    producer = {o: n for n in g.node for o in n.output}
    graph_outputs = {o.name for o in g.output}
    drop, folded = set(), 0
    for bn in g.node:
        if bn.op_type != "BatchNormalization" or len([o for o in bn.output if o]) != 1:
            continue
        conv = producer.get(bn.input[0])
        if conv is None or conv.op_type not in ("Conv", "ConvTranspose") or len(uses[conv.output[0]]) != 1 \
                or conv.output[0] in graph_outputs:
            continue
        params = bn.input[1:5]
        if not all(p in inits for p in params) or conv.input[1] not in inits:
            continue
        if len(conv.input) > 2 and conv.input[2] and conv.input[2] not in inits:
            continue
        gamma, beta, mean, var = (to_array(inits[p]).astype(np.float64) for p in params)
        eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
        w = to_array(inits[conv.input[1]])
        scale = gamma / np.sqrt(var + eps)
        b = to_array(inits[conv.input[2]]).astype(np.float64) if len(conv.input) > 2 and conv.input[2] else 0.0
        w_name, b_name = conv.input[1] + "_bnfold_" + bn.name, bn.output[0] + "_bias"
        if conv.op_type == "Conv":
            w_scaled = w * scale.reshape(-1, *[1] * (w.ndim - 1))
        else:
            group = next((a.i for a in conv.attribute if a.name == "group"), 1)
            if group != 1:
                continue
            w_scaled = w * scale.reshape(1, -1, *[1] * (w.ndim - 2))
        set_initializer(g, w_name, w_scaled.astype(w.dtype))
        set_initializer(g, b_name, ((b - mean) * scale + beta).astype(w.dtype))
        new_inputs = [conv.input[0], w_name, b_name]
        del conv.input[:]
        conv.input.extend(new_inputs)
        conv.output[0] = bn.output[0]
        drop.add(id(bn))
        folded += 1
    if folded:
        keep = [n for n in g.node if id(n) not in drop]
        del g.node[:]
        g.node.extend(keep)
        remove_dead(g)
    return model, {"batchnorms_folded": folded}
