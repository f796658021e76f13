"""A depthwise conv between two NCHW edges of the graph stays NCHW.

Channels-last pays off across a chain of convs: the transposes happen once, at the graph's edges.
A depthwise conv that *is* the whole chain (its input is the model's NCHW input, its result
reaches the model's outputs through elementwise ops only) would pay an NCHW->NHWC transpose before
it and one back after it, two passes over memory around a memory-bound op: 50-66% of its time in
tools/shape_grid.py. Kept NCHW, it runs TVM's NCHW depthwise compute on the generic schedule,
which vectorizes along the output width: good for wide rows (measured 1.0-1.4x ORT at widths 28,
112, 160 where the channels-last version with its transposes was 1.5-2.2x), poor for narrow
ones (6-9x at width 7-14), so only wide, stride-1 ones stay.
"""
from __future__ import annotations

import tvm
from tvm import relax
from tvm.ir.expr import Constant
from tvm.relax.transform.legalize_ops.nn import _nn_conv2d

MIN_WIDTH = 28
_PASS_THROUGH = {f"relax.{n}" for n in ("add", "subtract", "multiply", "divide", "maximum", "minimum", "clip",
                                         "nn.relu", "sigmoid", "tanh", "nn.silu", "nn.gelu")}


def _is_wide_depthwise(call: relax.Call) -> bool:
    a = call.attrs
    if call.op != tvm.ir.Op.get("relax.nn.conv2d") or a.data_layout != "NCHW" or a.kernel_layout != "OIHW":
        return False
    data, weight = call.args
    try:
        n, c, h, w = (int(d) for d in data.ty.shape)
        o, i, kh, kw = (int(d) for d in weight.ty.shape)
    except (TypeError, ValueError, AttributeError):
        return False
    pad = [int(p) for p in a.padding]
    out_w = w + pad[1] + pad[-1] - (kw - 1) * int(a.dilation[1])
    return (isinstance(weight, Constant) and int(a.groups) == c == o and i == 1 and str(data.ty.dtype) == "float32"
            and [int(s) for s in a.strides] == [1, 1] and out_w >= MIN_WIDTH and out_w % 4 == 0)


def _edge_convs(func: relax.Function) -> set:
    """Bound vars of depthwise convs whose input is a parameter and whose users lead only to the
    function's result through elementwise ops."""
    params = {p for p in func.params}
    bindings, users = {}, {}
    for block in func.body.blocks:
        for b in block.bindings:
            bindings[b.var] = b.value
            if isinstance(b.value, relax.Call):
                for arg in b.value.args:
                    if isinstance(arg, relax.Var):
                        users.setdefault(arg, []).append(b.var)
            elif isinstance(b.value, relax.Var):
                users.setdefault(b.value, []).append(b.var)
            elif isinstance(b.value, relax.Tuple):
                for f in b.value.fields:
                    if isinstance(f, relax.Var):
                        users.setdefault(f, []).append(b.var)
    body_vars = {func.body.body} if isinstance(func.body.body, relax.Var) else set()
    if isinstance(func.body.body, relax.Tuple):
        body_vars = {f for f in func.body.body.fields if isinstance(f, relax.Var)}

    def reaches_output_only(v, depth=0) -> bool:
        if depth > 16:
            return False
        us = users.get(v, [])
        if not us:
            return v in body_vars
        for u in us:
            val = bindings[u]
            ok = isinstance(val, relax.Var) or isinstance(val, relax.Tuple) or (
                isinstance(val, relax.Call) and isinstance(val.op, tvm.ir.Op) and val.op.name in _PASS_THROUGH)
            if not ok or not reaches_output_only(u, depth + 1):
                return False
        return True

    out = set()
    for v, val in bindings.items():
        if isinstance(val, relax.Call) and val.op == tvm.ir.Op.get("relax.nn.conv2d") and _is_wide_depthwise(val) \
                and val.args[0] in params and reaches_output_only(v):
            out.add(v)
    return out


@relax.expr_functor.mutator
class _Legalize(relax.PyExprMutator):
    def __init__(self, mod: tvm.IRModule, targets: set) -> None:
        super().__init__(mod)
        self.targets = targets

    def visit_var_binding_(self, binding) -> None:
        if binding.var in self.targets:
            new = _nn_conv2d(self.builder_, binding.value)
            self.set_var_remap(binding.var, self.builder_.emit(new))
            return
        super().visit_var_binding_(binding)


@tvm.transform.module_pass(opt_level=0, name="EdgecKeepEdgeDepthwiseNCHW")
def keep_edge_depthwise_nchw(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
    """Legalize edge depthwise convs now, in NCHW, so ConvertLayout leaves them (and the
    elementwise ops after them) alone."""
    for gv, func in list(mod.functions.items()):
        if not isinstance(func, relax.Function) or not isinstance(func.body, relax.SeqExpr):
            continue
        targets = _edge_convs(func)
        if targets:
            rw = _Legalize(mod, targets)
            rw.builder_.update_func(gv, rw.visit_expr(func))
            mod = rw.builder_.get()
    return mod
