"""Reduced reproducers of wrong answers edgec's CPU schedules once produced (issue 16).

Each model is the smallest graph that still failed, built in code; it is compiled with the default
schedules and compared with ONNX Runtime. Models reduced by tools/difftest.py are saved as .onnx
files under tests/data/difftest/ and run here too."""
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgec
from edgec.verification import DEFAULT_RTOL_L2

DATA = Path(__file__).resolve().parents[1] / "data" / "difftest"


def _model(nodes, inputs, outputs, inits):
    g = helper.make_graph(nodes, "t", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _check(model, tmp_path, schedule="default"):
    art = edgec.compile(model, out=tmp_path / "a", schedule=schedule)
    res = edgec.verify(art, model)
    assert res.rel_l2_error <= DEFAULT_RTOL_L2, res
    return art


def depthwise_1x1_bias(c=8, hw=5):
    """MediaPipe hand_recrop (rel-L2 0.86 vs LiteRT): a depthwise 1x1 conv with bias. All its
    reduction axes have extent 1, so normalize_prim_func leaves a block with only spatial iterators
    but an init statement; reverse-inlining the bias add into it added the bias twice."""
    rng = np.random.default_rng(16)
    inits = {"w": rng.normal(0, 0.5, (c, 1, 1, 1)).astype(np.float32),
             "b": rng.normal(1.0, 0.5, c).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[1, 1], group=c)]
    return _model(nodes, [_vi("x", [1, c, hw, hw])], [_vi("y", [1, c, hw, hw])], inits)


@pytest.mark.parametrize("schedule", ["default", "nchw"])
def test_depthwise_1x1_conv_bias_added_once(schedule, tmp_path):
    _check(depthwise_1x1_bias(), tmp_path, schedule)


def test_reduce_over_unit_axis_then_add(tmp_path):
    """The same defect without a conv: ReduceMean over an axis of extent 1, then an Add. The
    reduction block keeps its init with no reduction iterator left; inlining the Add into it
    added b twice (rel-L2 0.81 before the fix)."""
    nodes = [helper.make_node("ReduceMean", ["x"], ["r"], axes=[2], keepdims=1), helper.make_node("Add", ["r", "b"], ["y"])]
    _check(_model(nodes, [_vi("x", [1, 8, 1, 5])], [_vi("y", [1, 8, 1, 5])],
                  {"b": np.linspace(0.5, 1.5, 5).astype(np.float32)}), tmp_path)


def test_depthwise_1x1_conv_bias_then_prelu(tmp_path):
    """The hand_recrop shape: NHWC-sized channels, the depthwise 1x1 followed by PRelu."""
    m = depthwise_1x1_bias(c=32, hw=7)
    slope = numpy_helper.from_array(np.full((32, 1, 1), 0.25, np.float32), "slope")
    m.graph.initializer.append(slope)
    m.graph.node[0].output[0] = "c"
    m.graph.node.append(helper.make_node("PRelu", ["c", "slope"], ["y"]))
    _check(m, tmp_path)


def test_schedule_stats_still_fast(tmp_path):
    """The fix keeps the kernel on edgec's schedules (no fallback to stock lowering)."""
    art = _check(depthwise_1x1_bias(), tmp_path)
    stats = art.manifest.compile_options["schedule_stats"]
    assert stats.get("stock", 0) == 0, stats


def _layernorm_after_conv(axis, reduce_h):
    rng = np.random.default_rng(17)
    c, h, w = 18, 2 if reduce_h else 5, 7
    inits = {"w": rng.normal(0, 0.5, (c, 3, 1, 1)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1])]
    shape = [1, c, h, w]
    if reduce_h:  # difftest seed 16, reduced: Conv -> ReduceMax(axis 2) -> LayerNormalization(axis -2)
        nodes.append(helper.make_node("ReduceMax", ["c"], ["r"], axes=[2], keepdims=0))
        shape = [1, c, w]
    tail = shape[axis:]
    inits["g"] = rng.uniform(0.5, 1.5, tail).astype(np.float32)
    inits["b"] = rng.uniform(-0.5, 0.5, tail).astype(np.float32)
    nodes.append(helper.make_node("LayerNormalization", ["r" if reduce_h else "c", "g", "b"], ["y"], axis=axis))
    return _model(nodes, [_vi("x", [1, 3, h, w])], [_vi("y", shape)], inits)


