"""Relax -> TE for the ops edgec computes itself; everything else keeps TVM's legalization.

Runs inside LegalizeOps (``customize_legalize_map``) after the layout pass has turned convs into
NHWC/OHWI and FoldConstant has folded the weight transposes, so the weights arrive as constants
and are packed here, once, at compile time.
"""
from __future__ import annotations

import tvm
from tvm import relax
from tvm.ir.expr import Constant
from tvm.relax import PyExprMutator, expr_functor
from tvm.relax.transform.legalize_ops.linear_algebra import _matmul
from tvm.relax.transform.legalize_ops.nn import _nn_conv2d

from edgec.compiler.kernels.layout import rewrite_functions
from edgec.compiler.kernels.conv2d import ConvGeometry, conv2d_nhwc, pack_weights
from edgec.compiler.kernels.matmul import matmul_packed, pack_columns
from edgec.compiler.kernels.tiles import CPUVector, choose_tile


def _static_shape(expr) -> tuple[int, ...] | None:
    shape = getattr(expr.ty, "shape", None)
    try:
        return tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        return None


def conv_geometry(call: relax.Call) -> ConvGeometry | None:
    """The NHWC/OHWI float32 conv this call is, or None when edgec's kernel does not apply."""
    a = call.attrs
    if (a.data_layout, a.kernel_layout, a.out_layout) != ("NHWC", "OHWI", "NHWC"):
        return None
    data, weight = call.args
    if not isinstance(weight, Constant) or data.ty.dtype != "float32" \
            or weight.ty.dtype != "float32" or str(a.out_dtype or "float32") not in ("", "float32"):
        return None
    dshape, wshape = _static_shape(data), _static_shape(weight)
    if dshape is None or wshape is None:
        return None
    n, h, w, c = dshape
    o, kh, kw, i = wshape
    groups = int(a.groups)
    depthwise = groups == c and o == c and i == 1 and groups > 1
    if groups != 1 and not depthwise and (c % groups or o % groups or i != c // groups):
        return None
    pad = [int(p) for p in a.padding]
    if len(pad) == 2:
        pad = pad * 2
    return ConvGeometry(n, h, w, c, o, kh, kw, tuple(int(s) for s in a.strides), tuple(int(d) for d in a.dilation),
                        tuple(pad), depthwise, 1 if depthwise else groups)


def emit_conv(bb: relax.BlockBuilder, call: relax.Call, vec: CPUVector, nchw_data: relax.Expr | None = None
              ) -> relax.Expr | None:
    """edgec's kernel for this NHWC conv call (weights packed now), or None where it does not
    apply. ``nchw_data``: the conv's input before its NCHW->NHWC transpose, read directly."""
    geo = conv_geometry(call)
    if geo is None:
        return None
    group = geo.o // geo.groups if geo.groups > 1 else None
    tile = choose_tile(geo.out_w, geo.o, geo.reduction, vec, geo.depthwise, rows=geo.n * geo.out_h, group=group)
    if tile is None:  # a group's output channels do not fill a vector: TVM's grouped conv
        return None
    packed = pack_weights(call.args[1].value.numpy(), geo, tile)
    nchw = nchw_data is not None
    return bb.call_te(lambda d, w: conv2d_nhwc(d, w, geo, tile, nchw_input=nchw),
                      nchw_data if nchw else call.args[0], relax.const(packed), primfunc_name_hint="edgec_conv2d")


def conv2d_legalizer(vec: CPUVector):
    """A LegalizeOps function for relax.nn.conv2d using edgec's kernel where it applies."""

    def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        out = emit_conv(bb, call, vec)
        return _nn_conv2d(bb, call) if out is None else out

    return legalize


def _constant_rhs_matmul(call: relax.Call) -> tuple[tuple[int, ...], int, int] | None:
    """(A's shape, K, N) for a float32 A[..., M, K] x constant B[K, N], else None."""
    a, b = call.args
    if not isinstance(b, Constant) or a.ty.dtype != "float32" or b.ty.dtype != "float32" \
            or str(getattr(call.attrs, "out_dtype", None) or "float32") not in ("", "float32"):
        return None
    ashape, bshape = _static_shape(a), _static_shape(b)
    if ashape is None or bshape is None or len(ashape) < 2 or len(bshape) != 2 or ashape[-1] != bshape[0]:
        return None
    return ashape, bshape[0], bshape[1]


def matmul_legalizer(vec: CPUVector):
    """A LegalizeOps function for relax.matmul: constant weights (MatMul/Gemm layers) use edgec's
    packed-panel kernel, anything else TVM's."""

    def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        shapes = _constant_rhs_matmul(call)
        if shapes is None:
            return _matmul(bb, call)
        ashape, k, n = shapes
        rows = 1
        for d in ashape[:-2]:
            rows *= d
        tile = choose_tile(ashape[-2], n, k, vec, rows=rows)
        packed = pack_columns(call.args[1].value.numpy(), tile)
        return bb.call_te(lambda a, w: matmul_packed(a, w, n, tile), call.args[0], relax.const(packed),
                          primfunc_name_hint="edgec_matmul")

    return legalize


@expr_functor.mutator
class _ClipTake(PyExprMutator):
    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        if isinstance(call, relax.Call) and call.op == tvm.ir.Op.get("relax.take") and str(call.attrs.mode) == "fast":
            axis = None if call.attrs.axis is None else int(call.attrs.axis)
            return relax.op.take(call.args[0], call.args[1], axis, mode="clip")
        return call


def clip_take_indices():
    """relax.take (ONNX Gather, embeddings) clamps out-of-range indices instead of TVM's default
    "fast" mode, which reads outside the table (TVM prints "Fast mode segfaults when there are
    out-of-bounds indices" at every compile, through every pass that legalizes, FoldConstant
    included): a token id past the vocabulary at run time must not crash the process. In-range
    indices read the same element (the importer has already made negative ONNX indices
    positive); the cost is a min/max per index."""

    @tvm.transform.module_pass(opt_level=0, name="EdgecClipTakeIndices")
    def _pass(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        return rewrite_functions(mod, _ClipTake)

    return _pass


@expr_functor.mutator
class _FoldInputTranspose(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, vec: CPUVector) -> None:
        super().__init__(mod)
        self.vec = vec

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        if not isinstance(call, relax.Call) or call.op != tvm.ir.Op.get("relax.nn.conv2d") \
                or not isinstance(call.args[0], relax.Var):
            return call
        src = self.lookup_binding(call.args[0])
        if not isinstance(src, relax.Call) or src.op != tvm.ir.Op.get("relax.permute_dims") \
                or [int(a) for a in src.attrs.axes] != [0, 2, 3, 1]:
            return call
        geo = conv_geometry(call)
        if geo is None or geo.depthwise:  # depthwise wants channel vectors: a real transpose is faster
            return call
        out = emit_conv(self.builder_, call, self.vec, nchw_data=src.args[0])
        return call if out is None else out


def fold_input_transposes(vec: CPUVector):
    """After ConvertLayout: a conv fed by an NCHW->NHWC transpose (the model's input, or the
    output of an op that stays NCHW) reads the NCHW tensor itself; the transpose, a full pass
    over memory, disappears (DeadCodeElimination)."""

    @tvm.transform.module_pass(opt_level=0, name="EdgecFoldInputTransposes")
    def _pass(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        mod = rewrite_functions(mod, lambda m: _FoldInputTranspose(m, vec))
        return relax.transform.DeadCodeElimination()(mod)

    return _pass
