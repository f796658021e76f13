"""Random valid ONNX graphs for differential testing (issue 16, ``tools/difftest.py``).

A small generator in the spirit of NNSmith (ASPLOS 2023): a graph grows one operator at a time
from a pool of live tensors; each operator's attributes are drawn at random and the result's shape
comes from ONNX shape inference on that one node, so attributes and shapes stay consistent. The
finished model must pass the ONNX checker, full shape inference and a run on ONNX Runtime with
finite outputs, or the generator draws again (deterministically: the same seed always gives the
same model).

Operators (opset 17): Conv (regular, depthwise, grouped, 1x1; strides 1-2, dilation 1-2,
symmetric/asymmetric/auto pads, bias or not), MaxPool/AveragePool (pads, ceil_mode,
count_include_pad, dilation), GlobalAveragePool/GlobalMaxPool, BatchNormalization, PRelu,
LeakyRelu, HardSwish, HardSigmoid, Sigmoid, Relu, Clip, Tanh, Pad (constant/reflect/edge),
Elu, Softplus, Abs, Add/Mul/Sub/Max/Min with broadcasting (constants and other live tensors),
Div by constants, Concat, Split, Slice (negative and strided), Reshape, Transpose, Flatten,
Squeeze/Unsqueeze, DepthToSpace/SpaceToDepth, MatMul (weights also through a constant Transpose),
Gemm, ConvTranspose (kernel == stride, or pads/output_padding/dilation; regular or depthwise),
Resize (nearest/linear, scales or sizes, four coordinate modes, four nearest modes), Softmax,
LayerNormalization, ReduceMean/Max/Min/Sum/L2; and composite patterns: residual blocks,
squeeze-excitation, attention (x @ x^T -> Softmax -> @ x), two-branch concat, swish, erf GELU,
h-swish written as Add/Clip/Mul/Div.
Sizes are odd on purpose: channels and widths 1-67.

``reduce_model`` shrinks a failing model while a predicate still holds (difftest's reducer).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
INT64_MAX = 2**63 - 1

# Relative frequency of each generator (composites included). Conv-like work dominates: that is
# where edgec's schedules do the most.
WEIGHTS = {
    "conv": 9, "residual": 3, "se": 1.5, "branches": 2, "pool": 4, "global_pool": 1.5, "batchnorm": 1.5,
    "act": 7, "pad": 2.5, "binary": 5, "concat": 2, "split": 1.5, "slice": 2, "reshape": 1.5,
    "transpose": 1.5, "flatten": 1, "matmul": 2.5, "gemm": 1.5, "attention": 1, "resize": 2, "softmax": 1.5,
    "layernorm": 1.5, "reduce": 1.5, "convtranspose": 2, "depth_space": 1.5, "unsqueeze": 1.5, "swish": 1,
    "gelu": 1, "hardswish_manual": 1,
}
FLOAT_OPS = tuple(WEIGHTS)


@dataclass(frozen=True)
class GenOptions:
    """What a model may contain. ``ops`` restricts the generators (names of WEIGHTS)."""

    min_ops: int = 2
    max_ops: int = 8
    max_elems: int = 12288  # per activation tensor (keeps each model ~1 s to compile and run)
    max_channels: int = 67
    max_width: int = 67
    ops: tuple[str, ...] = FLOAT_OPS
    extra_outputs: float = 0.3  # chance of a second graph output (a live tensor not yet consumed)


@dataclass
class _T:
    name: str
    shape: tuple[int, ...]


class InvalidOp(Exception):
    """This draw does not fit the chosen tensor: try another operator."""


@dataclass
class _Graph:
    rng: np.random.Generator
    opts: GenOptions
    nodes: list = field(default_factory=list)
    inits: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)
    pool: list = field(default_factory=list)   # live float tensors, oldest first
    used: set = field(default_factory=set)
    n: int = 0

    # -- building blocks ---------------------------------------------------------------------
    def fresh(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def const(self, value, prefix: str = "c") -> str:
        name = self.fresh(prefix)
        self.inits[name] = np.asarray(value)
        return name

    def weight(self, shape, fan_in: int | None = None) -> str:
        fan_in = fan_in or int(np.prod(shape[1:])) or 1
        return self.const(self.rng.normal(0, 1.0 / np.sqrt(fan_in), size=shape).astype(np.float32), "w")

    def uniform(self, shape, lo=-1.0, hi=1.0) -> str:
        return self.const(self.rng.uniform(lo, hi, size=shape).astype(np.float32), "k")

    def ints(self, values) -> str:
        return self.const(np.array(values, dtype=np.int64), "i")

    def shape_of(self, name: str) -> tuple[int, ...]:
        for t in self.pool:
            if t.name == name:
                return t.shape
        return tuple(self.inits[name].shape)

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs) -> list[_T]:
        """Add a node; its output shapes come from ONNX shape inference on the node alone."""
        outs = [self.fresh(op_type.lower() + "_") for _ in range(n_out)]
        node = helper.make_node(op_type, inputs, outs, name=self.fresh(op_type + "_"), **attrs)
        shapes = _infer_node(node, {i: self.shape_of(i) for i in inputs if i and i not in self.inits},
                             {i: self.inits[i] for i in inputs if i in self.inits})
        limit = self.opts.max_elems
        if any(s is None or any(d < 1 for d in s) or int(np.prod(s)) > limit for s in shapes):
            raise InvalidOp(f"{op_type}: output shape {shapes}")
        self.nodes.append(node)
        self.used.update(i for i in inputs if i)
        res = [_T(o, s) for o, s in zip(outs, shapes)]
        self.pool.extend(res)
        return res

    def pick(self, pred: Callable[[_T], bool] = lambda t: True) -> _T:
        """A live tensor, recent ones more likely (chains), older ones sometimes (branches)."""
        cands = [(i, t) for i, t in enumerate(self.pool) if pred(t)]
        if not cands:
            raise InvalidOp("no tensor fits")
        w = np.array([1.6 ** i for i, _ in cands])
        return cands[int(self.rng.choice(len(cands), p=w / w.sum()))][1]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]


def _infer_node(node, shapes: dict, consts: dict) -> list:
    g = helper.make_graph(
        [node], "n", [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v)) for k, v in shapes.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in node.output],
        [numpy_helper.from_array(v, k) for k, v in consts.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    try:
        inf = onnx.shape_inference.infer_shapes(m, strict_mode=True, data_prop=True)
    except Exception as e:  # noqa: BLE001 - onnx raises InferenceError and friends
        raise InvalidOp(f"{node.op_type}: {str(e).splitlines()[0][:200]}") from None
    out = []
    for o in inf.graph.output:
        t = o.type.tensor_type
        if not t.HasField("shape") or any(not d.HasField("dim_value") for d in t.shape.dim):
            out.append(None)
        else:
            out.append(tuple(int(d.dim_value) for d in t.shape.dim))
    return out


def _size(rng: np.random.Generator, hi: int, small_bias: bool = True) -> int:
    """1..hi, log-uniform-ish (small sizes more often), odd values common."""
    if hi <= 1:
        return 1
    v = int(np.exp(rng.uniform(0, np.log(hi + 1)))) if small_bias else int(rng.integers(1, hi + 1))
    return max(1, min(hi, v))


def _conv_out(n: int, k: int, s: int, d: int, pb: int, pe: int, ceil: bool = False) -> int:
    span = n + pb + pe - (k - 1) * d - 1
    if span < 0:
        return 0
    return (-(-span // s) if ceil else span // s) + 1


# -- operator generators: each takes the graph, adds nodes, raises InvalidOp if it cannot -------

def _is4(t: _T) -> bool:
    return len(t.shape) == 4


def gen_conv(g: _Graph, x: _T | None = None, co: int | None = None, same: bool = False) -> _T:
    x = x or g.pick(_is4)
    n, c, h, w = x.shape
    kind = "regular" if same else g.choice(["regular", "regular", "depthwise", "grouped", "pointwise"])
    group = 1
    if kind == "depthwise":
        group = c
        co = co or c * (2 if g.chance(0.2) and 2 * c <= g.opts.max_channels else 1)
    elif kind == "grouped":
        divs = [d for d in range(2, c) if c % d == 0]
        if not divs:
            kind = "regular"
        else:
            group = g.choice(divs)
            co = co or group * max(1, _size(g.rng, max(1, g.opts.max_channels // group)))
    co = co or _size(g.rng, g.opts.max_channels)
    if co % group:
        raise InvalidOp("co % group")
    if kind == "pointwise":
        kh = kw = 1
    elif same:
        kh = kw = g.choice([1, 3, 3, 5])
    else:
        kh = g.choice([1, 2, 3, 3, 3, 5, 7])
        kw = kh if g.chance(0.8) else g.choice([1, 2, 3, 5])
    dil = [1, 1]
    if not same and g.chance(0.2):
        dil = [g.choice([1, 2]) if kh > 1 else 1, g.choice([1, 2]) if kw > 1 else 1]
    strides = [1, 1] if same else ([s := g.choice([1, 1, 2]), s] if g.chance(0.85) else [g.choice([1, 2]), g.choice([1, 2])])
    attrs = {"kernel_shape": [kh, kw], "strides": strides, "dilations": dil, "group": group}
    mode = "same" if same else g.choice(["same", "same", "zero", "asym", "auto"])
    if mode == "auto" and dil != [1, 1]:
        mode = "same"  # ONNX Runtime: no dilation with SAME_UPPER/SAME_LOWER
    ek = [(kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1]
    if mode == "same":
        pads = [(ek[0] - 1) // 2, (ek[1] - 1) // 2, ek[0] - 1 - (ek[0] - 1) // 2, ek[1] - 1 - (ek[1] - 1) // 2]
    elif mode == "zero":
        pads = [0, 0, 0, 0]
    elif mode == "asym":
        pads = [int(g.rng.integers(0, ek[0])) if ek[0] > 1 else 0, int(g.rng.integers(0, ek[1])) if ek[1] > 1 else 0,
                int(g.rng.integers(0, ek[0] + 1)), int(g.rng.integers(0, ek[1] + 1))]
    if mode == "auto":
        attrs["auto_pad"] = g.choice(["SAME_UPPER", "SAME_LOWER", "VALID"])
        if attrs["auto_pad"] == "VALID" and (ek[0] > h or ek[1] > w):
            raise InvalidOp("kernel larger than input")
    else:
        attrs["pads"] = pads
        if _conv_out(h, kh, strides[0], dil[0], pads[0], pads[2]) < 1 or _conv_out(w, kw, strides[1], dil[1], pads[1], pads[3]) < 1:
            raise InvalidOp("kernel larger than padded input")
    ins = [x.name, g.weight((co, c // group, kh, kw))]
    if g.chance(0.75):
        ins.append(g.uniform((co,), -0.5, 0.5))
    return g.op("Conv", ins, **attrs)[0]


def gen_pool(g: _Graph) -> _T:
    x = g.pick(_is4)
    _, _, h, w = x.shape
    op = g.choice(["MaxPool", "AveragePool"])
    kh = g.choice([1, 2, 2, 3, 3, 5])
    kw = kh if g.chance(0.8) else g.choice([1, 2, 3])
    s = g.choice([1, 2, 2, 3]) if g.chance(0.85) else None
    strides = [s, s] if s else [g.choice([1, 2]), g.choice([1, 2])]
    attrs = {"kernel_shape": [kh, kw], "strides": strides}
    dil = [1, 1]
    if op == "MaxPool" and g.chance(0.15):
        dil = [g.choice([1, 2]), g.choice([1, 2])]
        attrs["dilations"] = dil
    ek = [(kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1]
    if g.chance(0.15) and max(strides) <= min(kh, kw):  # ORT: SAME with stride > kernel pads negatively
        attrs["auto_pad"] = g.choice(["SAME_UPPER", "SAME_LOWER", "VALID"])
        if attrs["auto_pad"] == "VALID" and (ek[0] > h or ek[1] > w):
            raise InvalidOp("pool window larger than input")
    else:
        # ONNX Runtime requires each pad to be smaller than the kernel
        pads = [int(g.rng.integers(0, k)) if g.chance(0.5) else 0 for k in (kh, kw, kh, kw)]
        attrs["pads"] = pads
        ceil = g.chance(0.2)
        if ceil:
            attrs["ceil_mode"] = 1
        if _conv_out(h, kh, strides[0], dil[0], pads[0], pads[2], ceil) < 1 or \
                _conv_out(w, kw, strides[1], dil[1], pads[1], pads[3], ceil) < 1:
            raise InvalidOp("pool window larger than padded input")
    if op == "AveragePool" and g.chance(0.5):
        attrs["count_include_pad"] = 1
    return g.op(op, [x.name], **attrs)[0]


def gen_global_pool(g: _Graph) -> _T:
    x = g.pick(lambda t: len(t.shape) >= 3)
    return g.op(g.choice(["GlobalAveragePool", "GlobalAveragePool", "GlobalMaxPool"]), [x.name])[0]


def gen_batchnorm(g: _Graph) -> _T:
    x = g.pick(_is4)
    c = x.shape[1]
    ins = [x.name, g.uniform((c,), 0.5, 1.5), g.uniform((c,), -0.5, 0.5), g.uniform((c,), -0.5, 0.5),
           g.uniform((c,), 0.5, 2.0)]
    return g.op("BatchNormalization", ins, epsilon=float(g.choice([1e-5, 1e-3])))[0]


def gen_act(g: _Graph, x: _T | None = None) -> _T:
    x = x or g.pick()
    op = g.choice(["Relu", "PRelu", "PRelu", "LeakyRelu", "HardSwish", "HardSigmoid", "Sigmoid", "Clip", "Clip", "Tanh",
                   "Elu", "Softplus", "Abs"])
    if op == "PRelu":
        r = len(x.shape)
        shapes = [(1,), (x.shape[-1],)]
        if r >= 3:
            shapes.append((x.shape[1],) + (1,) * (r - 2))
        if r == 4:
            shapes.append((1, x.shape[1], 1, 1))
        shape = g.choice(shapes)
        return g.op("PRelu", [x.name, g.uniform(shape, -0.5, 0.5)])[0]
    if op == "LeakyRelu":
        return g.op(op, [x.name], alpha=float(np.float32(g.rng.uniform(0.01, 0.5))))[0]
    if op == "Elu":
        return g.op(op, [x.name], alpha=float(np.float32(g.rng.uniform(0.5, 1.5))))[0]
    if op == "HardSigmoid":
        return g.op(op, [x.name], alpha=float(np.float32(g.rng.uniform(0.1, 0.5))),
                    beta=float(np.float32(g.rng.uniform(0.3, 0.7))))[0]
    if op == "Clip":
        lo = np.float32(g.choice([0.0, -1.0, -0.5, -6.0]))
        hi = np.float32(g.choice([6.0, 1.0, 0.5, 0.25]))
        which = g.choice(["both", "both", "min", "max"])
        ins = [x.name, g.const(lo, "lo") if which != "max" else "", g.const(hi, "hi") if which != "min" else ""]
        while ins[-1] == "":
            ins.pop()
        return g.op("Clip", ins)[0]
    return g.op(op, [x.name])[0]


def gen_pad(g: _Graph) -> _T:
    x = g.pick(_is4)
    _, c, h, w = x.shape
    mode = g.choice(["constant", "constant", "reflect", "edge"])
    pads = [0] * 8

    def amount(dim):
        hi = min(3, dim - 1) if mode == "reflect" else 3
        return int(g.rng.integers(0, hi + 1)) if hi > 0 else 0

    for ax, dim in ((2, h), (3, w)):
        pads[ax], pads[ax + 4] = amount(dim), amount(dim)
    if mode == "constant" and g.chance(0.2):
        pads[1], pads[5] = int(g.rng.integers(0, 3)), int(g.rng.integers(0, 3))
    if not any(pads):
        raise InvalidOp("no padding")
    ins = [x.name, g.ints(pads)]
    if mode == "constant" and g.chance(0.6):
        ins.append(g.const(np.float32(g.rng.uniform(-1, 1)), "v"))
    return g.op("Pad", ins, mode=mode)[0]


def _broadcasts_to(small: tuple, big: tuple) -> bool:
    if len(small) > len(big):
        return False
    return all(a == b or a == 1 for a, b in zip(small[::-1], big[::-1]))


def gen_binary(g: _Graph) -> _T:
    x = g.pick()
    op = g.choice(["Add", "Add", "Mul", "Sub", "Div", "Max", "Min"])
    others = [t for t in g.pool if t.name != x.name and _broadcasts_to(t.shape, x.shape)]
    if op == "Div":  # x / c with |c| in [0.5, 1.5]: a live divisor could be ~0
        shape = g.choice([x.shape, (1,), (), (x.shape[-1],)])
        c = g.rng.uniform(0.5, 1.5, size=shape) * g.rng.choice([-1.0, 1.0], size=shape)
        return g.op("Div", [x.name, g.const(np.asarray(c, np.float32), "k")])[0]
    if others and g.chance(0.5):
        y = g.choice(others).name
    else:
        r = len(x.shape)
        shapes = [x.shape, (1,), (), (x.shape[-1],)]
        if r >= 3:
            shapes.append((x.shape[1],) + (1,) * (r - 2))
        if r == 4:
            shapes.append((1, x.shape[1], 1, 1))
            shapes.append((1, 1, x.shape[2], 1))
        shape = g.choice(shapes)
        y = g.uniform(shape, 0.5, 1.5) if op == "Mul" else g.uniform(shape)
    ins = [x.name, y] if g.chance(0.7) else [y, x.name]
    return g.op(op, ins)[0]


def gen_concat(g: _Graph) -> _T:
    x = g.pick()
    r = len(x.shape)
    axis = g.choice([1, 1, r - 1] if r > 1 else [0])
    fits = [t for t in g.pool if len(t.shape) == r and all(a == b for i, (a, b) in enumerate(zip(t.shape, x.shape)) if i != axis)]
    parts = [x] + [g.choice(fits) for _ in range(int(g.rng.integers(1, 3)))]
    if g.chance(0.5):
        axis -= r
    return g.op("Concat", [p.name for p in parts], axis=axis)[0]


def gen_split(g: _Graph) -> _T:
    x = g.pick(lambda t: max(t.shape) >= 2)
    axes = [i for i, d in enumerate(x.shape) if d >= 2 and (i > 0 or len(x.shape) <= 2)]
    if not axes:
        raise InvalidOp("nothing to split")
    axis = g.choice(axes)
    d = x.shape[axis]
    k = min(d, g.choice([2, 2, 3]))
    if g.chance(0.3) and d % k == 0:
        outs = g.op("Split", [x.name], n_out=k, axis=axis)
    else:
        cuts = sorted(g.rng.choice(np.arange(1, d), size=k - 1, replace=False).tolist())
        sizes = np.diff([0, *cuts, d]).tolist()
        outs = g.op("Split", [x.name, g.ints(sizes)], n_out=k, axis=axis)
    return g.choice(outs)


def gen_slice(g: _Graph) -> _T:
    x = g.pick(lambda t: max(t.shape) >= 2)
    r = len(x.shape)
    cand = [i for i in range(r) if x.shape[i] >= 2 and (i > 0 or r <= 2)]
    if not cand:
        raise InvalidOp("nothing to slice")
    axes = sorted(set(int(a) for a in g.rng.choice(cand, size=min(len(cand), g.choice([1, 1, 2])), replace=False)))
    starts, ends, steps = [], [], []
    for a in axes:
        d = x.shape[a]
        step = g.choice([1, 1, 1, 2, -1])
        if step > 0:
            s = int(g.rng.integers(0, d - 1))
            e = int(g.rng.integers(s + 1, d + 1))
            s = s - d if g.chance(0.3) else s
            e = INT64_MAX if (e == d and g.chance(0.5)) else e
        else:
            s = int(g.rng.integers(1, d)) if g.chance(0.7) else -1
            e = -INT64_MAX if g.chance(0.3) else int(g.rng.integers(-1, s if s >= 0 else d - 1))
        starts.append(s)
        ends.append(e)
        steps.append(step)
    ins = [x.name, g.ints(starts), g.ints(ends), g.ints([a - r if g.chance(0.3) else a for a in axes])]
    if any(s != 1 for s in steps) or g.chance(0.5):
        ins.append(g.ints(steps))
    return g.op("Slice", ins)[0]


def gen_reshape(g: _Graph) -> _T:
    x = g.pick(lambda t: len(t.shape) >= 2)
    s = list(x.shape)
    r = len(s)
    how = g.choice(["flat", "merge", "split", "flat"])
    if how == "flat":
        new = [s[0], -1] if g.chance(0.5) else [0, -1]
    elif how == "merge" and r >= 3:
        i = int(g.rng.integers(1, r - 1))
        new = s[:i] + [s[i] * s[i + 1]] + s[i + 2:]
        new = [0 if (j == 0 and g.chance(0.5)) else v for j, v in enumerate(new)]
    else:
        i = int(g.rng.integers(1, r)) if r > 1 else 0
        divs = [d for d in range(2, s[i]) if s[i] % d == 0]
        if not divs:
            raise InvalidOp("prime dim")
        d = g.choice(divs)
        new = s[:i] + [d, -1 if g.chance(0.4) else s[i] // d] + s[i + 1:]
        if len(new) > 5:
            raise InvalidOp("rank")
    return g.op("Reshape", [x.name, g.ints(new)])[0]


def gen_transpose(g: _Graph) -> _T:
    x = g.pick(lambda t: len(t.shape) >= 2)
    perm = g.rng.permutation(len(x.shape)).tolist()
    if perm == sorted(perm):
        perm = perm[::-1]
    return g.op("Transpose", [x.name], perm=perm)[0]


def gen_flatten(g: _Graph) -> _T:
    x = g.pick(lambda t: len(t.shape) >= 2)
    return g.op("Flatten", [x.name], axis=int(g.rng.integers(0, len(x.shape) + 1)))[0]


def gen_matmul(g: _Graph) -> _T:
    x = g.pick(lambda t: len(t.shape) >= 2)
    k = x.shape[-1]
    mates = [t for t in g.pool if len(t.shape) >= 2 and t.shape[-2] == k and t.name != x.name
             and _broadcasts_to(t.shape[:-2], x.shape[:-2]) and int(np.prod(x.shape[:-1])) * t.shape[-1] <= g.opts.max_elems]
    if mates and g.chance(0.4):
        return g.op("MatMul", [x.name, g.choice(mates).name])[0]
    m = _size(g.rng, g.opts.max_channels)
    if g.chance(0.2):
        return g.op("MatMul", [g.weight((m, x.shape[-2]), x.shape[-2]), x.name])[0] if len(x.shape) == 2 else \
            g.op("MatMul", [x.name, g.weight((k, m), k)])[0]
    if g.chance(0.2):  # a weight stored transposed, as some exporters leave it: a constant subgraph to fold
        wt = g.op("Transpose", [g.weight((m, k), k)], perm=[1, 0])[0]
        y = g.op("MatMul", [x.name, wt.name])[0]
        g.pool.remove(wt)  # a constant, not an activation for later draws
    else:
        y = g.op("MatMul", [x.name, g.weight((k, m), k)])[0]
    if g.chance(0.5):  # the usual bias
        y = g.op("Add", [y.name, g.uniform((m,), -0.5, 0.5)])[0]
    return y


def gen_gemm(g: _Graph) -> _T:
    x = g.pick(lambda t: len(t.shape) == 2)
    trans_a = g.chance(0.2)
    mdim, k = (x.shape[1], x.shape[0]) if trans_a else x.shape
    n = _size(g.rng, g.opts.max_channels)
    trans_b = g.chance(0.5)
    attrs = {"transA": int(trans_a), "transB": int(trans_b)}
    if g.chance(0.3):
        attrs["alpha"] = float(np.float32(g.rng.uniform(0.5, 1.5)))
    ins = [x.name, g.weight((n, k) if trans_b else (k, n), k)]
    if g.chance(0.75):
        ins.append(g.uniform(g.choice([(n,), (1, n), (mdim, n), (mdim, 1)]), -0.5, 0.5))
        if g.chance(0.3):
            attrs["beta"] = float(np.float32(g.rng.uniform(0.5, 1.5)))
    return g.op("Gemm", ins, **attrs)[0]


def gen_resize(g: _Graph) -> _T:
    x = g.pick(_is4)
    n, c, h, w = x.shape
    mode = g.choice(["nearest", "nearest", "linear"])
    # (tf_half_pixel_for_nn left opset 13; ORT still accepts it, the spec and TVM do not)
    coord = g.choice(["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"])
    attrs = {"mode": mode, "coordinate_transformation_mode": coord}
    if mode == "nearest":
        attrs["nearest_mode"] = g.choice(["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])
    if g.chance(0.6):
        sh = g.choice([2.0, 2.0, 0.5, 3.0, 1.0])
        sw = sh if g.chance(0.7) else g.choice([2.0, 0.5, 1.0])
        return g.op("Resize", [x.name, "", g.const(np.array([1, 1, sh, sw], np.float32), "s")], **attrs)[0]
    oh, ow = _size(g.rng, min(g.opts.max_width, 2 * h + 1)), _size(g.rng, min(g.opts.max_width, 2 * w + 1))
    return g.op("Resize", [x.name, "", "", g.ints([n, c, oh, ow])], **attrs)[0]


def gen_softmax(g: _Graph) -> _T:
    x = g.pick()
    r = len(x.shape)
    return g.op("Softmax", [x.name], axis=int(g.rng.integers(-r, r)) if g.chance(0.5) else -1)[0]


def gen_layernorm(g: _Graph) -> _T:
    x = g.pick(lambda t: len(t.shape) >= 2)
    r = len(x.shape)
    axis = g.choice([-1, -1, -2]) if r >= 3 else -1
    tail = x.shape[axis:]
    ins = [x.name, g.uniform(tail, 0.5, 1.5)]
    if g.chance(0.8):
        ins.append(g.uniform(tail, -0.5, 0.5))
    return g.op("LayerNormalization", ins, axis=axis, epsilon=float(g.choice([1e-5, 1e-6, 1e-3])))[0]


def gen_reduce(g: _Graph) -> _T:
    x = g.pick(lambda t: len(t.shape) >= 2)
    r = len(x.shape)
    axes = sorted(set(int(a) for a in g.rng.choice(np.arange(1, r), size=min(r - 1, g.choice([1, 1, 2])), replace=False)))
    op = g.choice(["ReduceMean", "ReduceMax", "ReduceSum", "ReduceMin", "ReduceL2"])
    keep = int(g.chance(0.7))
    if op in ("ReduceSum",):  # opset 13+: axes are an input
        return g.op(op, [x.name, g.ints([a - r if g.chance(0.3) else a for a in axes])], keepdims=keep)[0]
    return g.op(op, [x.name], axes=axes, keepdims=keep)[0]


def gen_residual(g: _Graph) -> _T:
    """conv (same shape) -> activation [-> conv] -> Add with the block input."""
    x = g.pick(_is4)
    y = gen_conv(g, x, co=x.shape[1], same=True)
    y = gen_act(g, y)
    if g.chance(0.4):
        y = gen_conv(g, y, co=x.shape[1], same=True)
    return g.op("Add", [x.name, y.name] if g.chance(0.5) else [y.name, x.name])[0]


def gen_se(g: _Graph) -> _T:
    """Squeeze-excitation: GAP -> 1x1 conv -> Relu -> 1x1 conv -> Sigmoid/HardSigmoid -> Mul."""
    x = g.pick(_is4)
    c = x.shape[1]
    s = g.op("GlobalAveragePool", [x.name])[0]
    mid = max(1, c // g.choice([2, 4, 8]))
    s = g.op("Conv", [s.name, g.weight((mid, c, 1, 1)), g.uniform((mid,), -0.3, 0.3)], kernel_shape=[1, 1])[0]
    s = g.op("Relu", [s.name])[0]
    s = g.op("Conv", [s.name, g.weight((c, mid, 1, 1)), g.uniform((c,), -0.3, 0.3)], kernel_shape=[1, 1])[0]
    s = g.op(g.choice(["Sigmoid", "HardSigmoid"]), [s.name])[0]
    return g.op("Mul", [x.name, s.name])[0]


def gen_branches(g: _Graph) -> _T:
    """Two convs on one input, joined by Concat (channels) or Add (same shape)."""
    x = g.pick(_is4)
    join = g.choice(["Concat", "Add"])
    a = gen_conv(g, x, co=None, same=True)
    b = gen_conv(g, x, co=a.shape[1] if join == "Add" else None, same=True)
    if join == "Add":
        return g.op("Add", [a.name, b.name])[0]
    return g.op("Concat", [a.name, b.name], axis=1)[0]


def gen_attention(g: _Graph) -> _T:
    """x[.., T, D]: Softmax(x @ x^T * s) @ x."""
    x = g.pick(lambda t: len(t.shape) in (2, 3) and t.shape[-2] * t.shape[-2] * (t.shape[0] if len(t.shape) == 3 else 1)
               <= g.opts.max_elems)
    r = len(x.shape)
    xt = g.op("Transpose", [x.name], perm=list(range(r - 2)) + [r - 1, r - 2])[0]
    s = g.op("MatMul", [x.name, xt.name])[0]
    s = g.op("Mul", [s.name, g.const(np.float32(1.0 / np.sqrt(x.shape[-1])), "scale")])[0]
    p = g.op("Softmax", [s.name], axis=-1)[0]
    return g.op("MatMul", [p.name, x.name])[0]


def gen_convtranspose(g: _Graph) -> _T:
    """ConvTranspose: kernel == stride without pads (edgec rewrites it to Conv + DepthToSpace), or
    any kernel 1-4, stride 1-2, pads, output_padding, dilation; regular or depthwise."""
    x = g.pick(_is4)
    n, c, h, w = x.shape
    group = c if c > 1 and g.chance(0.2) else 1
    co = c if group > 1 else _size(g.rng, g.opts.max_channels)
    attrs: dict = {"group": group}
    if g.chance(0.4):
        s = g.choice([2, 2, 3])
        k = [s, s]
        attrs.update(kernel_shape=k, strides=[s, s])
    else:
        kh = g.choice([1, 2, 3, 3, 4])
        kw = kh if g.chance(0.8) else g.choice([1, 2, 3])
        k = [kh, kw]
        strides = [g.choice([1, 2, 2]), 0]
        strides[1] = strides[0] if g.chance(0.85) else g.choice([1, 2])
        attrs.update(kernel_shape=k, strides=strides)
        if g.chance(0.15):
            attrs["dilations"] = [g.choice([1, 2]) if kh > 1 else 1, g.choice([1, 2]) if kw > 1 else 1]
        dil = attrs.get("dilations", [1, 1])
        ek = [(kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1]
        if g.chance(0.6):
            attrs["pads"] = [int(g.rng.integers(0, ek[0])), int(g.rng.integers(0, ek[1])),
                             int(g.rng.integers(0, ek[0])), int(g.rng.integers(0, ek[1]))]
        if g.chance(0.25) and max(strides) > 1:
            attrs["output_padding"] = [int(g.rng.integers(0, max(strides[0], dil[0]))),
                                       int(g.rng.integers(0, max(strides[1], dil[1])))]
    ins = [x.name, g.weight((c, co // group, k[0], k[1]), c // group * k[0] * k[1])]
    if g.chance(0.7):
        ins.append(g.uniform((co,), -0.5, 0.5))
    return g.op("ConvTranspose", ins, **attrs)[0]


def gen_depth_space(g: _Graph) -> _T:
    """DepthToSpace (DCR or CRD; also as pixel shuffle: a conv to b*b*k channels first) or
    SpaceToDepth, block 2 or 3."""
    x = g.pick(_is4)
    _, c, h, w = x.shape
    b = g.choice([2, 2, 3])
    if g.chance(0.4):
        x = gen_conv(g, x, co=b * b * _size(g.rng, 7), same=True)
        c = x.shape[1]
    if c % (b * b) == 0 and g.chance(0.8):
        return g.op("DepthToSpace", [x.name], blocksize=b, mode=g.choice(["DCR", "CRD"]))[0]
    if h % b or w % b:
        raise InvalidOp("space not divisible by the block")
    return g.op("SpaceToDepth", [x.name], blocksize=b)[0]


def gen_unsqueeze(g: _Graph) -> _T:
    """Squeeze of unit axes (listed or implicit) or Unsqueeze of one or two new axes (rank <= 5)."""
    units = lambda t: [i for i, d in enumerate(t.shape) if d == 1 and i > 0]  # noqa: E731
    x = g.pick()
    r = len(x.shape)
    if units(x) and len(x.shape) > 1 and g.chance(0.5):
        axes = units(x)
        if g.chance(0.4) and len(axes) == sum(d == 1 for d in x.shape):
            return g.op("Squeeze", [x.name])[0]
        axes = [a - r if g.chance(0.3) else a for a in axes[:int(g.rng.integers(1, len(axes) + 1))]]
        return g.op("Squeeze", [x.name, g.ints(axes)])[0]
    k = 1 if r >= 4 or g.chance(0.7) else 2
    if r + k > 5:
        raise InvalidOp("rank")
    axes = sorted(int(a) for a in g.rng.choice(np.arange(1, r + k + 1), size=k, replace=False))
    axes = [a - (r + k) if g.chance(0.3) else a for a in axes]
    return g.op("Unsqueeze", [x.name, g.ints(axes)])[0]


def gen_swish(g: _Graph) -> _T:
    """x * Sigmoid(x) (SiLU, as exported by PyTorch before opset 22)."""
    x = g.pick()
    s = g.op("Sigmoid", [x.name])[0]
    return g.op("Mul", [x.name, s.name] if g.chance(0.5) else [s.name, x.name])[0]


def gen_gelu(g: _Graph) -> _T:
    """The erf GELU as exporters write it before opset 20: x * 0.5 * (1 + Erf(x / sqrt(2)))."""
    x = g.pick()
    d = g.op("Div", [x.name, g.const(np.float32(np.sqrt(2.0)), "k")])[0]
    e = g.op("Erf", [d.name])[0]
    a = g.op("Add", [e.name, g.const(np.float32(1.0), "k")])[0]
    m = g.op("Mul", [x.name, a.name])[0]
    return g.op("Mul", [m.name, g.const(np.float32(0.5), "k")])[0]


def gen_hardswish_manual(g: _Graph) -> _T:
    """x * Relu6(x + 3) / 6, the MobileNetV3 h-swish as TensorFlow/older exporters write it."""
    x = g.pick()
    a = g.op("Add", [x.name, g.const(np.float32(3.0), "k")])[0]
    c = g.op("Clip", [a.name, g.const(np.float32(0.0), "lo"), g.const(np.float32(6.0), "hi")])[0]
    m = g.op("Mul", [x.name, c.name])[0]
    return g.op("Div", [m.name, g.const(np.float32(6.0), "k")])[0]


GENERATORS: dict[str, Callable[[_Graph], _T]] = {
    "conv": gen_conv, "residual": gen_residual, "se": gen_se, "branches": gen_branches, "pool": gen_pool,
    "global_pool": gen_global_pool, "batchnorm": gen_batchnorm, "act": gen_act, "pad": gen_pad, "binary": gen_binary,
    "concat": gen_concat, "split": gen_split, "slice": gen_slice, "reshape": gen_reshape, "transpose": gen_transpose,
    "flatten": gen_flatten, "matmul": gen_matmul, "gemm": gen_gemm, "attention": gen_attention, "resize": gen_resize,
    "softmax": gen_softmax, "layernorm": gen_layernorm, "reduce": gen_reduce, "convtranspose": gen_convtranspose,
    "depth_space": gen_depth_space, "unsqueeze": gen_unsqueeze, "swish": gen_swish, "gelu": gen_gelu,
    "hardswish_manual": gen_hardswish_manual,
}


def _input_shape(g: _Graph) -> tuple[int, ...]:
    o, rng = g.opts, g.rng
    kind = g.choice(["nchw"] * 7 + ["seq"] * 2 + ["mat"])
    if kind == "nchw":
        n = 2 if g.chance(0.15) else 1
        c = _size(rng, o.max_channels)
        h = _size(rng, o.max_width, small_bias=g.chance(0.5))
        w = h if g.chance(0.5) else _size(rng, o.max_width, small_bias=g.chance(0.5))
        while n * c * h * w > o.max_elems // 2:
            h, w = (max(1, h // 2), w) if h >= w else (h, max(1, w // 2))
        return (n, c, h, w)
    if kind == "seq":
        b = g.choice([1, 1, 2, 3])
        return (b, _size(rng, 40), _size(rng, o.max_channels))
    return (_size(rng, 40), _size(rng, o.max_channels))


def _attempt(seed: int, attempt: int, opts: GenOptions) -> onnx.ModelProto | None:
    rng = np.random.default_rng([seed, attempt])
    g = _Graph(rng, opts)
    shape = _input_shape(g)
    g.inputs.append(helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape)))
    g.pool.append(_T("x", shape))
    if g.chance(0.1):  # a second input, broadcastable onto the first
        s2 = tuple(d if g.chance(0.7) else 1 for d in shape)
        g.inputs.append(helper.make_tensor_value_info("x2", TensorProto.FLOAT, list(s2)))
        g.pool.append(_T("x2", s2))
    names = [k for k in opts.ops if k in GENERATORS]
    w = np.array([WEIGHTS[k] for k in names], dtype=float)
    target = int(rng.integers(opts.min_ops, opts.max_ops + 1))
    done, tries = 0, 0
    while done < target and tries < 20 * target:
        tries += 1
        kind = names[int(rng.choice(len(names), p=w / w.sum()))]
        mark = (len(g.nodes), len(g.pool), set(g.used), dict(g.inits))
        try:
            GENERATORS[kind](g)
            done += 1
        except InvalidOp:
            g.nodes, g.pool, g.used, g.inits = g.nodes[:mark[0]], g.pool[:mark[1]], mark[2], mark[3]
    if not g.nodes:
        return None
    inputs = {vi.name for vi in g.inputs}
    # outputs: the newest tensor nothing reads, sometimes one or two more such leaves
    leaves = [t for t in reversed(g.pool) if t.name not in g.used and t.name not in inputs]
    if not leaves:
        return None
    outs = leaves[:1] + [t for t in leaves[1:3] if g.chance(opts.extra_outputs)]
    # inputs nothing reads are dropped (a second input that no op picked)
    live_inputs = [vi for vi in g.inputs if vi.name in g.used]
    if not live_inputs:
        return None
    graph = helper.make_graph(
        g.nodes, f"random_{seed}", live_inputs,
        [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.shape)) for t in outs],
        [numpy_helper.from_array(v, k) for k, v in g.inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgec-random-graphs")
    m.ir_version = 8
    return prune_dead(m)


def random_inputs(model: onnx.ModelProto, seed: int) -> dict[str, np.ndarray]:
    """Uniform [-1, 1] inputs for ``model`` (float32), deterministic per seed."""
    rng = np.random.default_rng([seed, 7])
    return {vi.name: rng.uniform(-1, 1, [d.dim_value for d in vi.type.tensor_type.shape.dim]).astype(np.float32)
            for vi in model.graph.input}


def ort_run(model: onnx.ModelProto, feeds: dict, optimize: bool = False) -> dict[str, np.ndarray]:
    """Run ``model`` on ONNX Runtime's CPU provider, graph optimizations off unless ``optimize``."""
    import onnxruntime as ort

    ort.set_default_logger_severity(4)  # invalid draws are expected; ORT would log each one
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    ro = ort.RunOptions()
    ro.log_severity_level = 4
    return dict(zip(names, sess.run(names, feeds, ro)))


