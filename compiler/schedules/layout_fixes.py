"""Repairs after TVM's ConvertLayout, which edgec's default CPU pipeline runs to make convs NHWC
(cpu_pipeline.py). Each repair is a miscompile found by tools/difftest.py (issue 16), reduced
and kept as a test in tests/compiler/test_miscompile_regressions.py.

layer_norm with several axes: ConvertLayout permutes the axes (NCHW axes [1, 2] -> NHWC
[2, 1] when the layer_norm follows a conv through a reduce/reshape) but leaves gamma and beta
alone, while TOPI's layer_norm indexes gamma/beta by the axes in *sorted* order. gamma [18, 7]
was read as if it were [7, 18] (difftest seed 16: Conv -> ReduceMax -> LayerNormalization(axis=-2),
rel-L2 0.6). The repair sorts the axes and transposes gamma/beta to match; FoldConstant then
folds the transpose of a constant.

A tuple output taken apart: for `gv = split(conv(x))[1]` (a Split whose other parts are unused,
as the int8 lowering leaves it after dead-code elimination), ConvertLayout emits
`gv = (t0, t1)[1]` over the transposed parts, and FuseOps then moves t0/t1 into a fused function
while the tuple still reads them: FuseTIR fails (`func_info_.global_name != "fused"`; difftest
--int8 --target rpi5 seeds 5220, 5235). CanonicalizeBindings folds `(t0, t1)[1]` to `t1`, and
dead-code elimination drops the unused part, before fusion.
"""
from __future__ import annotations

import tvm
from tvm import relax
from tvm.relax import expr_functor
from tvm.relax.expr_functor import PyExprMutator


@expr_functor.mutator
class _SortLayerNormAxes(PyExprMutator):
    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        if not isinstance(call, relax.Call) or call.op != tvm.ir.Op.get("relax.nn.layer_norm"):
            return call
        ndim = len(call.args[0].ty.shape)
        axes = [int(a) % ndim for a in call.attrs.axes]
        if axes == sorted(axes):
            return call
        perm = sorted(range(len(axes)), key=lambda i: axes[i])  # gamma's dims in sorted-axes order
        gamma, beta = (relax.op.permute_dims(t, perm) for t in call.args[1:3])
        a = call.attrs
        return relax.op.nn.layer_norm(call.args[0], gamma, beta, sorted(axes), float(a.epsilon), bool(a.center),
                                      bool(a.scale))


@tvm.transform.module_pass(opt_level=0, name="EdgecSortLayerNormAxes")
def sort_layer_norm_axes(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
    for gv, func in list(mod.functions_items()):
        if isinstance(func, relax.Function):
            rw = _SortLayerNormAxes(mod)
            new = rw.visit_expr(func)
            rw.builder_.update_func(gv, new)
            mod = rw.builder_.get()
    return mod


def tidy_after_layout() -> tvm.transform.Pass:
    """CanonicalizeBindings + DeadCodeElimination (see the module doc: tuple output taken apart)."""
    return tvm.transform.Sequential([relax.transform.CanonicalizeBindings(), relax.transform.DeadCodeElimination()],
                                    name="EdgecTidyAfterLayout")
