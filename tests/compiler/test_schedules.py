"""Every CPU schedule path against ONNX Runtime on odd shapes: prime channel counts, stride 2,
1x1, 7x7, depthwise, grouped, batch > 1, non-divisible matmul widths, ConvTranspose, pooling,
softmax/layernorm, and padding consumers after a reduction. Each also checks that the fast
(register-tiled) path really ran, so a silent fallback cannot pass as success."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgec
from edgec.verification import DEFAULT_RTOL_L2


def _model(nodes, inputs, outputs, inits, opset=17):
    g = helper.make_graph(nodes, "t", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def conv_model(n, ci, co, hw, k, stride=1, group=1, pad=None, bias=True, act="Relu"):
    rng = np.random.default_rng(ci * 100 + co)
    pad = k // 2 if pad is None else pad
    inits = {"w": rng.normal(0, 0.3, (co, ci // group, k, k)).astype(np.float32)}
    ins = ["x", "w"]
    if bias:
        inits["b"] = rng.normal(0, 0.1, co).astype(np.float32)
        ins.append("b")
    nodes = [helper.make_node("Conv", ins, ["c"], kernel_shape=[k, k], strides=[stride, stride],
                              pads=[pad] * 4, group=group)]
    nodes.append(helper.make_node(act, ["c"], ["y"]) if act else helper.make_node("Identity", ["c"], ["y"]))
    oh = (hw + 2 * pad - k) // stride + 1
    return _model(nodes, [_vi("x", [n, ci, hw, hw])], [_vi("y", [n, co, oh, oh])], inits)


TILED = ("full", "conv_tile")  # the generic register tile, edgec's conv/matmul kernels


def check(model, min_tiled=1, min_kernels=0, target="host"):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        art = edgec.compile(model, target=target, out=f"{d}/a")
        res = edgec.verify(art, model)
        stats = art.manifest.compile_options["schedule_stats"]
    assert res.rel_l2_error <= DEFAULT_RTOL_L2, (res, stats)
    assert sum(stats.get(k, 0) for k in TILED) >= min_tiled, stats
    assert stats.get("conv_tile", 0) >= min_kernels, stats
    assert stats.get("stock", 0) == 0, stats
    return stats


@pytest.mark.parametrize("n, ci, co, hw, k, stride, group", [
    (1, 7, 13, 17, 3, 1, 1),     # prime channels and size
    (1, 16, 32, 33, 3, 2, 1),    # stride 2, odd size
    (1, 13, 29, 19, 1, 1, 1),    # 1x1, primes
    (1, 8, 16, 24, 1, 2, 1),     # 1x1 stride 2 (no padding block: cache_read path)
    (1, 3, 8, 23, 7, 2, 1),      # 7x7 stride 2 stem
    (1, 24, 24, 31, 3, 1, 24),   # depthwise
    (1, 32, 32, 7, 5, 1, 32),    # depthwise 5x5 on 7x7: 31% border taps, zero-bordered copy
    (1, 32, 32, 40, 3, 2, 32),   # depthwise stride 2
    (1, 24, 24, 15, 1, 1, 24),   # depthwise 1x1 (no reduction loop left after normalization)
    (1, 12, 18, 15, 3, 1, 3),    # grouped, 6 outputs per group: TVM's grouped conv
    (1, 32, 64, 13, 3, 1, 2),    # grouped, 32 outputs per group: edgec's kernel on any vector width
    (1, 48, 96, 9, 1, 2, 3),     # grouped 1x1 stride 2 (ShuffleNet-style)
    (3, 5, 11, 14, 3, 1, 1),     # batch 3
])
def test_conv_variants(n, ci, co, hw, k, stride, group):
    # grouped convs use edgec's kernel when a group's outputs fill whole vectors (16 | 32 lanes)
    own = group == 1 or group == ci == co or (co // group) % 16 == 0
    check(conv_model(n, ci, co, hw, k, stride, group), min_kernels=int(own))


@pytest.mark.parametrize("m, k, n", [(40, 120, 6625), (7, 33, 37), (16, 64, 128), (1, 96, 10)])
def test_matmul_widths(m, k, n):
    rng = np.random.default_rng(n)
    inits = {"w": rng.normal(0, 0.2, (k, n)).astype(np.float32), "b": rng.normal(0, 0.1, n).astype(np.float32)}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["y"])]
    check(_model(nodes, [_vi("x", [1, m, k])], [_vi("y", [1, m, n])], inits), min_kernels=1)


def test_conv_transpose_rewritten_and_correct():
    rng = np.random.default_rng(5)
    inits = {"w": rng.normal(0, 0.3, (12, 5, 2, 2)).astype(np.float32), "b": rng.normal(0, 0.1, 5).astype(np.float32)}
    nodes = [helper.make_node("ConvTranspose", ["x", "w", "b"], ["c"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Sigmoid", ["c"], ["y"])]
    m = _model(nodes, [_vi("x", [1, 12, 9, 11])], [_vi("y", [1, 5, 18, 22])], inits)
    check(m)
    from edgec.compiler.passes import run_pipeline

    out, _ = run_pipeline(m, ["convtranspose_to_conv"])
    assert [n.op_type for n in out.graph.node] == ["Conv", "DepthToSpace", "Sigmoid"]


@pytest.mark.parametrize("k, stride, pads, out_pad", [
    (4, 2, [1, 1, 1, 1], [0, 0]),   # decoders' 4x4/s2/p1
    (3, 2, [1, 1, 1, 1], [1, 1]),   # PyTorch's k3 s2 p1 output_padding 1
    (3, 2, [1, 1, 1, 1], [0, 0]),
    (5, 2, [2, 2, 2, 2], [1, 1]),
    (4, 4, [0, 0, 0, 0], [0, 0]),   # k == s: 1x1 conv, no crop
    (3, 3, [0, 1, 2, 0], [0, 0]),   # stride 3, asymmetric pads
    (2, 2, [1, 0, 0, 1], [1, 1]),
])
def test_conv_transpose_as_phase_conv(k, stride, pads, out_pad):
    """Strided ConvTranspose -> one Conv over the input's phases + DepthToSpace + crop
    (compiler/passes/convtranspose_to_conv.py), on an input that is not square."""
    rng = np.random.default_rng(k * 10 + stride)
    ci, co, h, w = 6, 5, 7, 9
    inits = {"w": rng.normal(0, 0.3, (ci, co, k, k)).astype(np.float32), "b": rng.normal(0, 0.1, co).astype(np.float32)}
    oh = (h - 1) * stride + k - pads[0] - pads[2] + out_pad[0]
    ow = (w - 1) * stride + k - pads[1] - pads[3] + out_pad[1]
    nodes = [helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], kernel_shape=[k, k], strides=[stride] * 2,
                              pads=pads, output_padding=out_pad)]
    m = _model(nodes, [_vi("x", [1, ci, h, w])], [_vi("y", [1, co, oh, ow])], inits)
    from edgec.compiler.passes import run_pipeline

    out, _ = run_pipeline(m, ["infer_shapes", "convtranspose_to_conv"])
    assert "ConvTranspose" not in [n.op_type for n in out.graph.node]
    check(m, min_kernels=1)


def test_dilated_conv_transpose_keeps_tvm_path():
    rng = np.random.default_rng(6)
    inits = {"w": rng.normal(0, 0.3, (6, 4, 3, 3)).astype(np.float32)}
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1], dilations=[2, 2])]
    check(_model(nodes, [_vi("x", [1, 6, 7, 7])], [_vi("y", [1, 4, 15, 15])], inits), min_tiled=0)


def test_pool_softmax_layernorm():
    rng = np.random.default_rng(7)
    inits = {"g": rng.uniform(0.5, 1.5, 9).astype(np.float32), "be": rng.normal(0, 0.1, 9).astype(np.float32)}
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("AveragePool", ["p"], ["a"], kernel_shape=[2, 2], strides=[1, 1]),
             helper.make_node("Softmax", ["a"], ["s"], axis=-1),
             helper.make_node("LayerNormalization", ["s", "g", "be"], ["y"], axis=-1, epsilon=1e-5)]
    check(_model(nodes, [_vi("x", [2, 5, 19, 19])], [_vi("y", [2, 5, 9, 9])], inits), min_tiled=0)


@pytest.mark.parametrize("op, shape", [
    ("Softmax", [2, 3, 128]),       # rows of whole vectors
    ("Softmax", [1, 4, 49, 49]),    # a row that ends inside a vector (Swin-style 7x7 windows)
    ("Softmax", [3, 37]),           # ends inside a vector on 4, 8 and 16 lanes (>= 2 vectors on all)
    ("LogSoftmax", [40, 6625]),     # PP-OCR rec's class axis
])
def test_softmax_kernel(op, shape, tmp_path):
    """edgec's softmax (compiler/kernels/softmax.py): max and sum in vector lanes, exp once per
    element. Inputs up to +-30 so exp's range reduction and the max shift both matter."""
    model = _model([helper.make_node(op, ["x"], ["y"], axis=-1)], [_vi("x", shape)], [_vi("y", shape)], {})
    art = edgec.compile(model, out=tmp_path / "a")
    x = np.random.default_rng(9).uniform(-30, 30, shape).astype(np.float32)
    res = edgec.verify(art, model, inputs={"x": x})
    stats = art.manifest.compile_options["schedule_stats"]
    assert res.rel_l2_error <= 1e-5, (res, stats)
    assert stats.get("softmax", 0) == 1 and stats.get("stock", 0) == 0, stats


