"""Channels-last between int8 kernels: move the graph's NCHW<->NHWC transposes out of the way.

The int8 conv kernels read and write NHWC (like edgec's float kernels), while the imported graph
around them is NCHW, so the rewrite wraps each kernel in permute_dims. Relax's ConvertLayout
cannot carry NHWC past them: it starts only from convs and stops at quantize/dequantize (their
``axis`` attribute has no layout rule) and at call_tir. This pass walks the bindings in order and
keeps, for every 4-D tensor it can, its NHWC twin: a transpose to NCHW has its input as twin, an
op whose 4-D inputs all have twins (or are constants/scalars) is re-emitted on the twins, and a
transpose back to NHWC of a value with a twin is that twin. The NCHW values stay defined as
transposes of their twins for whatever still reads them; DeadCodeElimination removes the rest.
"""
from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.ir.expr import Constant
from tvm.relax import Call, PyExprMutator, expr_functor

TO_NHWC, TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]
_AXIS = [0, 3, 1, 2]  # NCHW axis i is NHWC axis _AXIS[i]

_UNARY = {f"relax.{n}" for n in ("astype", "nn.relu", "sigmoid", "tanh", "round", "clip", "exp", "sqrt", "negative",
                                 "abs", "erf", "floor", "ceil", "nn.gelu", "nn.silu")}
_BINARY = {f"relax.{n}" for n in ("add", "subtract", "multiply", "divide", "maximum", "minimum", "power")}
_REDUCE = {f"relax.{n}" for n in ("mean", "sum", "max", "min")}
_QDQ = {"relax.quantize", "relax.dequantize"}


def _op(call) -> str:
    return call.op.name if isinstance(call, Call) and isinstance(call.op, tvm.ir.Op) else ""


def _rank(e) -> int:
    shape = getattr(getattr(e, "ty", None), "shape", None)
    return len(shape) if shape is not None and hasattr(shape, "__len__") else -1


def _axes(call) -> list[int] | None:
    a = getattr(call.attrs, "axes", None)
    return None if a is None else [int(x) for x in a]


def _is_scalar_const(e) -> bool:
    return isinstance(e, Constant) and e.value.numpy().size == 1 and _rank(e) <= 1


