"""Elementwise work after an int8 conv/matmul, moved into the kernel's epilogue.

A QDQ graph follows each conv with quantize -> dequantize -> activation -> quantize ... As separate
kernels these read and write the full float tensor once more per layer; fused here, the int8
kernel writes the next layer's int8 input directly (1 byte per value instead of 4 + 4 + 1).

find_epilogue() collects the elementwise bindings that depend only on the conv output and on
scalar or per-output-channel constants, up to the last value that nothing outside the group
needs. build() turns them into one TIR expression per output element, with the same arithmetic
TVM's legalization uses (quantize = clip(round(x / s) + zp), dequantize = (q - zp) * s).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import tvm
from tvm import relax, tirx

def _lanes(e) -> int:
    return int(e.ty.dtype.lanes)


def _same_lanes(a, b):
    """Broadcast a scalar operand to the other's vector width (the NHWC epilogue is vectorized)."""
    la, lb = _lanes(a), _lanes(b)
    if la == lb:
        return a, b
    return (tirx.Broadcast(a, lb), b) if la == 1 else (a, tirx.Broadcast(b, la))


def _bin(f):
    return lambda a, b: f(*_same_lanes(a, b))


_BINARY = {"relax.add": _bin(lambda a, b: a + b), "relax.subtract": _bin(lambda a, b: a - b),
           "relax.multiply": _bin(lambda a, b: a * b), "relax.divide": _bin(lambda a, b: a / b),
           "relax.maximum": _bin(tirx.max), "relax.minimum": _bin(tirx.min)}
_UNARY = ("relax.nn.relu", "relax.sigmoid", "relax.clip", "relax.quantize", "relax.dequantize")
# The ONNX importer lowers Clip/Max/Min to call_tir of these small PrimFuncs.
_TIR_BINARY = re.compile(r"^(maximum|minimum)\d*$")


