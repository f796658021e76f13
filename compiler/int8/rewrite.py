"""Relax rewrite: QDQ conv2d / matmul -> one integer kernel each.

TVM imports a QDQ model as float compute between quantize and dequantize:
    y = conv2d(dequantize(xq, sx, zx), dequantize(Wq, sw, 0))  [+ bias]
This pass replaces each such conv2d (groups=1, NCHW) or matmul with a constant right-hand side by
call_tir into edgec's int8 kernel (kernels.py): it reads xq itself (int8/uint8, 1 byte per value,
no float copy), keeps the weights as packed int8 constants, and folds dequantization, the zero
point and the elementwise ops that follow (bias, activation, the next quantize: epilogue.py)
into the epilogue. Layers it cannot take stay float - the static half of the speed guard:
depthwise and grouped convs have no dot-product reduction (they keep int8 weights, dequantized
in their kernel), and tiny reductions are faster in float. guard.py is the measured half.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import tvm
from tvm import relax
from tvm.ir.expr import Constant
from tvm.relax import Call, Expr, PyExprMutator, Var, expr_functor

from edgec.compiler.int8.epilogue import Epilogue, find_epilogue, users_of
from edgec.compiler.int8.float_layers import float_conv_int8_weights
from edgec.compiler.int8.isa import DotISA
from edgec.compiler.int8.qdq import KEEP_BEFORE, drop_float_qdq, droppable
from edgec.compiler.int8.kernels import (ConvSpec, conv_int8_func, epilogue_constants, kernel_params, pack_weights,
                                         weights_fit)

MIN_REDUCTION = 16  # C*KH*KW below this: pack + epilogue cost more than the dot products save


@dataclass
class Int8Stats:
    """What the rewrite did, for the manifest and --verbose."""

    int8_layers: int = 0
    int8_macs: int = 0
    float_layers: dict[str, int] = field(default_factory=dict)  # reason -> count
    weight_bytes: int = 0
    fused_epilogue_ops: int = 0
    guard_us: list = field(default_factory=list)  # [float, int8] microseconds per layer (measured guard)
    isa: str | None = None  # the instruction the kernels are built on (isa.py)

    def skip(self, reason: str) -> None:
        self.float_layers[reason] = self.float_layers.get(reason, 0) + 1

    def as_dict(self) -> dict:
        return {"int8_layers": self.int8_layers, "int8_macs": self.int8_macs,
                "float_layers": dict(self.float_layers), "int8_weight_bytes": self.weight_bytes,
                "fused_epilogue_ops": self.fused_epilogue_ops, "speed_guard_us": self.guard_us, "isa": self.isa}


def _const(expr: Expr, var2val: dict) -> np.ndarray | None:
    """Evaluate a constant subgraph (constants, reshape, dequantize, isnan/where) to numpy, else None."""
    while isinstance(expr, Var) and expr in var2val:
        expr = var2val[expr]
    if isinstance(expr, Constant):
        return expr.value.numpy()
    if not isinstance(expr, Call) or not isinstance(expr.op, tvm.ir.Op):
        return None
    name = expr.op.name
    if name == "relax.reshape":
        v = _const(expr.args[0], var2val)
        shape = expr.args[1]
        if v is None or not isinstance(shape, relax.ShapeExpr):
            return None
        return v.reshape([int(d) for d in shape.values])
    if name in ("relax.isnan", "relax.where"):  # the importer's NaN guard around Clip bounds
        vals = [_const(a, var2val) for a in expr.args]
        if any(v is None for v in vals):
            return None
        return np.isnan(vals[0]) if name == "relax.isnan" else np.where(*vals)
    if name == "relax.dequantize":
        q, s, z = (_const(a, var2val) for a in expr.args[:3])
        if q is None or s is None or z is None:
            return None
        bshape = [1] * q.ndim
        axis = int(expr.attrs.axis) % max(q.ndim, 1)
        if s.size > 1:
            bshape[axis] = s.size
        return (q.astype(np.float64) - z.reshape(bshape if z.size > 1 else ())) * s.reshape(bshape if s.size > 1 else ())
    return None


def _dequantize_of(expr: Expr, var2val: dict) -> Call | None:
    while isinstance(expr, Var) and expr in var2val:
        expr = var2val[expr]
    if isinstance(expr, Call) and isinstance(expr.op, tvm.ir.Op) and expr.op.name == "relax.dequantize":
        return expr
    return None


@dataclass
class _Match:
    spec: ConvSpec
    xq: Expr
    x_scale: float
    w_q: np.ndarray       # OIHW int8
    w_scale: np.ndarray   # per output channel
    out_shape: tuple


def _scalar(v: np.ndarray | None) -> float | None:
    return float(v.reshape(-1)[0]) if v is not None and v.size == 1 else None


def _activation(arg: Expr, var2val: dict):
    dq = _dequantize_of(arg, var2val)
    if dq is None:
        return None
    xq = dq.args[0]
    dtype = str(xq.ty.dtype) if hasattr(xq, "ty") else ""
    s, z = _scalar(_const(dq.args[1], var2val)), _scalar(_const(dq.args[2], var2val))
    if dtype not in ("int8", "uint8") or s is None or z is None or _const(xq, var2val) is not None:
        return None
    return xq, dtype, s, int(z)


def _weights(arg: Expr, var2val: dict, out_axis: int):
    dq = _dequantize_of(arg, var2val)
    if dq is None:
        return None
    q, s, z = (_const(a, var2val) for a in dq.args[:3])
    if q is None or s is None or z is None or q.dtype != np.int8 or np.any(z != 0):
        return None
    if s.size > 1 and int(dq.attrs.axis) % q.ndim != out_axis:
        return None
    return q, s.reshape(-1)


def match_conv(call: Call, var2val: dict, stats: Int8Stats) -> _Match | None:
    a = call.attrs
    if str(a.data_layout) != "NCHW" or str(a.kernel_layout) != "OIHW" or str(a.out_layout) != "NCHW":
        return None
    act = _activation(call.args[0], var2val)
    wts = _weights(call.args[1], var2val, out_axis=0)
    if act is None or wts is None:
        return None
    xq, dtype, sx, zx = act
    w_q, sw = wts
    if int(a.groups) != 1:
        stats.skip("grouped/depthwise conv (no dot-product reduction)")
        return None
    n, c, h, w = (int(d) for d in xq.ty.shape)
    o, _, kh, kw = w_q.shape
    if c * kh * kw < MIN_REDUCTION:
        stats.skip(f"reduction C*KH*KW < {MIN_REDUCTION}")
        return None
    pt, pl, pb, pr = (int(p) for p in a.padding)
    # channels last, like edgec's float kernels: the int8 tensors between layers are NHWC
    # (layout.py moves the graph's transposes out of the way)
    spec = ConvSpec(n, c, h, w, o, kh, kw, tuple(int(s) for s in a.strides), (pt, pl, pb, pr),
                    tuple(int(d) for d in a.dilation), in_layout="NHWC", out_layout="NHWC", x_dtype=dtype, x_zp=zx)
    out_shape = tuple(int(d) for d in call.ty.shape)
    if kh == kw == 1 and spec.stride == (1, 1) and spec.pad == (0, 0, 0, 0):
        # 1x1: one row of H*W pixels, so tiles never straddle a short row
        spec = ConvSpec(n, c, 1, h * w, o, in_layout="NHWC", out_layout="NHWC", x_dtype=dtype, x_zp=zx)
    return _Match(spec, xq, sx, w_q, sw, out_shape)


def _transposed(expr: Expr, var2val: dict) -> Expr | None:
    """The operand of permute_dims(x, [1, 0]) (Gemm transB imports as this), else None."""
    while isinstance(expr, Var) and expr in var2val:
        expr = var2val[expr]
    if isinstance(expr, Call) and isinstance(expr.op, tvm.ir.Op) and expr.op.name == "relax.permute_dims" \
            and expr.attrs.axes is not None and [int(a) for a in expr.attrs.axes] == [1, 0]:
        return expr.args[0]
    return None


def match_matmul(call: Call, var2val: dict, stats: Int8Stats) -> _Match | None:
    act = _activation(call.args[0], var2val)
    inner = _transposed(call.args[1], var2val)
    if inner is not None:  # x @ W.T with W [N, K]
        wts = _weights(inner, var2val, out_axis=0)
        wts = wts and (np.ascontiguousarray(wts[0].T), wts[1])
    else:
        wts = _weights(call.args[1], var2val, out_axis=1)
    if act is None or wts is None or wts[0].ndim != 2:
        return None
    xq, dtype, sx, zx = act
    w_q, sw = wts
    k, n_out = w_q.shape
    if k < MIN_REDUCTION:
        stats.skip(f"reduction K < {MIN_REDUCTION}")
        return None
    rows = int(np.prod([int(d) for d in list(xq.ty.shape)[:-1]]))
    spec = ConvSpec(1, k, 1, rows, n_out, in_layout="NHWC", out_layout="NHWC", x_dtype=dtype, x_zp=zx)
    return _Match(spec, xq, sx, np.ascontiguousarray(w_q.T)[:, :, None, None], sw,
                  tuple(int(d) for d in call.ty.shape))


@dataclass
class _Plan:
    match: _Match
    start: Var           # the conv/matmul output
    epilogue: Epilogue   # fused elementwise work; its out_var is the value the kernel produces


def _grouped_conv_int8_weights(x, wq, scale, strides, padding, dilation, groups):
    """A float grouped/depthwise conv that keeps its weights int8 in the library: the dequantize
    runs inside the conv kernel, where TVM cannot constant-fold it back to float32."""
    from tvm import te, topi

    w = te.compute(wq.shape, lambda o, i, h, k: wq[o, i, h, k].astype("float32") * scale[o], name="dequantize_w")
    return topi.nn.conv(x, w, strides, padding, dilation, groups, "NCHW", "OIHW")


@expr_functor.mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, isa: DotISA | None, stats: Int8Stats, plans: dict, var2val: dict) -> None:
        super().__init__(mod)
        self.isa, self.stats, self.plans, self.var2val = isa, stats, plans, var2val  # plans: final call -> _Plan
        self.planned = {var2val[p.start] for p in plans.values()}  # convs an int8 kernel replaces

    def _grouped(self, call: Call) -> Expr | None:
        """A float conv (depthwise, grouped, or a dense one no int8 kernel took) with int8 weights."""
        a = call.attrs
        if (int(a.groups) == 1 and self.isa is None) or str(a.data_layout) != "NCHW" \
                or str(a.kernel_layout) != "OIHW" or str(a.out_layout) != "NCHW":
            return None
        wts = _weights(call.args[1], self.var2val, out_axis=0)
        if wts is None:
            return None
        wq, sw = wts
        scale = np.broadcast_to(sw.astype(np.float32), (wq.shape[0],)).copy()
        self.stats.weight_bytes += wq.nbytes + scale.nbytes
        if self.isa is not None:  # a SIMD target: edgec's NHWC float kernel (float_layers.py)
            x = self.visit_expr(call.args[0])
            y = float_conv_int8_weights(self.builder_, x, wq, scale, a, self.isa.float_lanes)
            if y is not None:
                return y
            if int(a.groups) == 1:
                self.stats.weight_bytes -= wq.nbytes + scale.nbytes
                return None
        return self.builder_.call_te(_grouped_conv_int8_weights, self.visit_expr(call.args[0]), relax.const(wq),
                                     relax.const(scale), [int(v) for v in a.strides], [int(v) for v in a.padding],
                                     [int(v) for v in a.dilation], int(a.groups), primfunc_name_hint="conv2d_int8w")

    def _quantized_model_input(self, xq: Expr) -> bool:
        """xq = quantize(a parameter of the function): the model's (NCHW) input."""
        q = self.var2val.get(xq)
        return isinstance(q, Call) and isinstance(q.op, tvm.ir.Op) and q.op.name == "relax.quantize" \
            and isinstance(q.args[0], Var) and q.args[0] not in self.var2val

    def _is_conv(self, plan: "_Plan") -> bool:
        return self.var2val[plan.start].op == tvm.ir.Op.get("relax.nn.conv2d")

    def visit_call_(self, call: Call) -> Expr:
        plan = self.plans.get(call)
        if plan is None:
            if call.op == tvm.ir.Op.get("relax.nn.conv2d") and call not in self.planned:
                grouped = self._grouped(call)
                if grouped is not None:
                    return grouped
            return super().visit_call_(call)
        m, ep, isa, bb = plan.match, plan.epilogue, self.isa, self.builder_
        spec = m.spec
        out_dtype = ep.out_dtype if ep.steps else "float32"
        build = (lambda val, oc, buf: ep.build(val, oc, buf, plan.start)) if ep.steps else None
        conv = self._is_conv(plan)
        x_shape = tuple(int(d) for d in m.xq.ty.shape)
        out_shape = m.out_shape
        nchw_in = conv and self._quantized_model_input(m.xq)
        if nchw_in:  # the kernel's pack reads the model's NCHW input: no transpose pass over it
            spec = replace(spec, in_layout="NCHW")
        if conv:  # NCHW graph, NHWC kernel: transposes the layout pass cancels between layers
            x_shape, out_shape = (x_shape if nchw_in else _nhwc(x_shape)), _nhwc(m.out_shape)
        func = conv_int8_func(spec, isa, epilogue=build, ep_rows=len(ep.channel_consts), out_dtype=out_dtype,
                              x_shape=x_shape, out_param_shape=out_shape)
        gvar = bb.add_func(func.without_attr("global_symbol"), f"int8_conv{self.stats.int8_layers}")
        scale, corr = epilogue_constants(m.w_q, m.w_scale, m.x_scale, spec, isa)
        if ep.in_scale != 1.0:  # the epilogue's leading 1/s (Epilogue.fold_leading_scale)
            scale = (scale.astype(np.float64) * ep.in_scale).astype(np.float32)
        packed = pack_weights(m.w_q, isa)
        params = kernel_params(packed, scale, corr, np.stack(ep.channel_consts) if ep.channel_consts else None,
                               spec, isa)
        xq = self.visit_expr(m.xq)
        if conv and not nchw_in:
            xq = bb.emit(relax.op.permute_dims(xq, [0, 2, 3, 1]))
        y = bb.emit(relax.call_tir(gvar, [xq, relax.const(params)], out_ty=relax.TensorType(out_shape, out_dtype)))
        if conv:
            y = bb.emit(relax.op.permute_dims(y, [0, 3, 1, 2]))
        self.stats.int8_layers += 1
        self.stats.int8_macs += spec.macs
        self.stats.fused_epilogue_ops += len(ep.steps)
        self.stats.weight_bytes += params.nbytes
        return y


