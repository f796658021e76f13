"""The random-model generator (edgec.models.random_graphs) and a fixed-seed differential run of
edgec against ONNX Runtime (tools/difftest.py; issue 16). The fixed-seed runs compile 144 models
(120 fp32 + 24 int8 QDQ: ~1.5 min of CPU on a 2-core Zen 3); a failure names the seed and its class.
Reproduce one with `python tools/difftest.py --seed S --count 1 --save DIR` (reduces it)."""
from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgec.models.random_graphs import GenOptions, is_valid, op_histogram, random_model, reduce_model

REPO = Path(__file__).resolve().parents[1]
FP32_SEEDS = range(0, 120)
INT8_SEEDS = range(0, 24)

OPS = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "PRelu",
       "LeakyRelu", "HardSwish", "HardSigmoid", "Sigmoid", "Relu", "Clip", "Tanh", "Pad", "Add", "Mul", "Sub",
       "Concat", "Split", "Slice", "Reshape", "Transpose", "Flatten", "MatMul", "Gemm", "Resize", "Softmax",
       "LayerNormalization", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceL2", "Div", "Max", "Min",
       "Elu", "Softplus", "Abs", "Erf", "ConvTranspose", "DepthToSpace", "SpaceToDepth", "Squeeze", "Unsqueeze"}


def _difftest():
    if "difftest" not in sys.modules:
        spec = importlib.util.spec_from_file_location("difftest", REPO / "tools" / "difftest.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules["difftest"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["difftest"]


@pytest.fixture(scope="module")
def sample():
    return [random_model(s) for s in range(300)]


def test_generator_is_deterministic():
    for s in (0, 7, 123, 99991):
        assert random_model(s).SerializeToString() == random_model(s).SerializeToString()
    assert random_model(1).SerializeToString() != random_model(2).SerializeToString()


def test_generated_models_are_valid(sample):
    for m in sample[:40]:
        assert is_valid(m)
        onnx.checker.check_model(m, full_check=True)


def _attrs(m, op):
    for n in m.graph.node:
        if n.op_type == op:
            yield n, {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}


def test_generator_covers_the_operators_and_their_attributes(sample):
    hist = Counter()
    for m in sample:
        hist.update(op_histogram(m))
    assert OPS <= set(hist), OPS - set(hist)
    seen = Counter()
    for m in sample:
        inits = {t.name: t for t in m.graph.initializer}
        for n, a in _attrs(m, "Conv"):
            w = inits[n.input[1]].dims
            g = a.get("group", 1)
            seen["depthwise"] += g > 1 and w[1] == 1
            seen["grouped"] += g > 1 and w[1] > 1
            seen["1x1"] += list(w[2:]) == [1, 1]
            seen["stride2"] += 2 in a.get("strides", [])
            seen["dilation2"] += 2 in a.get("dilations", [])
            p = a.get("pads", [0, 0, 0, 0])
            seen["asym_pads"] += p[:2] != p[2:]
            seen["auto_pad"] += "auto_pad" in a
            seen["no_bias"] += len(n.input) == 2
        for n, a in _attrs(m, "ConvTranspose"):
            k, st = a.get("kernel_shape"), a.get("strides", [1, 1])
            seen["convtranspose_k_eq_s"] += k == st and "pads" not in a
            seen["convtranspose_output_padding"] += any(a.get("output_padding", [0]))
        for n, a in _attrs(m, "Pad"):
            seen["pad_" + a.get("mode", b"constant").decode()] += 1
        for n, a in _attrs(m, "Resize"):
            seen["resize_" + a["mode"].decode()] += 1
        for n, a in _attrs(m, "AveragePool"):
            seen["count_include_pad"] += a.get("count_include_pad", 0)
        for n, a in _attrs(m, "MaxPool"):
            seen["ceil_mode"] += a.get("ceil_mode", 0)
        seen["two_outputs"] += len(m.graph.output) > 1
        seen["residual_add"] += any(n.op_type == "Add" and all(i not in inits for i in n.input) for n in m.graph.node)
    wanted = ["depthwise", "grouped", "1x1", "stride2", "dilation2", "asym_pads", "auto_pad", "no_bias",
              "pad_constant", "pad_reflect", "pad_edge", "resize_nearest", "resize_linear", "count_include_pad",
              "ceil_mode", "two_outputs", "residual_add", "convtranspose_k_eq_s",
              "convtranspose_output_padding"]
    assert all(seen[k] for k in wanted), {k: seen[k] for k in wanted}


def test_sizes_stay_small_and_odd(sample):
    widths = Counter()
    for m in sample:
        for vi in m.graph.input:
            dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
            assert all(1 <= d <= 67 for d in dims[1:])
            widths[dims[-1] % 2] += 1
    assert widths[1] > 0.3 * sum(widths.values())


def test_reducer_keeps_the_failure_and_shrinks():
    m = next(m for m in (random_model(s) for s in range(200))
             if len(m.graph.node) >= 5 and any(n.op_type == "Conv" for n in m.graph.node))

    def still_fails(c):  # a stand-in bug: "any model with a Conv fails"
        return any(n.op_type == "Conv" for n in c.graph.node)

    r = reduce_model(m, still_fails)
    assert [n.op_type for n in r.graph.node] == ["Conv"] and is_valid(r)


def test_options_restrict_the_operators():
    opts = GenOptions(ops=("conv", "act"))
    for s in range(10):
        assert set(op_histogram(random_model(s, opts))) <= {"Conv", "Relu", "PRelu", "LeakyRelu", "HardSwish",
                                                               "HardSigmoid", "Sigmoid", "Clip", "Tanh", "Elu", "Softplus",
                                                               "Abs"}


@pytest.mark.slow
def test_fixed_seed_fp32_models_match_onnxruntime(tmp_path):
    dt = _difftest()
    s = dt.run(FP32_SEEDS, save=tmp_path, quiet=True)
    assert s.cases == len(FP32_SEEDS)
    assert dt.unexplained(s) == 0, _failures(s)


@pytest.mark.slow
def test_fixed_seed_int8_models_match_onnxruntime(tmp_path):
    dt = _difftest()
    s = dt.run(INT8_SEEDS, int8=True, save=tmp_path, quiet=True)
    assert s.cases == len(INT8_SEEDS)
    assert dt.unexplained(s) == 0, _failures(s)


def _failures(s) -> str:
    """One line per failure (pytest would truncate the records): seed, status, class, error."""
    return "\n".join(f"seed {f['seed']}: {f['outcome']['status']} {f['klass']} rel-L2 {f['outcome']['rel_l2']:.2e} "
                     f"{f['outcome']['error']}" for f in s.failures)


def test_int8_step_ignores_the_placeholder_scale_of_a_zero_range():
    """ORT's quantizer gives a tensor calibrated to [0, 0] the scale 1.0; taken as the model's
    coarsest step it would let any error up to 4.0 pass (int8 seed 10044, rel-L2 0.74)."""
    from onnx import TensorProto, helper, numpy_helper

    dt = _difftest()
    nodes, inits = [], []
    for k, scale in enumerate((0.01, 1.0)):
        inits += [numpy_helper.from_array(np.array(scale, np.float32), f"s{k}"),
                  numpy_helper.from_array(np.array(0, np.int8), f"z{k}")]
        src = "x" if k == 0 else "d0"
        nodes += [helper.make_node("QuantizeLinear", [src, f"s{k}", f"z{k}"], [f"q{k}"]),
                  helper.make_node("DequantizeLinear", [f"q{k}", f"s{k}", f"z{k}"], [f"d{k}"])]
    g = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                          [helper.make_tensor_value_info("d1", TensorProto.FLOAT, [4])], inits)
    assert dt.activation_lsb(helper.make_model(g)) == pytest.approx(0.01)


