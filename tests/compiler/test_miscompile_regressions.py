"""Reduced reproducers of wrong answers edgec's CPU schedules once produced (issue 16).

Each model is the smallest graph that still failed, built in code; it is compiled with the default
schedules and compared with ONNX Runtime. Models reduced by tools/difftest.py are saved as .onnx
files under tests/data/difftest/ and run here too."""
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


def test_depthwise_1x1_conv_bias_added_once(tmp_path):
    _check(depthwise_1x1_bias(), tmp_path)


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


@pytest.mark.parametrize("path", sorted(DATA.glob("*.onnx")), ids=lambda p: p.stem)
def test_reduced_difftest_models(path, tmp_path):
    _check(onnx.load(str(path)), tmp_path)