@pytest.mark.parametrize("axis, reduce_h", [(-2, True), (1, False)])
def test_layernorm_over_several_axes_after_nhwc_conv(axis, reduce_h, tmp_path):
    """ConvertLayout (the NHWC conv pipeline) permuted a multi-axis layer_norm's axes but not its
    gamma/beta: rel-L2 0.6 (compiler/schedules/layout_fixes.py)."""
    _check(_layernorm_after_conv(axis, reduce_h), tmp_path)


def _one_channel_conv(ci, hw, k, bias):
    rng = np.random.default_rng(ci * 10 + k)
    inits = {"w": rng.normal(0, 0.5, (1, ci, k, k)).astype(np.float32)}
    if bias:
        inits["b"] = np.array([0.7], np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"] + (["b"] if bias else []), ["y"], kernel_shape=[k, k],
                              pads=[k // 2] * 4)]
    return _model(nodes, [_vi("x", [1, ci, hw[0], hw[1]])], [_vi("y", [1, 1, hw[0], hw[1]])], inits)


@pytest.mark.parametrize("ci, hw, k, bias", [(4, (1, 1), 1, True), (4, (1, 1), 1, False), (29, (1, 1), 3, True),
                                             (1, (10, 12), 5, True)])
def test_one_output_channel_conv_crop(ci, hw, k, bias, tmp_path):
    """difftest seeds 103/112/145, reduced: a conv with one output channel. The NHWC kernel pads
    channels to a vector and crops; the generic tile reverse-inlined the crop, whose store then
    ran for every lane: output 0 (or the bias only). compiler/schedules/cpu_reduction.py _crops."""
    _check(_one_channel_conv(ci, hw, k, bias), tmp_path)


@pytest.mark.parametrize("ci, h, kernel, pads", [(5, 32, [1, 1], [0, 0, 0, 0]), (1, 56, [3, 5], [1, 2, 1, 2])])
def test_one_output_channel_width_one_conv_builds(ci, h, kernel, pads, tmp_path):
    """difftest seeds 1265/1127, reduced: 1 output channel, width 1, bias. One output element per
    tile: the bias epilogue had no loop of its own and the tile loop itself got vectorized, a
    build error (cpu_generic.own_innermost_loop)."""
    rng = np.random.default_rng(h)
    inits = {"w": rng.normal(0, 0.5, (1, ci, *kernel)).astype(np.float32), "b": np.array([0.3], np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=kernel, pads=pads)]
    _check(_model(nodes, [_vi("x", [1, ci, h, 1])], [_vi("y", [1, 1, h, 1])], inits), tmp_path)


def _qdq_conv_then_split_second_part():
    """difftest --int8 --target rpi5 seed 5220, reduced: Q/DQ input -> 1x1 conv (per-channel int8
    weights) -> Q/DQ -> Split along W, only the second part an output."""
    rng = np.random.default_rng(5220)
    i8 = lambda a: np.asarray(a, np.int8)  # noqa: E731
    inits = {"xs": np.float32(0.0079), "xz": i8(0), "cs": np.float32(0.023), "cz": i8(0),
             "wq": rng.integers(-60, 60, (12, 12, 1, 1)).astype(np.int8),
             "ws": rng.uniform(0.003, 0.009, 12).astype(np.float32), "wz": np.zeros(12, np.int8),
             "split": np.array([8, 9], np.int64)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], axis=0),
             helper.make_node("Conv", ["xd", "w"], ["c"], kernel_shape=[1, 1]),
             helper.make_node("QuantizeLinear", ["c", "cs", "cz"], ["cq"]),
             helper.make_node("DequantizeLinear", ["cq", "cs", "cz"], ["cd"]),
             helper.make_node("Split", ["cd", "split"], ["a", "b"], axis=3)]
    return _model(nodes, [_vi("x", [1, 12, 19, 17])], [_vi("b", [1, 12, 19, 9])], inits)


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-g++") is None or shutil.which("qemu-aarch64") is None,
                    reason="needs the aarch64 cross toolchain and qemu-user (make setup)")
