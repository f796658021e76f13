"""LSTM, GRU and RNN become plain ONNX ops, one cell per time step (TVM 0.27 imports none of them).

Why unrolled: edge models run short, fixed sequences (a VAD step, a 40-column OCR line); with a
static sequence length the time loop is a fixed chain of cells that fold, fuse and schedule like
any graph. The input projection of all steps is one MatMul (``X @ W^T + biases``, weights
transposed and biases summed once by folding when they are initializers); each step is one
MatMul with the recurrence weights plus the gate arithmetic, which TVM fuses into one kernel.
Forward, reverse and bidirectional, initial states, per-batch sequence lengths (masked steps keep
the state, their output is 0), peepholes, clip, input_forget, linear_before_reset, layout 1 and
the activation functions ONNX lists are handled.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgec.compiler.passes.graph_utils import copy_model, main_opset, rewrite_nodes
from edgec.compiler.passes.infer_shapes import fresh_shapes
from edgec.compiler.passes.registry import PassContext, register
from edgec.errors import UnsupportedOperatorError

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
# activation -> (uses alpha, uses beta, default alpha, default beta), as ONNX Runtime consumes the lists
_ACT_PARAMS = {"leakyrelu": (1, 0, 0.01, 0.0), "thresholdedrelu": (1, 0, 1.0, 0.0), "elu": (1, 0, 1.0, 0.0),
               "hardsigmoid": (1, 1, 0.2, 0.5), "affine": (1, 1, 1.0, 0.0), "scaledtanh": (1, 1, 1.0, 1.0)}
_SIMPLE = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "softsign": "Softsign", "softplus": "Softplus"}


class _Builder:
    """Emits nodes and constants with unique names under a prefix."""

    def __init__(self, graph: onnx.GraphProto, prefix: str, dtype: np.dtype, opset: int) -> None:
        self.graph, self.prefix, self.dtype, self.opset = graph, prefix, dtype, opset
        self.nodes: list[onnx.NodeProto] = []
        self.n = 0

    def name(self, hint: str) -> str:
        self.n += 1
        return f"{self.prefix}/{hint}_{self.n}"

    def const(self, value, hint: str = "c", dtype=None) -> str:
        name = self.name(hint)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=dtype or self.dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, out: "list[str] | None" = None, **attrs):
        outs = out or [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.name(op_type), **attrs))
        return outs[0] if n_out == 1 and out is None else outs

    def unsqueeze(self, x: str, axis: int, out: "list[str] | None" = None) -> str:
        """Unsqueeze with axes as an input (opset 13+) or an attribute (older models)."""
        if self.opset >= 13:
            return self.op("Unsqueeze", [x, self.const([axis], "axes", np.int64)], out=out)
        return self.op("Unsqueeze", [x], out=out, axes=[axis])

    def split(self, x: str, sizes: list[int], axis: int) -> list[str]:
        """Split into explicit sizes: an input from opset 13, an attribute before."""
        if self.opset >= 13:
            return self.op("Split", [x, self.const(sizes, "split", np.int64)], n_out=len(sizes), axis=axis)
        return self.op("Split", [x], n_out=len(sizes), axis=axis, split=sizes)

    def act(self, kind: tuple, x: str) -> str:
        fn, alpha, beta = kind
        if fn in _SIMPLE:
            return self.op(_SIMPLE[fn], [x])
        if fn == "leakyrelu":
            return self.op("LeakyRelu", [x], alpha=alpha)
        if fn == "thresholdedrelu":
            return self.op("ThresholdedRelu", [x], alpha=alpha)
        if fn == "elu":
            return self.op("Elu", [x], alpha=alpha)
        if fn == "hardsigmoid":
            return self.op("HardSigmoid", [x], alpha=alpha, beta=beta)
        if fn == "affine":
            return self.op("Add", [self.op("Mul", [x, self.const(alpha)]), self.const(beta)])
        # scaledtanh: alpha * tanh(beta * x)
        return self.op("Mul", [self.op("Tanh", [self.op("Mul", [x, self.const(beta)])]), self.const(alpha)])


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _activations(node: onnx.NodeProto, a: dict, num_dir: int, where: str) -> list[list[tuple]]:
    names = [s.decode() if isinstance(s, bytes) else s for s in a.get("activations", [])]
    per = len(DEFAULT_ACTS[node.op_type])
    names = names or DEFAULT_ACTS[node.op_type] * num_dir
    if len(names) == per and num_dir == 2:
        names = names * 2
    alphas, betas = list(a.get("activation_alpha", [])), list(a.get("activation_beta", []))
    out = []
    for n in names:
        fn = n.lower()
        if fn not in _SIMPLE and fn not in _ACT_PARAMS:
            err = UnsupportedOperatorError({node.op_type: where}, "ONNX")
            err.message = f"node '{where}' ({node.op_type}) uses activation {n!r}, which edgec does not lower"
            err.args = (err.message,)
            raise err
        ua, ub, da, db = _ACT_PARAMS.get(fn, (0, 0, 0.0, 0.0))
        alpha = alphas.pop(0) if ua and alphas else da
        beta = betas.pop(0) if ub and betas else db
        out.append((fn, float(alpha), float(beta)))
    return [out[i * per:(i + 1) * per] for i in range(num_dir)]


def _shape(graph: onnx.GraphProto, name: str) -> "list[int] | None":
    for vi in list(graph.input) + list(graph.value_info):
        if vi.name == name and vi.type.tensor_type.HasField("shape"):
            d = [x.dim_value if x.HasField("dim_value") else -1 for x in vi.type.tensor_type.shape.dim]
            return d if all(v > 0 for v in d) else None
    for t in graph.initializer:
        if t.name == name:
            return list(t.dims)
    return None


def _dtype(graph: onnx.GraphProto, name: str) -> np.dtype:
    for vi in list(graph.input) + list(graph.value_info):
        if vi.name == name:
            return helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
    for t in graph.initializer:
        if t.name == name:
            return helper.tensor_dtype_to_np_dtype(t.data_type)
    return np.dtype(np.float32)


def _lower(graph: onnx.GraphProto, node: onnx.NodeProto, index: int, opset: int) -> list[onnx.NodeProto]:
    op = node.op_type
    where = node.name or f"#{index} ({node.output[0] if node.output else '?'})"
    a = _attrs(node)
    ins = list(node.input) + [""] * (8 - len(node.input))
    x_shape = _shape(graph, ins[0])
    if x_shape is None or len(x_shape) != 3:
        err = UnsupportedOperatorError({op: where}, "ONNX")
        err.message = f"node '{where}' ({op}): its input '{ins[0]}' has no static shape; edgec unrolls {op} over a " \
                      "static sequence length"
        err.hint = "pin the model's input shapes with --input-shape NAME=D1,D2,..."
        err.args = (err.message,)
        raise err
    layout = int(a.get("layout", 0))
    direction = a.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    dirs = {"forward": ["f"], "reverse": ["r"], "bidirectional": ["f", "r"]}[direction]
    H = int(a["hidden_size"]) if "hidden_size" in a else (_shape(graph, ins[2]) or [0, 0, 0])[2]
    G = GATES[op]
    clip = a.get("clip")
    b = _Builder(graph, f"{node.name or node.output[0]}/{op.lower()}{index}", _dtype(graph, ins[0]), opset)
    acts = _activations(node, a, len(dirs), where)

    x = ins[0]
    if layout == 1:
        x = b.op("Transpose", [x], perm=[1, 0, 2])
    T, B = (x_shape[1], x_shape[0]) if layout == 1 else (x_shape[0], x_shape[1])
    seq = ins[4]
    mask_t = None
    if seq:  # step t runs for batch rows with t < sequence_lens[row]
        lens = b.unsqueeze(seq, 1)
        mask_t = lambda t: b.op("Less", [b.const(t, "t", np.int32), b.op("Cast", [lens], to=onnx.TensorProto.INT32)])  # noqa: E731
    zeros = b.const(np.zeros((B, H)), "zeros")

    ys, yhs, ycs = [], [], []
    for d, which in enumerate(dirs):
        idx = b.const(d, "dir", np.int64)
        f_acts = acts[d]
        w = b.op("Transpose", [b.op("Gather", [ins[1], idx], axis=0)], perm=[1, 0])  # [I, G*H]
        r = b.op("Gather", [ins[2], idx], axis=0)  # [G*H, H]
        # all steps' input projections in one 2-D product: [T*B, I] @ [I, G*H]
        xw = b.op("MatMul", [b.op("Reshape", [x, b.const([T * B, -1], "shape", np.int64)]), w])
        bias_r_h = None
        if ins[3]:
            bias = b.op("Gather", [ins[3], idx], axis=0)  # [2*G*H]
            wb, rb = b.split(bias, [G * H, G * H], 0)
            if op == "GRU":  # Rb_h sits inside the reset product (linear_before_reset) or after it
                rb_zr, bias_r_h = b.split(rb, [2 * H, H], 0)
                rb = b.op("Concat", [rb_zr, b.const(np.zeros(H), "zeros")], axis=0)
            xw = b.op("Add", [xw, b.op("Add", [wb, rb])])
        xw = b.op("Reshape", [xw, b.const([T, B, G * H], "shape", np.int64)])  # [T, B, G*H]
        s_ax = 1 if layout == 1 else 0  # initial states: [num_dir, B, H], or [B, num_dir, H] with layout 1
        h = b.op("Gather", [ins[5], idx], axis=s_ax) if ins[5] else zeros
        c = b.op("Gather", [ins[6], idx], axis=s_ax) if op == "LSTM" and ins[6] else zeros
        peep = b.split(b.op("Gather", [ins[7], idx], axis=0), [H] * 3, 0) if op == "LSTM" and ins[7] else None
        lbr = int(a.get("linear_before_reset", 0))
        if op == "GRU":
            r_zr, r_h = b.split(r, [2 * H, H], 0)
            r_zr_t, r_h_t = b.op("Transpose", [r_zr], perm=[1, 0]), b.op("Transpose", [r_h], perm=[1, 0])
        r_t = b.op("Transpose", [r], perm=[1, 0])  # [H, G*H]
        steps = range(T) if which == "f" else range(T - 1, -1, -1)
        outs = {}

        def clipped(v):
            return b.op("Clip", [v, b.const(-clip), b.const(clip)]) if clip is not None else v

        for t in steps:
            xt = b.op("Gather", [xw, b.const(t, "t", np.int64)], axis=0)  # [B, G*H]
            if op == "LSTM":
                gates = b.op("Add", [xt, b.op("MatMul", [h, r_t])])
                gi, go, gf, gc = b.split(gates, [H] * 4, 1)
                if peep:
                    gi = b.op("Add", [gi, b.op("Mul", [peep[0], c])])
                    gf = b.op("Add", [gf, b.op("Mul", [peep[2], c])])
                i_t = b.act(f_acts[0], clipped(gi))
                f_t = b.op("Sub", [b.const(1.0), i_t]) if a.get("input_forget", 0) else b.act(f_acts[0], clipped(gf))
                c_new = b.op("Add", [b.op("Mul", [f_t, c]), b.op("Mul", [i_t, b.act(f_acts[1], clipped(gc))])])
                if peep:
                    go = b.op("Add", [go, b.op("Mul", [peep[1], c_new])])
                h_new = b.op("Mul", [b.act(f_acts[0], clipped(go)), b.act(f_acts[2], c_new)])
            elif op == "GRU":
                xz, xr, xh = b.split(xt, [H] * 3, 1)
                if lbr:
                    hr = b.op("MatMul", [h, r_t])
                    hz, hrr, hh = b.split(hr, [H] * 3, 1)
                    if bias_r_h:
                        hh = b.op("Add", [hh, bias_r_h])
                else:
                    hz, hrr = b.split(b.op("MatMul", [h, r_zr_t]), [H] * 2, 1)
                z = b.act(f_acts[0], clipped(b.op("Add", [xz, hz])))
                rr = b.act(f_acts[0], clipped(b.op("Add", [xr, hrr])))
                if lbr:
                    cand = b.op("Add", [xh, b.op("Mul", [rr, hh])])
                else:
                    cand = b.op("Add", [xh, b.op("MatMul", [b.op("Mul", [rr, h]), r_h_t])])
                    if bias_r_h:
                        cand = b.op("Add", [cand, bias_r_h])
                cand = b.act(f_acts[1], clipped(cand))
                h_new = b.op("Add", [cand, b.op("Mul", [z, b.op("Sub", [h, cand])])])  # (1-z)*h~ + z*h
                c_new = None
            else:
                h_new = b.act(f_acts[0], clipped(b.op("Add", [xt, b.op("MatMul", [h, r_t])])))
                c_new = None
            y = h_new
            if mask_t is not None:
                m = mask_t(t)
                h_new = b.op("Where", [m, h_new, h])
                if c_new is not None:
                    c_new = b.op("Where", [m, c_new, c])
                y = b.op("Where", [m, y, zeros])
            h = h_new
            c = c_new if c_new is not None else c
            outs[t] = y
        ys.append(b.op("Concat", [b.unsqueeze(outs[t], 0) for t in range(T)], axis=0))  # [T, B, H]
        yhs.append(h)
        ycs.append(c)

    out = list(node.output) + [""] * (3 - len(node.output))
    if out[0]:  # Y: [T, num_dir, B, H], or [B, T, num_dir, H] with layout 1
        y = b.op("Concat", [b.unsqueeze(v, 1) for v in ys], axis=1)
        b.op("Transpose", [y], out=[out[0]], perm=[2, 0, 1, 3]) if layout == 1 else b.op("Identity", [y], out=[out[0]])
    for name, finals in ((out[1], yhs), (out[2], ycs)):
        if name and (finals is yhs or op == "LSTM"):
            s = b.op("Concat", [b.unsqueeze(v, 0) for v in finals], axis=0)  # [num_dir, B, H]
            b.op("Transpose", [s], out=[name], perm=[1, 0, 2]) if layout == 1 else b.op("Identity", [s], out=[name])
    return b.nodes


@register("lower_recurrent")
def lower_recurrent(model: onnx.ModelProto, ctx: PassContext) -> tuple[onnx.ModelProto, dict[str, int]]:
    if not any(n.op_type in GATES and n.domain in ("", "ai.onnx") for n in model.graph.node):
        return model, {"lowered": 0}
    model = fresh_shapes(copy_model(model))
    g = model.graph
    opset = main_opset(model)
    lowered = rewrite_nodes(g, lambda node, i, _done: _lower(g, node, i, opset)
                            if node.op_type in GATES and node.domain in ("", "ai.onnx") else None)
    from edgec.compiler.passes.fold_constants import fold_constants

    model, folded = fold_constants(model, ctx)  # transpose the weights and sum the biases once
    return model, {"lowered": lowered, "folded": folded["folded"]}