def _nhwc(shape: tuple) -> tuple:
    n, c, h, w = shape
    return (n, h, w, c)


def _program_order(func: relax.Function) -> list:
    return [b.var for block in func.body.blocks for b in block.bindings]


def _matches(func: relax.Function, var2val: dict, stats: Int8Stats) -> dict:
    conv2d, matmul = tvm.ir.Op.get("relax.nn.conv2d"), tvm.ir.Op.get("relax.matmul")
    out = {}
    for var in _program_order(func):
        call = var2val.get(var)
        if isinstance(call, Call) and call.op in (conv2d, matmul):
            m = match_conv(call, var2val, stats) if call.op == conv2d else match_matmul(call, var2val, stats)
            if m is not None:
                out[var] = m
    return out


def find_plans(func: relax.Function, stats: Int8Stats) -> tuple[dict, dict]:
    """Every conv/matmul the int8 kernel can take, in program order: {final call: plan}, var2val."""
    var2val = relax.analysis.get_var2val(func)
    order = [v for v in _program_order(func) if v in var2val]
    users = users_of(var2val)
    conv2d = tvm.ir.Op.get("relax.nn.conv2d")
    matches = _matches(func, var2val, stats)
    boundary = frozenset(m.xq for m in matches.values())
    plans: dict = {}
    for var, m in matches.items():
        call = var2val[var]
        ep = find_epilogue(var, order, var2val, users, lambda e: _const(e, var2val), m.spec.o,
                           1 if call.op == conv2d else -1, boundary)
        plans[var2val[ep.out_var] if ep.steps else call] = _Plan(m, var, ep)
    return plans, var2val