def test_split_part_after_int8_conv_builds_for_rpi5(tmp_path):
    """With sdot, the int8 lowering drops the unread Q/DQ pair and dead-code-eliminates the unused
    split part: `gv = split(conv)[1]`. ConvertLayout turned that into `(t0, t1)[1]`, which FuseOps
    broke (FuseTIR: func_info_.global_name != "fused"). layout_fixes.tidy_after_layout."""
    m = _qdq_conv_then_split_second_part()
    art = edgec.compile(m, target="rpi5", out=tmp_path / "a")
    res = edgec.verify(art, m)
    assert res.passed, res


def _conv_then_convtranspose(pads):
    """difftest seeds 30012, 30028, 30049, reduced: a Conv, then a ConvTranspose whose kernel is not
    its stride (so convtranspose_to_conv leaves it)."""
    rng = np.random.default_rng(30028)
    inits = {"w": rng.normal(0, 0.5, (3, 2, 1, 1)).astype(np.float32),
             "wt": rng.normal(0, 0.5, (3, 5, 4, 4)).astype(np.float32), "bt": np.full(5, 0.2, np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
             helper.make_node("ConvTranspose", ["c", "wt", "bt"], ["y"], kernel_shape=[4, 4], pads=pads)]
    h = 3 + 3 - pads[0] - pads[2]
    w = 3 + 3 - pads[1] - pads[3]
    return _model(nodes, [_vi("x", [1, 2, 3, 3])], [_vi("y", [1, 5, h, w])], inits)


@pytest.mark.parametrize("pads", [[0, 0, 0, 0], [0, 0, 0, 1]])
def test_convtranspose_after_nhwc_conv_builds(pads, tmp_path):
    """Fixed twice over: a stride-1 ConvTranspose is rewritten to a Conv (convtranspose_to_conv),
    and the ones left (dilated) stay NCHW in ConvertLayout."""
    _check(_conv_then_convtranspose(pads), tmp_path)


def test_dilated_convtranspose_after_nhwc_conv_builds(tmp_path):
    m = _conv_then_convtranspose([0, 0, 0, 0])
    for n in m.graph.node:
        if n.op_type == "ConvTranspose":
            n.attribute.append(helper.make_attribute("dilations", [2, 2]))
    m.graph.output[0].type.tensor_type.shape.dim[2].dim_value = 9
    m.graph.output[0].type.tensor_type.shape.dim[3].dim_value = 9
    _check(m, tmp_path)


def test_softmax_over_a_1d_tensor_builds(tmp_path):
    """difftest --int8 --target rpi5 seed 30329: a softmax over [32] (1-D: no row loop) failed to
    build on edgec's softmax schedule; 1-D softmaxes keep TVM's."""
    nodes = [helper.make_node("Softmax", ["x"], ["y"], axis=-1)]
    _check(_model(nodes, [_vi("x", [32])], [_vi("y", [32])], {}), tmp_path)


def test_conv_then_slice_of_rows_nhwc(tmp_path):
    """difftest fp32 seed 31624: a 1x1 conv then a Slice of row 0 gave rel-L2 1.28 (default) / 0.98
    (nchw): the slice, its row axis dropped, was computed in every tile of the conv, reading rows
    other tiles compute (cpu_generic.tile_safe_consumer now keeps it out of the tile)."""
    rng = np.random.default_rng(31624)
    inits = {"w": rng.normal(0, 0.25, (26, 16, 1, 1)).astype(np.float32),
             "b": rng.uniform(-0.5, 0.5, 26).astype(np.float32),
             "s": np.array([0], np.int64), "e": np.array([1], np.int64), "a": np.array([2], np.int64)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[1, 1]),
             helper.make_node("Slice", ["c", "s", "e", "a"], ["y"])]
    _check(_model(nodes, [_vi("x", [1, 16, 2, 58])], [_vi("y", [1, 26, 1, 58])], inits), tmp_path)


@pytest.mark.parametrize("path", sorted(DATA.glob("*.onnx")), ids=lambda p: p.stem)
def test_reduced_difftest_models(path, tmp_path):
    _check(onnx.load(str(path)), tmp_path)