def test_int8_dropped_rounding_is_arbitrated_and_a_wrong_answer_is_not():
    """int8 seed 30903 (host), cut to its QDQ depthwise conv -> LayerNormalization: edgec drops the
    conv output's Q/DQ pair (no int8 kernel reads it, compiler/int8/qdq.py), ORT rounds it, and the
    LayerNorm of a row whose spread is about one step turns the half-step difference into rel-L2
    0.12. DROPPED_ROUNDING accepts that only when edgec with the pairs kept matches ORT and stock
    lowering with the same pairs dropped matches edgec; an output moved by 0.5 is not accepted."""
    import tvm

    from edgec.compiler.int8 import dot_isa

    host = tvm.target.Target({"kind": "llvm", "mcpu": tvm.target.codegen.llvm_get_system_cpu()})
    if dot_isa(host) is None:
        pytest.skip("no int8 ISA on this host: edgec keeps every fake-quant pair")
    from edgec.models.random_graphs import random_inputs

    dt = _difftest()
    model = onnx.load(REPO / "tests" / "data" / "difftest_int8" / "int8-seed30903-layernorm.onnx")
    feeds, lsb = random_inputs(model, 30903), dt.activation_lsb(model)
    out = dt.check(model, feeds, dt.INT8_RTOL_L2, lsb=lsb)
    assert out.status == "mismatch", out  # the design difference is there ...
    assert dt.dropped_rounding_explains(model, feeds, dt.INT8_RTOL_L2, out.got, lsb=lsb)  # ... and explained
    moved = {k: v + 0.5 for k, v in out.got.items()}
    assert not dt.dropped_rounding_explains(model, feeds, dt.INT8_RTOL_L2, moved, lsb=lsb)


