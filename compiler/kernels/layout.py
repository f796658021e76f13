"""Channels-last for the whole network, transposes only at its edges.

Relax's ConvertLayout carries NHWC through the ops that declare how (elementwise, pooling,
concat, resize...), and transposes back to NCHW in front of anything else. Clipping, common in
mobile nets, had no such rule and cost PP-OCR det a third of its time in NCHW<->NHWC copies:
TVM's ONNX importer lowers Clip straight to TE kernels (call_tir maximum/minimum) and
HardSigmoid/HardSwish to ``relax.clip``. Both are rewritten here to relax.maximum/minimum,
which convert like any elementwise op and fuse into the conv epilogue like ReLU.
"""
from __future__ import annotations

import re

import tvm
from tvm import relax
from tvm.ir.expr import Constant
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

# conv2d_transpose stays NCHW (TVM 0.27 legalizes it in NCHW only; the ConvTransposes that reach
# here are the few convtranspose_to_conv leaves, e.g. dilated ones)
CHANNELS_LAST = {"relax.nn.conv2d": ["NHWC", "OHWI"], "relax.nn.conv2d_transpose": ["NCHW", "IOHW"]}
_COMMUTATIVE = {tvm.ir.Op.get(f"relax.{n}") for n in ("add", "multiply", "maximum", "minimum")}
_BINARY = _COMMUTATIVE | {tvm.ir.Op.get(f"relax.{n}") for n in ("subtract", "divide", "power")}
_STACK_REDUCE = {tvm.ir.Op.get("relax.max"): tvm.ir.Op.get("relax.maximum"),
                 tvm.ir.Op.get("relax.min"): tvm.ir.Op.get("relax.minimum"),
                 tvm.ir.Op.get("relax.sum"): tvm.ir.Op.get("relax.add"),
                 tvm.ir.Op.get("relax.mean"): tvm.ir.Op.get("relax.add")}
_TIR_MINMAX = re.compile(r"^(maximum|minimum)\d*$")  # what the importer names topi.maximum/minimum


def _scalar(value, dtype: str):
    v = getattr(value, "value", value)
    v = getattr(v, "value", v)  # PrimValue -> FloatImm/IntImm -> python number
    return relax.const(float(v) if "float" in dtype else int(v), dtype)


def _layout_friendly_binary(call: Call) -> Call:
    """ConvertLayout converts a binary op only when both operands have the tensor's rank or are
    scalars, and takes the layout from the first operand. PaddleOCR writes `scale * x` with a
    [1]-shaped scale: that multiply stayed NCHW between two transposes, 28 times in det. A
    one-element constant becomes a scalar, and goes second when the op commutes."""
    a, b = call.args
    a, b = _as_scalar(a, b), _as_scalar(b, a)
    if call.op in _COMMUTATIVE and isinstance(a, Constant) and not isinstance(b, Constant):
        a, b = b, a
    if a.same_as(call.args[0]) and b.same_as(call.args[1]):
        return call
    return relax.Call(call.op, [a, b], call.attrs)


def _as_scalar(e: Expr, other: Expr) -> Expr:
    """A one-element constant as a scalar when the other operand alone sets the result's shape."""
    other_shape = getattr(getattr(other, "ty", None), "shape", None)
    if isinstance(e, Constant) and hasattr(e.value, "numpy") and other_shape is not None:
        v = e.value.numpy()
        if v.size == 1 and 1 <= v.ndim <= len(other_shape):
            return relax.const(v.reshape(()), str(v.dtype))
    return e


def _conv1d_as_conv2d(call: Call) -> Expr | None:
    """conv1d is a conv2d over a 1-pixel-high image; as such it gets edgec's conv kernel and
    NHWC (the STFT conv of openWakeWord's mel front end was 78% of its time on TOPI's conv1d)."""
    a = call.attrs
    x, w = call.args
    if (str(a.data_layout), str(a.kernel_layout), str(a.out_layout)) != ("NCW", "OIW", "NCW") \
            or getattr(x.ty, "shape", None) is None or getattr(call.ty, "shape", None) is None:
        return None
    n, c, width = (int(d) for d in x.ty.shape)
    if isinstance(w, Constant):
        wv = w.value.numpy()
        w2 = relax.const(wv.reshape(wv.shape[0], wv.shape[1], 1, wv.shape[2]))
    else:
        w2 = relax.op.expand_dims(w, 2)
    pad = [int(p) for p in a.padding]
    y = relax.op.nn.conv2d(relax.op.reshape(x, (n, c, 1, width)), w2, strides=(1, int(a.strides[0])),
                           padding=(0, pad[0], 0, pad[-1]), dilation=(1, int(a.dilation[0])), groups=int(a.groups),
                           out_dtype=a.out_dtype)
    return relax.op.reshape(y, [int(d) for d in call.ty.shape])