@pytest.mark.parametrize("op, shape, axis", [
    ("Softmax", [1, 16, 4, 2100], 1),   # YOLOv8's DFL: 16 bins, anchors innermost
    ("Softmax", [3, 5, 37], 0),         # inner size ends inside a vector
    ("LogSoftmax", [2, 7, 9, 12], 2),
    ("Softmax", [2, 6, 3], 1),          # inner size below a vector: TVM's own kernel
])
def test_softmax_over_an_inner_axis(op, shape, axis, tmp_path):
    """Softmax over a non-last axis: fast_exp and reductions across contiguous rows
    (kernels/softmax.softmax_inner_axis; TVM's default called libm's expf per element)."""
    model = _model([helper.make_node(op, ["x"], ["y"], axis=axis)], [_vi("x", shape)], [_vi("y", shape)], {})
    art = edgec.compile(model, out=tmp_path / "a")
    x = np.random.default_rng(9).uniform(-30, 30, shape).astype(np.float32)
    x.reshape(-1)[:3] = [np.inf, -np.inf, 88.0]
    res = edgec.verify(art, model, inputs={"x": x})
    assert res.rel_l2_error <= 1e-5, res


def test_padding_consumer_after_conv_is_complete():
    """BlazeFace pattern: conv, then channel padding, then residual add. The padded channels must
    be written (a bug here once produced 7e36 garbage)."""
    rng = np.random.default_rng(8)
    inits = {"w": rng.normal(0, 0.3, (8, 8, 3, 3)).astype(np.float32),
             "pads": np.array([0, 0, 0, 0, 0, 4, 0, 0], dtype=np.int64)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Pad", ["c", "pads"], ["p"]),
             helper.make_node("Relu", ["p"], ["y"])]
    check(_model(nodes, [_vi("x", [1, 8, 16, 16])], [_vi("y", [1, 12, 16, 16])], inits))