def drop_unused_qdq(mod: tvm.IRModule, stats: Int8Stats | None = None, keep_before: tuple = KEEP_BEFORE) -> tvm.IRModule:
    """Remove the fake-quant pairs no int8 kernel will read (qdq.py); counts the float layers.
    ``keep_before=()`` also drops those in front of float convs and products (faster, model-
    dependent accuracy: `edgec compile --drop-fake-quant`)."""
    stats = stats if stats is not None else Int8Stats()
    for gv, func in list(mod.functions_items()):
        if isinstance(func, relax.Function):
            var2val = relax.analysis.get_var2val(func)
            keep_q = frozenset(m.xq for m in _matches(func, var2val, stats).values())
            mod = drop_float_qdq(mod, gv, func, droppable(var2val, users_of(var2val), keep_q, keep_before))
    return mod


def lower_int8(mod: tvm.IRModule, isa: DotISA | None, stats: Int8Stats | None = None,
               keep=None, drop_qdq: bool = True) -> tvm.IRModule:
    """Rewrite the QDQ conv2d/matmul layers of every Relax function onto int8 kernels (none
    without ``isa``); grouped convs keep int8 weights in every case. ``drop_qdq`` first removes
    fake-quant pairs no int8 kernel reads (qdq.py). ``keep(index, plan) -> bool`` (the measured
    speed guard) can veto a layer."""
    stats = stats if stats is not None else Int8Stats()
    stats.isa = isa.name if isa is not None else None
    if drop_qdq and isa is not None:
        mod = drop_unused_qdq(mod, stats)
    for gv, func in list(mod.functions_items()):
        if not isinstance(func, relax.Function):
            continue
        # without a dot-product ISA only the grouped-conv weights change: no plans to find
        plans, var2val = find_plans(func, Int8Stats()) if isa is not None else ({}, relax.analysis.get_var2val(func))
        for c in [c for c, p in plans.items() if not weights_fit(p.match.w_q, isa)]:
            del plans[c]
            stats.skip(f"weights use -128 ({isa.name}'s int16 partial sums could overflow)")
        if keep is not None:
            vetoed = [c for i, (c, p) in enumerate(plans.items()) if not keep(i, p)]
            for c in vetoed:
                del plans[c]
                stats.skip("slower than float here (measured)")
        rw = _Rewriter(mod, isa, stats, plans, var2val)
        new = rw.visit_expr(func)
        rw.builder_.update_func(gv, new)
        mod = rw.builder_.get()
    mod = relax.transform.DeadCodeElimination()(mod)
    if isa is None:
        return mod
    from edgec.compiler.int8.layout import channels_last
    from edgec.compiler.kernels.layout import clip_to_min_max

    from edgec.compiler.int8.qdq import quantize_by_reciprocal

    from edgec.compiler.int8.requantize import fold_requantize

    mod = quantize_by_reciprocal(clip_to_min_max(mod))
    mod = channels_last(relax.transform.CanonicalizeBindings()(mod))  # Clip as maximum/minimum: elementwise ops it can carry
    from edgec.compiler.int8.affine import fold_affine

    from edgec.compiler.int8.float_layers import merge_weight_conversions

    mod = fold_requantize(mod)  # quantize -> dequantize between float ops without the int8 round trip
    mod = fold_affine(mod)  # the float layers' multiply/add chains as one multiply and one add
    from edgec.compiler.int8.concat_quant import fuse_concat_quantize

    mod = fuse_concat_quantize(mod)  # an FPN's upsample + concat + quantize: vectorized channel runs
    return merge_weight_conversions(mod)  # one kernel converts every float layer's int8 weights
