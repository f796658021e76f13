"""Softmax over the last axis, vectorized along that axis, with the polynomial exp.

TVM's legalization (topi.nn.softmax) computes exp with libm's scalar expf, twice per element, and
its max and sum reduce over the contiguous axis, which the generic schedule vectorizes across
rows instead (a gather per load): 12.9x ONNX Runtime on a 12 x 128 x 128 attention softmax
(tools/op_grid.py). Here each row's max and sum are reduced in V lanes first (partial results
[rows, V] from contiguous vector loads), then across the lanes; exp is TOPI's fast_exp (a few
ulps, fast_math.py). Rows run in parallel; compiler/schedules/cpu_softmax.py schedules it.
"""
from __future__ import annotations

import math

import tvm
from tvm import relax, te, tirx, topi

SOFTMAX_ATTR = "edgec_softmax"


def softmax_last_axis(x: te.Tensor, lanes: int, log: bool = False) -> te.Tensor:
    *rows, k = (int(d) for d in x.shape)
    ko_ext = math.ceil(k / lanes)
    ko = te.reduce_axis((0, ko_ext), name="ko")
    lo = te.reduce_axis((0, lanes), name="lo")
    neg_inf = tirx.const(-3.4028234663852886e38, "float32")

    def clamp(i):  # lanes past the row's end read its last element (in bounds; masked below)
        return tirx.min(i, k - 1) if ko_ext * lanes != k else i

    def at(r, i):
        return x[(*r, clamp(i))]

    def valid(i):
        return i < k if ko_ext * lanes != k else tirx.const(True, "bool")

    m_l = te.compute((*rows, lanes), lambda *a: te.max(
        tirx.Select(valid(ko * lanes + a[-1]), at(a[:-1], ko * lanes + a[-1]), neg_inf), axis=ko),
        name="softmax_max_lanes", attrs={SOFTMAX_ATTR: 1})
    m = te.compute(tuple(rows), lambda *r: te.max(m_l[(*r, lo)], axis=lo), name="softmax_max")
    e = te.compute(tuple(x.shape), lambda *a: x[a] - m[a[:-1]], name="softmax_shift")
    ex = topi.fast_exp(e)
    ko2 = te.reduce_axis((0, ko_ext), name="ko2")
    lo2 = te.reduce_axis((0, lanes), name="lo2")
    s_l = te.compute((*rows, lanes), lambda *a: te.sum(
        tirx.Select(valid(ko2 * lanes + a[-1]), ex[(*a[:-1], clamp(ko2 * lanes + a[-1]))],
                    tirx.const(0, "float32")), axis=ko2), name="softmax_sum_lanes")
    s = te.compute(tuple(rows), lambda *r: te.sum(s_l[(*r, lo2)], axis=lo2), name="softmax_sum")
    if log:
        return te.compute(tuple(x.shape), lambda *a: e[a] - tirx.log(s[a[:-1]]), name="log_softmax_out")
    return te.compute(tuple(x.shape), lambda *a: ex[a] * (tirx.const(1, "float32") / s[a[:-1]]),
                      name="softmax_out")


def softmax_inner_axis(x: te.Tensor, axis: int, log: bool = False) -> te.Tensor:
    """Softmax over a non-last axis (YOLOv8's DFL: 16 bins on axis 1, 2100 anchors innermost):
    the max and the sum reduce across rows whose elements lie contiguous along the innermost
    axis, which the generic schedule vectorizes; exp is fast_exp (TVM's default called libm's
    scalar expf per element: 0.85 ms of YOLOv8n's 29)."""
    m = topi.max(x, axis=axis, keepdims=True)
    e = te.compute(tuple(x.shape), lambda *a: x[a] - m[(*a[:axis], 0, *a[axis + 1:])], name="softmax_shift")
    ex = topi.fast_exp(e)
    s = topi.sum(ex, axis=axis, keepdims=True)
    if log:
        return te.compute(tuple(x.shape), lambda *a: e[a] - tirx.log(s[(*a[:axis], 0, *a[axis + 1:])]),
                          name="log_softmax_out")
    return te.compute(tuple(x.shape), lambda *a: ex[a] / s[(*a[:axis], 0, *a[axis + 1:])], name="softmax_out")


def softmax_legalizer(lanes: int, log: bool = False):
    """LegalizeOps entry for relax.nn.softmax / log_softmax: float32 over the last axis of a
    static shape uses the kernel above, anything else TVM's own."""
    op = "relax.nn.log_softmax" if log else "relax.nn.softmax"
    default = tvm.ir.Op.get(op).get_attr("FLegalize")

    def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        x = call.args[0]
        shape = getattr(x.ty, "shape", None)
        try:
            dims = [int(d) for d in shape]
        except (TypeError, ValueError):
            return default(bb, call)
        axis = int(call.attrs.axis) % max(len(dims), 1)
        if str(x.ty.dtype) == "float32" and len(dims) >= 2 and axis != len(dims) - 1 and dims[-1] >= lanes:
            return bb.call_te(lambda t: softmax_inner_axis(t, axis, log), x,
                              primfunc_name_hint="log_softmax" if log else "softmax")
        if str(x.ty.dtype) != "float32" or len(dims) < 2 or axis != len(dims) - 1 or dims[-1] < 2 * lanes:
            return default(bb, call)  # (rows shorter than two vectors: nothing to vectorize along;
            # a 1-D tensor has no row loop for the schedule: issue 16, int8 rpi5 seed 30329)
        return bb.call_te(lambda t: softmax_last_axis(t, lanes, log), x,
                          primfunc_name_hint="log_softmax" if log else "softmax")

    return legalize
