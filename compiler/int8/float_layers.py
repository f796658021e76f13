"""Convs that stay float in an int8 model but keep int8 weights in the library.

Depthwise convs have no reduction over channels for an integer dot product, and are memory-bound
anyway; they, and dense convs no int8 kernel took (vetoed by the speed guard, tiny reductions),
run on edgec's float NHWC kernel (compiler/kernels/conv2d.py: channels in the vector
lanes, register tile). Their packed weights are stored as int8 and converted to float32 at run
time, once per inference, by a small kernel of their own (a few thousand values per layer):
converting inside the conv's tap loop instead cost 10-15% per depthwise conv (PP-OCR rec). TVM
would constant-fold that conversion back to float32 weights, so the kernel also takes the conv's
input as an (unused) argument, and is marked opaque so that FuseOps does not merge it into the
conv. The per-channel scale is applied to the conv's output, which FuseOps merges into the
epilogue: conv(x, q * s) = conv(x, q) * s, since s is per output channel.
"""
from __future__ import annotations

import numpy as np
from tvm import relax, te

from edgec.compiler.kernels.conv2d import ConvGeometry, conv2d_nhwc, pack_weights
from edgec.compiler.kernels.tiles import choose_tile, cpu_vector

TO_NHWC, TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]


def _as_float(w: te.Tensor) -> te.Tensor:
    return te.compute(w.shape, lambda *i: w(*i).astype("float32"), name="edgec_int8_weights")


def float_conv_int8_weights(bb: relax.BlockBuilder, x_nchw: relax.Expr, wq: np.ndarray, scale: np.ndarray,
                            attrs, float_lanes: int) -> relax.Expr | None:
    """NCHW in and out (the graph's layout; layout.py cancels the transposes), NHWC inside.
    None unless a depthwise (groups == C == O) or dense (groups == 1) float32 conv."""
    n, c, h, w = (int(d) for d in x_nchw.ty.shape)
    o, i, kh, kw = wq.shape
    depthwise = int(attrs.groups) == c == o and i == 1
    if not (depthwise or int(attrs.groups) == 1) or str(x_nchw.ty.dtype) != "float32":
        return None
    pad = [int(p) for p in attrs.padding]
    pad = pad * 2 if len(pad) == 2 else pad
    geo = ConvGeometry(n, h, w, c, o, kh, kw, tuple(int(s) for s in attrs.strides),
                       tuple(int(d) for d in attrs.dilation), tuple(pad), depthwise)
    tile = choose_tile(geo.out_w, geo.o, geo.reduction, cpu_vector(float_lanes), depthwise, rows=n * geo.out_h)
    packed = pack_weights(wq.transpose(0, 2, 3, 1), geo, tile)  # OHWI int8 -> [C'/V][KH][KW]([I])[V] int8
    x = bb.emit(relax.op.permute_dims(x_nchw, TO_NHWC))
    wf = bb.emit(bb.call_te(lambda wp, _x: _as_float(wp), relax.const(packed), x,
                            primfunc_name_hint="edgec_int8_weights"))
    gv = bb.lookup_binding(wf).args[0]
    bb.update_func(gv, bb.get()[gv].with_attr("op_pattern", 8))  # opaque: never fused into the conv
    y = bb.emit(bb.call_te(lambda d, w: conv2d_nhwc(d, w, geo, tile), x, wf, primfunc_name_hint="edgec_conv2d"))
    y = bb.emit(relax.op.multiply(y, relax.const(np.broadcast_to(scale, (o,)).astype(np.float32))))
    return relax.op.permute_dims(y, TO_NCHW)


def _from_blob(src: te.Tensor, offset: int, shape: tuple) -> te.Tensor:
    strides = [int(np.prod(shape[i + 1:])) for i in range(len(shape))]
    return te.compute(shape, lambda *i: src[offset + sum(a * st for a, st in zip(i, strides))].astype("float32"),
                      name="edgec_int8_weights")


def merge_weight_conversions(mod):
    """All of a function's int8 -> float32 weight conversions (``edgec_int8_weights*``, one small
    kernel per float layer) as one kernel with one output per layer, run first.

    Each kernel costs its own call and, in the library, its own argument-checking wrapper (~3 KB
    on x86, more than the conversion itself: PP-OCR det has 18 such layers). The converted
    weights then live for the whole run instead of from their layer's input on (the float
    layers' weights are small: depthwise taps, a few vetoed dense convs)."""
    import tvm
    from tvm.ir.expr import Constant
    from tvm.relax import expr_functor

    @expr_functor.mutator
    class _Merge(relax.PyExprMutator):
        def __init__(self, mod, replace, combined) -> None:
            super().__init__(mod)
            self.replace, self.combined, self.tup = replace, combined, None

        def visit_call_(self, call):
            if self.tup is None:  # the first binding of the function: the conversions go first
                self.tup = self.builder_.emit(self.combined, "int8_weights")
            if call in self.replace:
                return relax.TupleGetItem(self.tup, self.replace[call])
            return super().visit_call_(call)

    for gv, func in list(mod.functions_items()):
        if not isinstance(func, relax.Function) or not func.params:
            continue
        calls = []
        for v, e in relax.analysis.get_var2val(func).items():
            if isinstance(e, relax.Call) and e.op == tvm.ir.Op.get("relax.call_tir") \
                    and e.args[0].name_hint.startswith("edgec_int8_weights") \
                    and isinstance(e.args[1].fields[0], Constant):
                calls.append(e)
        dummy = func.params[0]
        if len(calls) < 2 or not isinstance(dummy.ty, relax.TensorType) or dummy.ty.shape is None:
            continue
        try:
            dshape = [int(d) for d in dummy.ty.shape]
        except TypeError:
            continue
        # one int8 blob in (each layer's weights at a 64-byte boundary), one float32 tensor per layer out
        arrays = [c.args[1].fields[0].value.numpy() for c in calls]
        if any(a.dtype != np.int8 for a in arrays):
            continue
        offsets, n = [], 0
        for a in arrays:
            offsets.append(n)
            n += -(-a.size // 64) * 64
        blob = np.zeros(n, np.int8)
        for a, off in zip(arrays, offsets):
            blob[off:off + a.size] = a.reshape(-1)
        src = te.placeholder((n,), "int8", "weights")
        d = te.placeholder(tuple(dshape), str(dummy.ty.dtype), "unused")
        outs = [_from_blob(src, off, a.shape) for a, off in zip(arrays, offsets)]
        prim = te.create_prim_func([src, d] + outs).without_attr("global_symbol").with_attr("op_pattern", 8)
        bb = relax.BlockBuilder(mod)
        merged = bb.add_func(prim, "edgec_int8_weights_all")
        mod = bb.get()
        combined = relax.call_tir(merged, [relax.const(blob), dummy],
                                  out_ty=[relax.TensorType(list(a.shape), "float32") for a in arrays])
        rw = _Merge(mod, {c: i for i, c in enumerate(calls)}, combined)
        rw.builder_.update_func(gv, rw.visit_expr(func))
        mod = rw.builder_.get()
    return relax.transform.DeadCodeElimination()(mod)
