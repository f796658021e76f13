"""Constant folding of layout and arithmetic ops in numpy, before TVM's FoldConstant.

relax.transform.FoldConstant legalizes every call it visits, constant or not, and compiles each
constant subexpression to a native kernel with LLVM before running it: on YOLOX-tiny its three
runs before LegalizeOps cost ~40 of a 120 s compile (cProfile: 249 conv2d legalizations, 243
LLVM builds for weight transposes). The constants left at that point are almost all weights
going through permute_dims / reshape / expand_dims and small arithmetic, which numpy does in
microseconds. This pass folds those; TVM's FoldConstant then runs only if a call with all-
constant arguments is left that numpy does not cover (same results either way: both fold
exactly; float arithmetic in float32 as TVM does).
"""
from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.ir.expr import Constant
from tvm.relax import PyExprMutator, expr_functor

from edgec.compiler.kernels.layout import rewrite_functions


def _axes(v) -> list[int] | None:
    return None if v is None else [int(a) for a in v]


def _eval(name: str, attrs, args: list) -> np.ndarray | None:
    """numpy's result for op ``name`` on constant ``args``, or None when not covered."""
    a = args[0]
    if name == "relax.permute_dims":
        axes = _axes(attrs.axes)
        return np.transpose(a, axes) if axes is not None else np.transpose(a)
    if name == "relax.expand_dims":
        out = a
        for ax in sorted(int(x) if int(x) >= 0 else int(x) + a.ndim + len(attrs.axis) for x in attrs.axis):
            out = np.expand_dims(out, ax)
        return out
    if name == "relax.squeeze":
        axes = _axes(attrs.axis)
        return np.squeeze(a, tuple(axes)) if axes is not None else np.squeeze(a)
    if name == "relax.astype":
        return a.astype(str(attrs.dtype))
    binary = {"relax.add": np.add, "relax.subtract": np.subtract, "relax.multiply": np.multiply,
              "relax.maximum": np.maximum, "relax.minimum": np.minimum}
    if name in binary and len(args) == 2 and args[0].dtype == args[1].dtype:
        return binary[name](a, args[1]).astype(a.dtype)
    if name == "relax.negative":
        return np.negative(a)
    if name == "relax.take" and len(args) == 2 and args[1].dtype.kind in "iu":
        axis = 0 if attrs.axis is None else int(attrs.axis)
        return np.take(a if attrs.axis is not None else a.reshape(-1), args[1], axis=axis, mode="clip")
    return None


@expr_functor.mutator
class _NumpyFold(PyExprMutator):
    def __init__(self, mod: tvm.IRModule) -> None:
        super().__init__(mod)
        self.folded = 0
        self.left = 0  # all-constant calls numpy did not fold: TVM's FoldConstant must run

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        if not isinstance(call, relax.Call) or not isinstance(call.op, tvm.ir.Op):
            return call
        name = call.op.name
        args = [self._as_const(a) for a in call.args]
        if not args or args[0] is None:
            return call
        if name == "relax.reshape" and len(args) == 2 and isinstance(call.args[1], relax.ShapeExpr):
            try:
                shape = [int(d) for d in call.args[1].values]
            except (TypeError, ValueError):
                return call
            return self._const(call, args[0].value.numpy().reshape(shape))
        if any(a is None for a in args):
            return call
        consts = args
        try:
            out = _eval(name, call.attrs, [c.value.numpy() for c in consts])
        except Exception:  # noqa: BLE001 - attrs this code does not know: leave it to TVM
            out = None
        if out is None:
            self.left += 1
            return call
        return self._const(call, out)

    def _as_const(self, arg):
        """The constant ``arg`` is, directly or through a dataflow variable bound to one."""
        if isinstance(arg, Constant):
            return arg
        if isinstance(arg, relax.Var):
            bound = self.lookup_binding(arg)
            if isinstance(bound, Constant):
                return bound
        return None

    def _const(self, call: relax.Call, value: np.ndarray) -> relax.Expr:
        want = call.ty
        shape = getattr(want, "shape", None)
        try:
            if shape is not None and [int(d) for d in shape] != list(value.shape):
                self.left += 1
                return call
        except (TypeError, ValueError):
            pass
        if getattr(want, "dtype", None) is not None and str(want.dtype) != str(value.dtype):
            self.left += 1
            return call
        self.folded += 1
        return relax.const(np.ascontiguousarray(value))


def fold_constants_fast() -> tvm.transform.Pass:
    """numpy folding, then TVM's FoldConstant only where something is left for it."""

    @tvm.transform.module_pass(opt_level=0, name="EdgecFoldConstantsFast")
    def _pass(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        left = []

        def make(m):
            f = _NumpyFold(m)
            left.append(f)
            return f

        mod = rewrite_functions(mod, make)
        if any(f.left for f in left):
            mod = relax.transform.FoldConstant()(mod)
        return mod

    return _pass