@dataclass
class Epilogue:
    steps: list = field(default_factory=list)       # (var, call) in program order
    channel_consts: list = field(default_factory=list)  # (O,) float32 arrays -> the kernel's `ep` rows
    out_var: relax.Var | None = None
    out_dtype: str = "float32"
    _const_rows: dict = field(default_factory=dict)  # id(call arg) -> (row | scalar value)
    in_scale: float = 1.0  # the kernel multiplies its dequantize scale by this (fold_leading_scale)
    _prescaled: relax.Var | None = None  # the quantize whose 1/s is in in_scale

    def fold_leading_scale(self) -> None:
        """``quantize(conv * scale + bias, s)``, the usual start, as ``conv * (scale/s) + bias/s``:
        the 1/s joins the kernel's per-channel dequantize scale and the bias row, one vector
        multiply less per output vector (small-channel layers are epilogue-bound on AVX2). Same
        value up to the last bit (see affine.py)."""
        if not self.steps:
            return
        var, call = self.steps[0]
        bias_row = None
        if _name(call) == "relax.add":
            rows = [self._const_rows[a] for a in call.args if a in self._const_rows]
            if len(rows) != 1 or rows[0][0] != "row" or len(self.steps) < 2:
                return
            bias_row = rows[0][1]
            uses = sum(1 for _, c in self.steps for a in _args(c) if a.same_as(var))
            shared = sum(1 for _, c in self.steps for a in _args(c)
                         if a in self._const_rows and self._const_rows[a] == ("row", bias_row))
            if var.same_as(self.out_var) or uses != 1 or shared != 1:
                return
            var, call = self.steps[1]
        if _name(call) != "relax.quantize":
            return
        row = self._const_rows.get(call.args[1])
        if row is None or row[0] != "scalar" or row[1] == 0 or (bias_row is not None and not
                                                                call.args[0].same_as(self.steps[0][0])):
            return
        k = 1.0 / row[1]
        if bias_row is not None:
            self.channel_consts[bias_row] = (self.channel_consts[bias_row].astype(np.float64) * k).astype(np.float32)
        self.in_scale, self._prescaled = k, var

    def build(self, val, oc, ep, start: relax.Var):
        """The epilogue as a TIR expression of ``val`` (the dequantized conv output, scalar or vector)."""
        env = {start: val}
        rounded: dict = {}  # quantize result -> the same value before the int8 cast
        self._aff: dict = {}  # var -> (base, a, b): the value is base * a + b (scalar constants)
        for var, call in self.steps:
            env[var] = self._op(call, env, oc, ep, var, rounded)
        return env[self.out_var] if self.steps else val

    def _scalar(self, a) -> float | None:
        row = self._const_rows.get(a) if isinstance(a, relax.Expr) else None
        return row[1] if row is not None and row[0] == "scalar" else None

    def _affine(self, var, base, a: float, b: float, env):
        """``base * a + b`` where ``base`` is an env value (or its own affine form): chains of
        multiplies and adds by scalar constants (dequantize, BatchNorm-like affines, HardSwish's
        1/6, the next quantize's 1/s) fold into one multiply and one add, constants combined in
        float64 (LLVM keeps float operations in the order written; see affine.py)."""
        if isinstance(base, relax.Var):
            b0, a0, c0 = self._aff.get(base, (env[base], 1.0, 0.0))
            base, a, b = b0, a0 * a, c0 * a + b
        if var is not None:
            self._aff[var] = (base, a, b)
        e = base
        if a != 1.0:
            e = _BINARY["relax.multiply"](e, tirx.const(a, "float32"))
        if b != 0.0:
            e = _BINARY["relax.add"](e, tirx.const(b, "float32"))
        return e

    def _arg(self, a, env, oc, ep):
        if isinstance(a, relax.Var) and a in env:
            return env[a]
        kind, v = self._const_rows[a]
        return tirx.const(v, "float32") if kind == "scalar" else ep[v, oc]

    def _op(self, call, env, oc, ep, var, rounded: dict):
        name = _name(call)
        args = list(call.args[1]) if name == "call_tir" else list(call.args)
        if name == "call_tir":
            name = "relax." + _TIR_BINARY.match(call.args[0].name_hint).group(1)
        if name in ("relax.multiply", "relax.add", "relax.subtract", "relax.divide"):
            xs = [a for a in args if isinstance(a, relax.Var) and a in env]
            cs = [self._scalar(a) for a in args if a not in xs]
            if len(xs) == 1 and len(cs) == 1 and cs[0] is not None \
                    and (name in ("relax.multiply", "relax.add") or args[0] is xs[0]) \
                    and (name != "relax.divide" or cs[0] != 0):
                c = cs[0]
                a, b = {"relax.multiply": (c, 0.0), "relax.divide": (1.0 / c, 0.0),
                        "relax.add": (1.0, c), "relax.subtract": (1.0, -c)}[name]
                return self._affine(var, xs[0], a, b, env)
        if name == "relax.divide" and isinstance(args[1], relax.Expr) and args[1] in self._const_rows \
                and self._const_rows[args[1]][0] == "scalar":
            # x / c as x * (1/c): a vector divide costs ~5x a multiply here (HardSwish's /6)
            return _BINARY["relax.multiply"](self._arg(args[0], env, oc, ep),
                                             tirx.const(1.0 / self._const_rows[args[1]][1], "float32"))
        if name in _BINARY:
            return _BINARY[name](*(self._arg(a, env, oc, ep) for a in args))
        x = env[args[0]]
        if name == "relax.nn.relu":
            return _BINARY["relax.maximum"](x, tirx.const(0.0, "float32"))
        if name == "relax.sigmoid":
            return tirx.sigmoid(x)
        if name == "relax.clip":
            lo, hi = (float(_prim(v)) for v in args[1:3])
            return _BINARY["relax.minimum"](_BINARY["relax.maximum"](x, tirx.const(lo, "float32")), tirx.const(hi, "float32"))
        s, z = self._arg(args[1], env, oc, ep), self._arg(args[2], env, oc, ep)
        ss, zs = self._scalar(args[1]), self._scalar(args[2])
        if name == "relax.quantize":
            dt = str(call.attrs.out_dtype)
            if self._prescaled is not None and var.same_as(self._prescaled):
                scaled = x  # the kernel's scale and the bias row already include 1/s
            elif ss is not None:  # x * (1/s): a vector divide costs ~5x (qdq.py), folded into x's affine
                scaled = self._affine(None, args[0], 1.0 / ss, 0.0, env)
            else:
                scaled = _BINARY["relax.divide"](x, s)
            r = tirx.round(scaled)
            if zs != 0.0:
                r = _BINARY["relax.add"](r, z)
            r = _BINARY["relax.minimum"](r, tirx.max_value(dt).astype("float32"))
            r = _BINARY["relax.maximum"](r, tirx.min_value(dt).astype("float32"))
            rounded[var] = r
            return r.astype(dt if _lanes(r) == 1 else f"{dt}x{_lanes(r)}")
        # dequantize; of a quantize in this epilogue: the rounded float is exact, skip the casts
        xf = rounded.get(args[0])
        if xf is None:
            xf = x.astype("float32" if _lanes(x) == 1 else f"float32x{_lanes(x)}")
        if ss is not None and zs is not None:  # (q - z) * s, to be folded with what follows
            return self._affine(var, xf, ss, -zs * ss, env)
        return _BINARY["relax.multiply"](_BINARY["relax.subtract"](xf, z), s)


