#!/usr/bin/env python3
"""edgec vs ONNX Runtime on the operators beyond plain conv/matmul that real models also use.

tools/shape_grid.py covers conv / depthwise / matmul over a grid of shapes; unseen models bring
grouped and dilated convs, transposed convs, attention (activation x activation matmuls, softmax,
layer norm), pooling, resizing, concats and elementwise chains. One one-op (or few-op) ONNX model
per case, built in code at shapes taken from real networks, compiled with edgec's untuned
defaults, timed against ONNX Runtime in one process, alternating rounds (edgec's main with inputs
already on the device, as tools/shape_grid.py), table worst first. A
case edgec cannot compile is a row too ("error"), never a crash. Not a test: timings are noisy.

    python tools/op_grid.py                  # all cases, 1 thread, CPU-time clock
    python tools/op_grid.py --only pool,resize --json ops.json
"""
from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

Builder = Callable[[np.random.Generator], tuple[list, list, dict]]


def _conv(cin: int, cout: int, hw: int, k, stride: int = 1, group: int = 1, dilation: int = 1,
          pads=None) -> Builder:
    kh, kw = (k, k) if isinstance(k, int) else k

    def build(rng):
        from onnx import numpy_helper
        from onnx.helper import make_node

        w = (rng.standard_normal((cout, cin // group, kh, kw)) / math.sqrt(cin // group * kh * kw)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        p = pads or [dilation * (kh // 2), dilation * (kw // 2)] * 2
        nodes = [make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[kh, kw], strides=[stride] * 2, pads=p,
                           group=group, dilations=[dilation] * 2), make_node("Relu", ["c"], ["y"])]
        return nodes, [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")], \
            {"x": rng.standard_normal((1, cin, hw, hw)).astype(np.float32)}

    return build


def _conv_transpose(cin: int, cout: int, hw: int, k: int, stride: int, pad: int) -> Builder:
    def build(rng):
        from onnx import numpy_helper
        from onnx.helper import make_node

        w = (rng.standard_normal((cin, cout, k, k)) / math.sqrt(cin * k * k)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        nodes = [make_node("ConvTranspose", ["x", "w", "b"], ["c"], kernel_shape=[k, k], strides=[stride] * 2,
                           pads=[pad] * 4), make_node("Relu", ["c"], ["y"])]
        return nodes, [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")], \
            {"x": rng.standard_normal((1, cin, hw, hw)).astype(np.float32)}

    return build


def _unary(op: str, shape: tuple, **attrs) -> Builder:
    def build(rng):
        from onnx.helper import make_node

        return [make_node(op, ["x"], ["y"], **attrs)], [], {"x": rng.standard_normal(shape).astype(np.float32)}

    return build


def _attention_scores(heads: int, seq: int, dim: int) -> Builder:
    """Q K^T / sqrt(d), softmax, x V: the activation x activation half of a transformer layer."""
    def build(rng):
        from onnx import numpy_helper
        from onnx.helper import make_node

        scale = numpy_helper.from_array(np.array(1 / math.sqrt(dim), np.float32), "scale")
        nodes = [make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]), make_node("MatMul", ["q", "kt"], ["s"]),
                 make_node("Mul", ["s", "scale"], ["ss"]), make_node("Softmax", ["ss"], ["p"], axis=-1),
                 make_node("MatMul", ["p", "v"], ["y"])]
        feeds = {n: rng.standard_normal((1, heads, seq, dim)).astype(np.float32) for n in "qkv"}
        return nodes, [scale], feeds

    return build


def _layer_norm(seq: int, dim: int) -> Builder:
    def build(rng):
        from onnx import numpy_helper
        from onnx.helper import make_node

        g = numpy_helper.from_array(rng.standard_normal(dim).astype(np.float32), "g")
        b = numpy_helper.from_array(rng.standard_normal(dim).astype(np.float32), "b")
        return [make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1, epsilon=1e-5)], [g, b], \
            {"x": rng.standard_normal((1, seq, dim)).astype(np.float32)}

    return build


def _resize(shape: tuple, mode: str) -> Builder:
    def build(rng):
        from onnx import numpy_helper
        from onnx.helper import make_node

        scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
        attrs = {"mode": mode}
        if mode == "linear":
            attrs["coordinate_transformation_mode"] = "half_pixel"
        else:
            attrs.update(coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        return [make_node("Resize", ["x", "", "scales"], ["y"], **attrs)], [scales], \
            {"x": rng.standard_normal(shape).astype(np.float32)}

    return build


def _concat(n: int, shape: tuple) -> Builder:
    def build(rng):
        from onnx.helper import make_node

        names = [f"x{i}" for i in range(n)]
        return [make_node("Concat", names, ["y"], axis=1)], [], \
            {nm: rng.standard_normal(shape).astype(np.float32) for nm in names}

    return build


def _silu_bias(shape: tuple) -> Builder:
    """x + b, then x * sigmoid(x): YOLO/EfficientNet's activation after a per-channel bias."""
    def build(rng):
        from onnx import numpy_helper
        from onnx.helper import make_node

        b = numpy_helper.from_array(rng.standard_normal((1, shape[1], 1, 1)).astype(np.float32), "b")
        return [make_node("Add", ["x", "b"], ["a"]), make_node("Sigmoid", ["a"], ["s"]),
                make_node("Mul", ["a", "s"], ["y"])], [b], {"x": rng.standard_normal(shape).astype(np.float32)}

    return build


def _channel_shuffle(c: int, hw: int, groups: int) -> Builder:
    """ShuffleNet's Reshape -> Transpose -> Reshape."""
    def build(rng):
        from onnx import numpy_helper
        from onnx.helper import make_node

        s1 = numpy_helper.from_array(np.array([1, groups, c // groups, hw, hw], np.int64), "s1")
        s2 = numpy_helper.from_array(np.array([1, c, hw, hw], np.int64), "s2")
        return [make_node("Reshape", ["x", "s1"], ["r"]), make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3, 4]),
                make_node("Reshape", ["t", "s2"], ["y"])], [s1, s2], \
            {"x": rng.standard_normal((1, c, hw, hw)).astype(np.float32)}

    return build


def _gemm_transb(m: int, k: int, n: int) -> Builder:
    def build(rng):
        from onnx import numpy_helper
        from onnx.helper import make_node

        w = numpy_helper.from_array((rng.standard_normal((n, k)) / math.sqrt(k)).astype(np.float32), "w")
        b = numpy_helper.from_array(rng.standard_normal(n).astype(np.float32), "b")
        return [make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], [w, b], \
            {"x": rng.standard_normal((m, k)).astype(np.float32)}

    return build


def cases() -> dict[str, Builder]:
    """Shapes from ResNeXt/RegNet/ShuffleNet, U-Net/segmentation decoders, DeepLab, ResNet/Inception
    stems, BERT/MiniLM layers, YOLO necks and MobileNet heads."""
    return {
        "group conv3x3 g8 64->64 @56": _conv(64, 64, 56, 3, group=8),
        "group conv3x3 g32 128->128 @28": _conv(128, 128, 28, 3, group=32),
        "group conv1x1 g3 240->240 @28": _conv(240, 240, 28, 1, group=3),
        "dilated conv3x3 d2 64->64 @33": _conv(64, 64, 33, 3, dilation=2),
        "conv1x1/s2 64->128 @56": _conv(64, 128, 56, 1, stride=2, pads=[0, 0, 0, 0]),
        "conv7x7/s2 3->64 @224": _conv(3, 64, 224, 7, stride=2),
        "conv5x5 32->32 @40": _conv(32, 32, 40, 5),
        "conv1x7 64->64 @17": _conv(64, 64, 17, (1, 7)),
        "convT2x2/s2 64->32 @40": _conv_transpose(64, 32, 40, 2, 2, 0),
        "convT4x4/s2 128->64 @20": _conv_transpose(128, 64, 20, 4, 2, 1),
        "attention 12h seq128 d64": _attention_scores(12, 128, 64),
        "attention 4h seq49 d32": _attention_scores(4, 49, 32),
        "softmax 12x128x128": _unary("Softmax", (1, 12, 128, 128), axis=-1),
        "layernorm 128x384": _layer_norm(128, 384),
        "resize nearest 2x 64@40": _resize((1, 64, 40, 40), "nearest"),
        "resize bilinear 2x 32@80": _resize((1, 32, 80, 80), "linear"),
        "maxpool3x3/s2 64@112": _unary("MaxPool", (1, 64, 112, 112), kernel_shape=[3, 3], strides=[2, 2],
                                       pads=[1, 1, 1, 1]),
        "maxpool5x5/s1 128@20 (SPPF)": _unary("MaxPool", (1, 128, 20, 20), kernel_shape=[5, 5], pads=[2, 2, 2, 2]),
        "avgpool2x2/s2 64@56": _unary("AveragePool", (1, 64, 56, 56), kernel_shape=[2, 2], strides=[2, 2]),
        "global avgpool 1280@7": _unary("GlobalAveragePool", (1, 1280, 7, 7)),
        "reducemean hw 256@20": _unary("ReduceMean", (1, 256, 20, 20), axes=[2, 3], keepdims=1),
        "concat 4x64@40": _concat(4, (1, 64, 40, 40)),
        "silu+bias 96@56": _silu_bias((1, 96, 56, 56)),
        "hardswish 96@56": _unary("HardSwish", (1, 96, 56, 56)),
        "channel shuffle 116@28 g2": _channel_shuffle(116, 28, 2),
        "gemm transB 1x1280x1000": _gemm_transb(1, 1280, 1000),
        "gemm transB 64x512x512": _gemm_transb(64, 512, 512),
    }


def make_model(name: str, builder: Builder, seed: int = 0):
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    nodes, inits, feeds = builder(rng)
    inputs = [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v.shape)) for k, v in feeds.items()]
    graph = helper.make_graph(nodes, name.replace(" ", "_"), inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return onnx.shape_inference.infer_shapes(model), feeds


def measure(name: str, builder: Builder, work: Path, threads: int, runs: int, rounds: int, clock: str) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from shape_grid import measure_model

    model, feeds = make_model(name, builder)
    try:
        return measure_model(name, model, feeds, work, threads, runs, rounds, clock)
    except Exception as e:  # noqa: BLE001 - a row, not a crash: the table is the point
        return {"case": name, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"}


def table(rows: list[dict]) -> str:
    ok = sorted((r for r in rows if "ratio" in r), key=lambda r: -r["ratio"])
    out = [f"{'case':<34}{'edgec ms':>10}{'ORT ms':>9}{'ratio':>7}{'rel-L2':>9}{'compile s':>10}"]
    out += [f"{r['case']:<34}{r['edgec_ms']:10.3f}{r['ort_ms']:9.3f}{r['ratio']:7.2f}{r['rel_l2']:9.1e}"
            f"{r['compile_s']:10.1f}" for r in ok]
    out += [f"{r['case']:<34} error: {r['error']}" for r in rows if "error" in r]
    ratios = [r["ratio"] for r in ok]
    if ratios:
        out.append(f"geomean edgec/ORT {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}, "
                   f"worst {max(ratios):.2f}, cases {len(ratios)}, errors {len(rows) - len(ok)}")
    return "\n".join(out)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from shape_grid import grid_arguments, grid_clock

    ap = grid_arguments(__doc__.splitlines()[0])
    a = ap.parse_args()
    clock = grid_clock(ap, a)
    todo = {k: v for k, v in cases().items() if not a.only or any(s in k for s in a.only.split(","))}
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgec-ops-") as work:
        for i, (name, builder) in enumerate(todo.items(), 1):
            r = measure(name, builder, Path(work), a.threads, a.runs, a.rounds, clock)
            rows.append(r)
            msg = f"ratio {r['ratio']:.2f}" if "ratio" in r else r["error"]
            print(f"[ops {i}/{len(todo)}] {name}: {msg}", file=sys.stderr, flush=True)
    print(table(rows))
    print(f"clock: {clock}, median per run, {a.threads} thread(s)")
    if a.json:
        Path(a.json).write_text(json.dumps({"threads": a.threads, "clock": clock, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
