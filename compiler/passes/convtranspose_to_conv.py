"""Rewrite a strided ConvTranspose as one Conv over the input, a DepthToSpace and a crop.

A transposed conv with stride s computes, for each output phase (oy mod s, ox mod s), an ordinary
correlation of the input with the taps of that phase: ky = t*s + r for t < T = ceil(k/s). So the
s*s phases are s*s output-channel blocks of one T x T Conv (padding T-1, taps flipped), the CRD
DepthToSpace interleaves them into the full (unpadded) transposed output, and a Slice drops the
ConvTranspose's padding. Same sums, no zero-inserted input: TVM's legalized conv_transpose computes
on a dilated input where most taps are zeros and runs on its generic schedule (a decoder's
4x4/s2/p1 ConvTranspose ran 4.3x ONNX Runtime; PP-OCR det's 2x2/s2 head spent ~20% of its time
there). Kernels that are not a multiple of s get zero taps (3x3/s2: T=2, 16 taps for 9).
k == s with no padding is the special case T=1: a 1x1 conv and no crop; stride 1 is a plain Conv
with the taps flipped (no DepthToSpace).
"""
from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper

from edgec.compiler.passes.graph_utils import copy_model, initializers, remove_dead, set_initializer, to_array
from edgec.compiler.passes.registry import PassContext, register


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _static_shapes(graph: onnx.GraphProto) -> dict[str, list[int]]:
    out = {}
    for vi in list(graph.input) + list(graph.value_info):
        dims = vi.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            out[vi.name] = [d.dim_value for d in dims]
    return out


def _plan(node: onnx.NodeProto, inits: dict, shapes: dict) -> dict | None:
    """The rewrite's geometry, or None when the node is not a 2-D, ungrouped, undilated
    ConvTranspose with constant weights, one stride for both axes and a crop inside the full
    output."""
    if node.op_type != "ConvTranspose" or node.input[1] not in inits:
        return None
    if len(node.input) > 2 and node.input[2] and node.input[2] not in inits:
        return None
    a = _attrs(node)
    w = inits[node.input[1]]
    if len(w.dims) != 4:
        return None
    kh, kw = int(w.dims[2]), int(w.dims[3])
    strides = list(a.get("strides", [1, 1]))
    if len(strides) != 2 or strides[0] != strides[1] or strides[0] < 1:
        return None
    s = int(strides[0])
    if (a.get("group", 1) != 1 or list(a.get("dilations", [1, 1])) != [1, 1] or "output_shape" in a
            or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")):
        return None
    pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
    out_pad = [int(p) for p in a.get("output_padding", [0, 0])]
    th, tw = math.ceil(kh / s), math.ceil(kw / s)
    if (th, tw) == (1, 1) and not any(pads) and not any(out_pad) and (kh, kw) == (s, s):
        return {"s": s, "kh": kh, "kw": kw, "th": 1, "tw": 1, "crop": None, "extra": (0, 0)}
    shape = shapes.get(node.input[0])
    if shape is None or len(shape) != 4:
        return None
    crop, extra = [], []
    for n, k, t, lo, hi, op in ((shape[2], kh, th, pads[0], pads[2], out_pad[0]),
                                (shape[3], kw, tw, pads[1], pads[3], out_pad[1])):
        length = (n - 1) * s + k - lo - hi + op
        if length <= 0 or lo < 0 or hi < 0:
            return None
        crop.append((lo, lo + length))
        # output_padding past the full output: bias-only rows, from extra zero rows of input
        extra.append(max(0, math.ceil((lo + length - (n + t - 1) * s) / s)))
    return {"s": s, "kh": kh, "kw": kw, "th": th, "tw": tw, "crop": crop, "extra": tuple(extra)}


def _phase_weights(w: np.ndarray, p: dict) -> np.ndarray:
    """[ci, co, kh, kw] -> [co*s*s, ci, th, tw]: channel c*s*s + ry*s + rx holds phase (ry, rx),
    as DepthToSpace CRD reads it; tap u of a phase is ky = (T-1-u)*s + r (zero past the kernel)."""
    s, th, tw = p["s"], p["th"], p["tw"]
    ci, co, kh, kw = w.shape
    out = np.zeros((co, s, s, ci, th, tw), dtype=w.dtype)
    for ry in range(s):
        for rx in range(s):
            for uy in range(th):
                ky = (th - 1 - uy) * s + ry
                if ky >= kh:
                    continue
                for ux in range(tw):
                    kx = (tw - 1 - ux) * s + rx
                    if kx < kw:
                        out[:, ry, rx, :, uy, ux] = w[:, :, ky, kx].T
    return out.reshape(co * s * s, ci, th, tw)


@register("convtranspose_to_conv")
def convtranspose_to_conv(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    model = copy_model(model)
    g = model.graph
    inits = initializers(g)
    shapes = _static_shapes(g)
    new_nodes, rewritten = [], 0
    for node in g.node:
        p = _plan(node, inits, shapes)
        if p is None:
            new_nodes.append(node)
            continue
        s = p["s"]
        w = to_array(inits[node.input[1]])
        base = node.name or node.output[0]
        wname = f"{node.input[1]}_{base}_phases"
        set_initializer(g, wname, _phase_weights(w, p))
        inputs = [node.input[0], wname]
        if len(node.input) > 2 and node.input[2]:
            b = to_array(inits[node.input[2]])
            bname = f"{node.input[2]}_{base}_phases"
            set_initializer(g, bname, np.repeat(b, s * s).astype(b.dtype))
            inputs.append(bname)
        mid = f"{node.output[0]}_phases"
        th, tw = p["th"], p["tw"]
        ey, ex = p["extra"]
        new_nodes.append(helper.make_node("Conv", inputs, [mid], name=f"{base}_phase_conv", kernel_shape=[th, tw],
                                          pads=[th - 1, tw - 1, th - 1 + ey, tw - 1 + ex]))
        if p["crop"] is None:
            new_nodes.append(helper.make_node("DepthToSpace", [mid], [node.output[0]], name=f"{base}_d2s",
                                              blocksize=s, mode="CRD"))
        else:
            full = f"{node.output[0]}_full" if s > 1 else mid  # stride 1: one phase, nothing to interleave
            if s > 1:
                new_nodes.append(helper.make_node("DepthToSpace", [mid], [full], name=f"{base}_d2s", blocksize=s,
                                                  mode="CRD"))
            (y0, y1), (x0, x1) = p["crop"]
            names = {k: f"{base}_crop_{k}" for k in ("starts", "ends", "axes")}
            set_initializer(g, names["starts"], np.array([y0, x0], np.int64))
            set_initializer(g, names["ends"], np.array([y1, x1], np.int64))
            set_initializer(g, names["axes"], np.array([2, 3], np.int64))
            new_nodes.append(helper.make_node("Slice", [full, names["starts"], names["ends"], names["axes"]],
                                              [node.output[0]], name=f"{base}_crop"))
        rewritten += 1
    del g.node[:]
    g.node.extend(new_nodes)
    remove_dead(g)
    return model, {"convtranspose_rewritten": rewritten}