def is_valid(model: onnx.ModelProto, seed: int = 0) -> bool:
    """Checker, strict shape inference with the declared output shapes, and a finite ORT run."""
    try:
        onnx.checker.check_model(model, full_check=True)
        inf = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
        declared = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
        for o in inf.graph.output:
            if [d.dim_value for d in o.type.tensor_type.shape.dim] != declared[o.name]:
                return False
        outs = ort_run(model, random_inputs(model, seed))
    except Exception:  # noqa: BLE001 - any failure means: not a valid model
        return False
    return all(np.all(np.isfinite(v)) and list(v.shape) == declared[k] for k, v in outs.items())


def random_model(seed: int, opts: GenOptions = GenOptions()) -> onnx.ModelProto:
    """A valid random model, the same one for the same ``seed`` and ``opts``."""
    for attempt in range(100):
        m = _attempt(seed, attempt, opts)
        if m is not None and is_valid(m, seed):
            return m
    raise RuntimeError(f"no valid model for seed {seed} in 100 attempts")


def op_histogram(model: onnx.ModelProto) -> dict[str, int]:
    h: dict[str, int] = {}
    for n in model.graph.node:
        h[n.op_type] = h.get(n.op_type, 0) + 1
    return h


# -- reduction ---------------------------------------------------------------------------------