def test_resize_with_fractional_scales_refused_clearly_is_the_known_difference():
    """Since 773df85 edgec refuses a linear Resize whose scales give no whole output size (TVM
    would map coordinates differently from ONNX): the refusal is the documented difference, not a
    finding (fp32 seed 40244: [1, 41, 5, 27] x 0.5). Another compile error is still a finding."""
    from onnx import TensorProto, helper, numpy_helper

    dt = _difftest()
    s = numpy_helper.from_array(np.array([1, 1, 0.5, 0.5], np.float32), "s")
    g = helper.make_graph([helper.make_node("Resize", ["x", "", "s"], ["y"], mode="linear")], "r",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 27])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 13])], [s])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    refused = dt.Outcome("compile_error", error="UnsupportedOperatorError: hint: export the Resize with another "
                                                 "coordinate_transformation_mode, or open an issue")
    assert dt.known_issue(m, refused).name == "tvm-resize-scales-truncated"
    assert dt.known_issue(m, dt.Outcome("compile_error", error="TVMError: Divide by zero")) is None


@pytest.mark.parametrize("rows,tie", [(39, True), (44, False)])
def test_nearest_resize_tie_is_recognized_exactly(rows, tie):
    """fp32 seed 42814: a nearest Resize 22 -> 39 rows (half_pixel, round_prefer_floor) maps output
    row 19 to source 10.5 exactly; TVM's float32 coordinate is 10.500001 (row 11), ORT's and
    onnx.reference's row 10. 22 -> 44 never lands on x.5: no tie, no arbitration."""
    from onnx import TensorProto, helper, numpy_helper

    dt = _difftest()
    sizes = numpy_helper.from_array(np.array([1, 12, rows, 1], np.int64), "sizes")
    g = helper.make_graph([helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest")], "r",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12, 22, 45])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 12, rows, 1])], [sizes])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert dt._resize_nearest_tie(m) is tie


def test_nearest_resize_tie_arbitration_flips_the_tie_break_only(monkeypatch):
    """The tie rule counts a mismatch only when the other tie-break makes edgec match ORT: the
    22 -> 39 Resize of fp32 seed 42814 passes that way; with a stand-in wrong kernel (every output
    moved by 1) no tie-break helps and the rule says no."""
    from onnx import TensorProto, helper, numpy_helper

    dt = _difftest()
    sizes = numpy_helper.from_array(np.array([1, 12, 39, 1], np.int64), "sizes")
    nodes = [helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest")]
    g = helper.make_graph(nodes, "r", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12, 22, 45])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 12, 39, 1])], [sizes])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    feeds = {"x": np.random.default_rng(0).normal(size=(1, 12, 22, 45)).astype(np.float32)}
    assert dt.resize_tie_explains(m, feeds, dt.FP32_RTOL_L2)
    run = dt.run_artifact
    monkeypatch.setattr(dt, "run_artifact", lambda art, f, target="host": {k: v + 1 for k, v in run(art, f, target).items()})
    assert not dt.resize_tie_explains(m, feeds, dt.FP32_RTOL_L2)


def test_align_corners_onto_a_unit_axis_refused_clearly_is_the_known_difference():
    """edgec refuses a linear align_corners Resize onto a dimension of 1 (TVM's lowering divided by
    zero) with an UnsupportedOperatorError; the refusal counts as the documented difference (fp32
    seeds 42416, 43083, 43658)."""
    from onnx import TensorProto, helper, numpy_helper

    dt = _difftest()
    sizes = numpy_helper.from_array(np.array([1, 2, 1, 6], np.int64), "sizes")
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear",
                            coordinate_transformation_mode="align_corners")
    g = helper.make_graph([node], "r", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 1, 6])], [sizes])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    refused = dt.Outcome("compile_error", error="UnsupportedOperatorError: hint: export the Resize with another "
                                                 "coordinate_transformation_mode, or open an issue")
    assert dt.known_issue(m, refused).name == "tvm-resize-align-corners-unit-axis"


def test_zero_reference_rounding_is_arbitrated_and_a_real_difference_is_not():
    """fp32 seed 45073: a LayerNormalization over three equal values is exactly 0 in ORT, ~1e-7
    in edgec (float32 rounding times 1/sqrt(eps)); rel-L2 against zeros is undefined. Counted
    as known only while the absolute difference stays at rounding size."""
    from onnx import TensorProto, helper, numpy_helper

    dt = _difftest()
    scale = numpy_helper.from_array(np.ones(3, np.float32), "g")
    g = helper.make_graph(
        [helper.make_node("Concat", ["x", "x", "x"], ["c"], axis=-1),
         helper.make_node("LayerNormalization", ["c", "g"], ["y"], axis=-1, epsilon=1e-6)], "z",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 3])], [scale])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    feeds = {"x": np.array([[0.1], [0.7], [-1.3], [2.9]], np.float32)}
    noise = np.full((4, 3), 1.7e-7, np.float32)
    assert dt.zero_reference_explains(m, feeds, {"y": noise}, 1e-4)
    assert not dt.zero_reference_explains(m, feeds, {"y": noise + 1e-3}, 1e-4)  # not rounding any more
    assert not dt.zero_reference_explains(m, feeds, {"y": np.zeros((4, 3), np.float32)}, 1e-4)  # nothing to explain