@expr_functor.mutator
class _ChannelsLast(PyExprMutator):
    def __init__(self, mod: tvm.IRModule) -> None:
        super().__init__(mod)
        self.twin: dict = {}  # new NCHW var -> its NHWC twin (new var)

    # -- operands --------------------------------------------------------------------------
    def _nhwc_operand(self, e):
        """The NHWC form of an (already visited) operand, or None."""
        if isinstance(e, relax.Var) and e in self.twin:
            return self.twin[e]
        if isinstance(e, Constant):
            v = e.value.numpy()
            if v.ndim <= 1 and v.size == 1:
                return e
            if v.ndim <= 4 and _rank(e) >= 0:
                v4 = v.reshape((1,) * (4 - v.ndim) + v.shape)
                return relax.const(np.ascontiguousarray(v4.transpose(TO_NHWC)), str(v.dtype))
        rank = _rank(e)
        if rank == 0:
            return e
        shape = getattr(e.ty, "shape", None)
        if rank == 4 and all(isinstance(d, tvm.tirx.IntImm) for d in shape) and int(shape[2]) * int(shape[3]) == 1:
            return self.builder_.emit(relax.op.permute_dims(e, TO_NHWC))  # a [N, C, 1, 1] gate: C values
        return None

    # -- per op --------------------------------------------------------------------------------
    def _rewrite(self, call: Call):
        """The NHWC version of ``call`` (args already visited), or None."""
        name = _op(call)
        args = list(call.args)
        if name == "relax.permute_dims" and _axes(call) == TO_NHWC and args[0] in self.twin:
            return "alias", self.twin[args[0]]
        if _rank(call) != 4:
            return None
        if name == "relax.permute_dims" and _axes(call) == TO_NCHW and _rank(args[0]) == 4:
            return "twin", args[0]
        if not any(isinstance(a, relax.Var) and a in self.twin for a in args) and name != "relax.concat":
            return None
        if name in _UNARY:
            return "new", relax.Call(call.op, [self.twin[args[0]]] + args[1:], call.attrs)
        if name in _BINARY:
            new = [self._nhwc_operand(a) for a in args]
            if any(n is None for n in new):
                return None
            return "new", relax.Call(call.op, new, call.attrs)
        if name in _QDQ:
            if not all(_is_scalar_const(a) for a in args[1:3]):
                return None
            f = relax.op.quantize if name == "relax.quantize" else relax.op.dequantize
            return "new", f(self.twin[args[0]], args[1], args[2], axis=3, out_dtype=str(call.attrs.out_dtype))
        if name in _REDUCE and bool(call.attrs.keepdims) and call.attrs.axis is not None:
            axes = sorted(_AXIS[int(a) % 4] for a in call.attrs.axis)
            f = getattr(relax.op, name.split(".")[-1])
            return "new", f(self.twin[args[0]], axis=axes, keepdims=True)
        if name == "relax.nn.conv2d" and (call.attrs.data_layout, call.attrs.kernel_layout) == ("NCHW", "OIHW"):
            a = call.attrs
            return "new", relax.op.nn.conv2d(self.twin[args[0]], relax.op.permute_dims(args[1], TO_NHWC),
                                             strides=a.strides, padding=a.padding, dilation=a.dilation,
                                             groups=a.groups, data_layout="NHWC", kernel_layout="OHWI",
                                             out_layout="NHWC", out_dtype=a.out_dtype)
        if name in ("relax.nn.avg_pool2d", "relax.nn.max_pool2d") and str(call.attrs.layout) == "NCHW" \
                and str(call.attrs.out_layout) in ("NCHW", ""):
            # (PP-OCR rec's last pool: NCHW cost a transpose and a slower pool, 0.12 vs 0.01 ms)
            a = call.attrs
            f = relax.op.nn.avg_pool2d if name == "relax.nn.avg_pool2d" else relax.op.nn.max_pool2d
            return "new", f(self.twin[args[0]], [int(v) for v in a.pool_size], [int(v) for v in a.strides],
                            [int(v) for v in a.padding], [int(v) for v in a.dilation], bool(a.ceil_mode),
                            bool(a.count_include_pad), "NHWC", "NHWC")
        if name == "relax.image.resize2d" and str(call.attrs.layout) == "NCHW":
            a = call.attrs
            return "new", relax.op.image.resize2d(
                self.twin[args[0]], args[1], [float(v) for v in a.roi], "NHWC", str(a.method),
                str(a.coordinate_transformation_mode), str(a.rounding_method), float(a.cubic_alpha),
                int(a.cubic_exclude), float(a.extrapolation_value), a.out_dtype if str(a.out_dtype) else None)
        tup = self.lookup_binding(args[0]) if isinstance(args[0], relax.Var) else args[0]
        if name == "relax.concat" and isinstance(tup, relax.Tuple):
            fields = [self._nhwc_operand(f) for f in tup.fields]
            if any(f is None or not isinstance(f, relax.Expr) for f in fields) or call.attrs.axis is None:
                return None
            return "new", relax.op.concat(fields, axis=_AXIS[int(call.attrs.axis) % 4])
        return None

    def visit_var_binding_(self, binding: relax.VarBinding) -> None:
        value = self.visit_expr(binding.value)
        if isinstance(binding.var, relax.DataflowVar) and isinstance(value, Call):
            found = self._rewrite(value)
            if found is not None:
                kind, expr = found
                if kind == "alias":
                    self.set_var_remap(binding.var, expr)
                    return
                twin = expr if kind == "twin" else self.builder_.emit(expr)
                nchw = self.builder_.emit(value if kind == "twin" else relax.op.permute_dims(twin, TO_NCHW))
                self.twin[nchw] = twin
                self.set_var_remap(binding.var, nchw)
                return
        super().visit_var_binding_(binding)


def channels_last(mod: tvm.IRModule) -> tvm.IRModule:
    """Carry NHWC through the ops between int8 kernels (see the module docstring)."""
    for gv, func in list(mod.functions_items()):
        if isinstance(func, relax.Function):
            rw = _ChannelsLast(mod)
            rw.builder_.update_func(gv, rw.visit_expr(func))
            mod = rw.builder_.get()
    return relax.transform.DeadCodeElimination()(mod)