def test_first_generation_nchw_schedules_still_correct(tmp_path):
    """--schedule nchw (the model's own layout, generic rule only) stays available to compare
    against; it must keep computing the right thing and must not use edgec's NHWC kernels."""
    model = conv_model(1, 7, 13, 17, 3)
    art = edgec.compile(model, out=tmp_path / "a", schedule="nchw")
    stats = art.manifest.compile_options["schedule_stats"]
    assert stats.get("conv_tile", 0) == 0 and stats.get("full", 0) >= 1, stats
    assert edgec.verify(art, model).rel_l2_error <= DEFAULT_RTOL_L2


def test_edge_depthwise_stays_nchw():
    """A wide stride-1 depthwise conv between the model's NCHW input and output keeps NCHW
    (compiler/kernels/edge_depthwise.py): no layout transposes; a narrow one, or one inside a
    chain of convs, goes channels-last."""
    wide = check(conv_model(1, 16, 16, 32, 3, 1, 16))
    assert "transpose" not in wide and "conv_tile" not in wide, wide
    narrow = check(conv_model(1, 16, 16, 14, 3, 1, 16), min_kernels=1)
    assert narrow.get("transpose", 0) + narrow.get("transpose_tiles", 0) >= 1, narrow
    rng = np.random.default_rng(11)
    inits = {"w1": rng.normal(0, 0.3, (16, 1, 3, 3)).astype(np.float32),
             "w2": rng.normal(0, 0.3, (8, 16, 1, 1)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["d"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=16),
             helper.make_node("Relu", ["d"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["y"], kernel_shape=[1, 1])]
    chain = check(_model(nodes, [_vi("x", [1, 16, 32, 32])], [_vi("y", [1, 8, 32, 32])], inits), min_kernels=2)
    assert chain["conv_tile"] == 2, chain


@pytest.mark.parametrize("n, ci, co, hw, act", [
    (1, 200, 70, 7, "Relu"),      # a 24 x 200 weight panel (19 KiB): blocked along input channels
    (2, 320, 45, 9, None),        # batch 2, no epilogue: the partial sums go to the output itself
    (1, 257, 40, 5, "Sigmoid"),   # a prime channel count: blocks must divide it, else unblocked
])
def test_pointwise_conv_with_large_weight_panel_blocks_its_reduction(n, ci, co, hw, act):
    """compiler/schedules/cpu_conv.py _k_block: partial sums across input-channel blocks. Built
    for AVX2 (8 lanes; runs on any AVX2 or AVX-512 host): the tile, and so the panel size that
    decides the blocking, depends on the vector width."""
    stats = check(conv_model(n, ci, co, hw, 1, act=act), min_kernels=1, target="x86_64-avx2")
    assert stats.get("conv_k_blocked", 0) == (0 if ci == 257 else 1), stats


def test_k_blocked_conv_with_a_residual_add():
    rng = np.random.default_rng(5)
    inits = {"w": rng.normal(0, 0.1, (48, 320, 1, 1)).astype(np.float32),
             "b": rng.normal(0, 0.1, 48).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[1, 1]),
             helper.make_node("Slice", ["x", "s0", "s1", "ax"], ["r"]),
             helper.make_node("Add", ["c", "r"], ["y"])]
    inits.update({"s0": np.array([0], np.int64), "s1": np.array([48], np.int64), "ax": np.array([1], np.int64)})
    stats = check(_model(nodes, [_vi("x", [1, 320, 6, 6])], [_vi("y", [1, 48, 6, 6])], inits), min_kernels=1,
                  target="x86_64-avx2")
    assert stats.get("conv_k_blocked", 0) == 1, stats