def prune_dead(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop nodes, initializers and inputs that no graph output depends on."""
    g = model.graph
    need = {o.name for o in g.output}
    keep = []
    for node in reversed(list(g.node)):
        if any(o in need for o in node.output):
            keep.append(node)
            need.update(i for i in node.input if i)
    keep.reverse()
    m = copy.deepcopy(model)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    inits = [t for t in g.initializer if t.name in need]
    del m.graph.initializer[:]
    m.graph.initializer.extend(inits)
    ins = [i for i in g.input if i.name in need]
    del m.graph.input[:]
    m.graph.input.extend(ins)
    del m.graph.value_info[:]
    return m


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    inf = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    out = {}
    for vi in list(inf.graph.value_info) + list(inf.graph.input) + list(inf.graph.output):
        out[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    return out


def _vi(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def _candidates(model: onnx.ModelProto):
    """Smaller variants of ``model``, most aggressive first."""
    shapes = _shapes(model)
    g = model.graph
    produced = [o for n in g.node for o in n.output]
    # 1. make one intermediate tensor the only output (drops everything after it)
    for name in produced:
        if name in shapes and name not in {o.name for o in g.output}:
            m = copy.deepcopy(model)
            del m.graph.output[:]
            m.graph.output.append(_vi(name, shapes[name]))
            yield f"output {name}", prune_dead(m)
    # 2. drop one of several outputs
    if len(g.output) > 1:
        for i in range(len(g.output)):
            m = copy.deepcopy(model)
            del m.graph.output[i]
            yield f"drop output {g.output[i].name}", prune_dead(m)
    # 3. cut at a tensor: it becomes a graph input (drops everything before it)
    for name in produced:
        if name in shapes and name not in {o.name for o in g.output}:
            m = copy.deepcopy(model)
            m.graph.input.append(_vi(name, shapes[name]))
            for n in m.graph.node:
                if name in n.output:
                    n.output[list(n.output).index(name)] = name + "_cut"
            yield f"input {name}", prune_dead(m)
    # 4. bypass a node whose first input has its output's shape
    outputs = {o.name for o in g.output}
    for i, node in enumerate(g.node):
        if len(node.output) != 1 or not node.input or node.output[0] in outputs:
            continue
        src, dst = node.input[0], node.output[0]
        if src not in shapes or dst not in shapes or shapes[src] != shapes[dst]:
            continue
        m = copy.deepcopy(model)
        del m.graph.node[i]
        for n in m.graph.node:
            for j, x in enumerate(n.input):
                if x == dst:
                    n.input[j] = src
        yield f"bypass {node.op_type}", prune_dead(m)
    # 5. smaller spatial input sizes (weights stay; invalid variants are rejected by is_valid)
    for k, vi in enumerate(g.input):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        for ax in range(len(dims) - 1, 0, -1):
            for new in sorted({dims[ax] // 2, dims[ax] - 1} - {0, dims[ax]}):
                m = copy.deepcopy(model)
                m.graph.input[k].type.tensor_type.shape.dim[ax].dim_value = new
                try:
                    sh = _shapes(m)
                except Exception:  # noqa: BLE001
                    continue
                for o in m.graph.output:
                    if o.name in sh:
                        del o.type.tensor_type.shape.dim[:]
                        for d in sh[o.name]:
                            o.type.tensor_type.shape.dim.add().dim_value = d
                yield f"{vi.name}[{ax}] {dims[ax]}->{new}", m


def model_size(model: onnx.ModelProto) -> tuple[int, int, int]:
    elems = sum(int(np.prod([d.dim_value for d in vi.type.tensor_type.shape.dim])) for vi in model.graph.input)
    return len(model.graph.node), len(model.graph.output), elems


def reduce_model(model: onnx.ModelProto, still_fails: Callable[[onnx.ModelProto], bool], max_steps: int = 200,
                 log: Callable[[str], None] | None = None, max_seconds: float | None = None) -> onnx.ModelProto:
    """Greedy reduction: take the first strictly smaller (nodes, outputs, input elements) valid
    variant that ``still_fails``, repeat until none does (or ``max_steps`` predicate calls, or
    ``max_seconds``: on a loaded machine one reduction took 10 minutes of a long run)."""
    import time

    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    steps = 0
    improved = True
    while improved and steps < max_steps and (deadline is None or time.monotonic() < deadline):
        improved = False
        for what, cand in _candidates(model):
            if not cand.graph.node or not cand.graph.input or model_size(cand) >= model_size(model) or not is_valid(cand):
                continue
            steps += 1
            if still_fails(cand):
                model = cand
                improved = True
                if log:
                    log(f"reduced: {what} -> {len(model.graph.node)} nodes")
                break
            if steps >= max_steps or (deadline is not None and time.monotonic() >= deadline):
                break
    return model