@expr_functor.mutator
class _ClipToMinMax(PyExprMutator):
    def _stacked_operands(self, call: Call) -> list | None:
        """The inputs of TVM's import of ONNX Max/Min/Sum (broadcast_to each input, stack them
        on a new axis 0, reduce it: 5-D tensors that ConvertLayout rejects), or None."""
        axis = getattr(call.attrs, "axis", None)
        if axis is None or [int(a) for a in axis] != [0] or bool(getattr(call.attrs, "keepdims", False)):
            return None
        stacked = self._bound(call.args[0])
        if not isinstance(stacked, Call) or stacked.op != tvm.ir.Op.get("relax.stack") \
                or int(stacked.attrs.axis) != 0:
            return None
        fields = self._bound(stacked.args[0])
        if not isinstance(fields, relax.Tuple):
            return None
        out = []
        for f in fields.fields:
            v = self._bound(f)
            out.append(v.args[0] if isinstance(v, Call) and v.op == tvm.ir.Op.get("relax.broadcast_to") else f)
        return out

    def _flat_prelu(self, call: Call) -> Expr | None:
        """TVM's TFLite import of PRELU: reshape(prelu(reshape(x, [-1]), flat alpha), x.shape),
        one kernel of div/mod index math that neither vectorizes nor fuses into the conv before
        it (45% of MediaPipe face_landmark). Rewritten as where(x > 0, x, x * alpha) on x's own
        shape: elementwise, so it joins the conv's epilogue."""
        prelu = self._bound(call.args[0])
        if not isinstance(prelu, Call) or prelu.op != tvm.ir.Op.get("relax.nn.prelu"):
            return None
        flat_x = self._bound(prelu.args[0])
        if not isinstance(flat_x, Call) or flat_x.op != tvm.ir.Op.get("relax.reshape"):
            return None
        x = flat_x.args[0]
        shape = getattr(call.ty, "shape", None)
        if shape is None or getattr(x.ty, "shape", None) is None or \
                [int(d) for d in x.ty.shape] != [int(d) for d in shape]:
            return None
        alpha = self._bound(prelu.args[1])
        if isinstance(alpha, Call) and alpha.op == tvm.ir.Op.get("relax.reshape"):
            alpha = self._bound(alpha.args[0])
        if isinstance(alpha, Call) and alpha.op == tvm.ir.Op.get("relax.broadcast_to"):
            alpha = alpha.args[0]
        elif isinstance(alpha, Constant):
            alpha = relax.const(alpha.value.numpy().reshape([int(d) for d in shape]))
        else:
            return None
        zero = relax.const(0, str(x.ty.dtype))
        return relax.op.where(relax.op.greater(x, zero), x, relax.op.multiply(x, alpha))

    def _bound(self, e: Expr) -> Expr:
        if isinstance(e, relax.Var):
            v = self.lookup_binding(e)
            return v if v is not None else e
        return e

    def visit_call_(self, call: Call) -> Expr:
        call = super().visit_call_(call)
        if not isinstance(call, Call):
            return call
        if call.op == tvm.ir.Op.get("relax.call_tir") and isinstance(call.args[0], relax.GlobalVar):
            m = _TIR_MINMAX.match(call.args[0].name_hint)
            args = list(call.args[1].fields) if isinstance(call.args[1], relax.Tuple) else []
            if m and len(args) == 2 and all(hasattr(a, "ty") for a in args):
                op = relax.op.maximum if m.group(1) == "maximum" else relax.op.minimum
                return op(*args)
            return call
        if call.op in _BINARY:
            return _layout_friendly_binary(call)
        if call.op == tvm.ir.Op.get("relax.nn.conv1d"):
            conv2d = _conv1d_as_conv2d(call)
            return call if conv2d is None else conv2d
        if call.op == tvm.ir.Op.get("relax.reshape"):
            prelu = self._flat_prelu(call)
            return call if prelu is None else prelu
        if call.op in _STACK_REDUCE:
            pairwise = self._stacked_operands(call)
            if pairwise is not None:
                out = pairwise[0]
                for x in pairwise[1:]:
                    out = _layout_friendly_binary(relax.Call(_STACK_REDUCE[call.op], [out, x]))
                if call.op == tvm.ir.Op.get("relax.mean"):  # ONNX Mean: the sum over the count
                    out = relax.op.divide(out, relax.const(float(len(pairwise)), str(call.ty.dtype)))
                return out
            return call
        if call.op != tvm.ir.Op.get("relax.clip"):
            return call
        x, lo, hi = call.args
        dtype = str(x.ty.dtype)
        try:
            lo_c, hi_c = _scalar(lo, dtype), _scalar(hi, dtype)
        except (TypeError, ValueError, AttributeError):
            return call  # symbolic bounds: leave it
        return relax.op.minimum(relax.op.maximum(x, lo_c), hi_c)


@tvm.transform.module_pass(opt_level=0, name="EdgecClipToMinMax")
def clip_to_min_max(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
    return rewrite_functions(mod, _ClipToMinMax)


def rewrite_functions(mod: tvm.IRModule, make_mutator) -> tvm.IRModule:
    """Run a PyExprMutator (``make_mutator(mod)``) over every Relax function of ``mod``."""
    for gv, func in list(mod.functions.items()):
        if isinstance(func, relax.Function):
            rw = make_mutator(mod)
            rw.builder_.update_func(gv, rw.visit_expr(func))
            mod = rw.builder_.get()
    return mod


def channels_last_passes() -> list:
    """Run before legalization: NHWC everywhere it carries, constant weight transposes folded."""
    # twice: the stacks must go before FoldConstant materialises their broadcasts, the [1]-shaped
    # constants only become constants after it
    from edgec.compiler.kernels.const_fold import fold_constants_fast  # (it uses rewrite_functions above)

    return [clip_to_min_max, fold_constants_fast(), clip_to_min_max, relax.transform.DeadCodeElimination(),
            relax.transform.ConvertLayout(CHANNELS_LAST), fold_constants_fast()]