def _args(call) -> list:
    return list(call.args[1]) if _name(call) == "call_tir" else list(call.args)


def _prim(v):
    return v.value if hasattr(v, "value") else v


def _name(call) -> str:
    if isinstance(call, relax.Call) and isinstance(call.op, tvm.ir.Op):
        return "call_tir" if call.op.name == "relax.call_tir" else call.op.name
    return ""


def _supported(call) -> bool:
    name = _name(call)
    if name == "call_tir":
        return isinstance(call.args[0], relax.GlobalVar) and bool(_TIR_BINARY.match(call.args[0].name_hint)) \
            and len(call.args[1]) == 2
    if name in ("relax.quantize", "relax.dequantize"):
        return str(call.attrs.out_dtype) in ("int8", "uint8", "float32")
    return name in _BINARY or name in _UNARY


def _per_channel(vshape: tuple, shape: tuple, axis: int, n: int) -> bool:
    """Broadcasts along the output-channel axis only (numpy/Relax rules: align trailing dims)."""
    if len(vshape) > len(shape):
        return False
    full = (1,) * (len(shape) - len(vshape)) + tuple(vshape)
    return all(d == (n if i == axis % len(shape) else 1) for i, d in enumerate(full))


def users_of(var2val: dict) -> dict:
    users: dict = {}
    for v, e in var2val.items():
        for a in _var_args(e):
            users.setdefault(a, []).append(v)
    return users


def _var_args(e) -> list:
    if not isinstance(e, relax.Call):
        return []
    out = []
    for a in e.args:
        if isinstance(a, relax.Tuple):
            out += [f for f in a.fields if isinstance(f, relax.Var)]
        elif isinstance(a, relax.Var):
            out.append(a)
    return out


def find_epilogue(start: relax.Var, order: list, var2val: dict, users: dict, const_of, n_out: int,
                  channel_axis: int, boundary: frozenset = frozenset()) -> Epilogue:
    """The largest closed elementwise group after ``start`` (see the module docstring). Values in
    ``boundary`` (int8 inputs of other layers) end the group: the kernel must produce them."""
    shape = tuple(int(d) for d in start.ty.shape)
    group, best = {start}, Epilogue()
    steps, consts, rows = [], [], {}
    for var in order[order.index(start) + 1:]:
        call = var2val[var]
        if not _supported(call) or tuple(int(d) for d in var.ty.shape) != shape:
            continue
        args = list(call.args[1]) if _name(call) == "call_tir" else list(call.args)
        if _name(call) == "relax.clip":
            args = args[:1]
        ins = [a for a in args if isinstance(a, relax.Var) and a in group]
        if not ins or any(a in boundary for a in ins):
            continue
        ok = True
        for a in args:
            if isinstance(a, relax.Var) and a in group:
                continue
            v = const_of(a)
            if v is None:
                ok = False
                break
            v = np.asarray(v, np.float64)
            if v.size == 1:
                rows[a] = ("scalar", float(v.reshape(-1)[0]))
            elif _per_channel(v.shape, shape, channel_axis, n_out):
                rows[a] = ("row", len(consts))
                consts.append(v.reshape(-1).astype(np.float32))
            else:
                ok = False
                break
        if not ok:
            continue
        group.add(var)
        steps.append((var, call))
        inner = group - {var}
        closed = all(isinstance(g, relax.DataflowVar) and all(u in group for u in users.get(g, [])) for g in inner)
        if closed:
            best = Epilogue(list(steps), list(consts), var, str(var.ty.dtype), dict(rows))
    best.fold_leading_scale()
    return best
