"""Quantization: int8 QDQ that ONNX Runtime and edgec both run and agree on, digits accuracy,
per-layer report, the accuracy guard, weight-only modes.

The reference for a QDQ model is ONNX Runtime running it as written (DequantizeLinear -> float op
-> QuantizeLinear, optimizations off: edgec.reference.ort_session), the same on every CPU; ORT's
optimized int8 kernels are not (AVX2 without VNNI saturates: digits 0.960 there, 0.978 exact)."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import edgec
from edgec.compiler.quantize import Int8Options, quantize
from edgec.models.digits import MODEL, accuracy, calibration_set, load_split
from edgec.reference import ort_runner as _ort


def _any_batch(model: onnx.ModelProto) -> onnx.ModelProto:
    """The digits MLP with a free batch dimension, so one run scores the whole test split."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for v in list(m.graph.input) + list(m.graph.output):
        v.type.tensor_type.shape.dim[0].dim_param = "n"
    return m


def test_digits_int8_within_one_point_and_edgec_agrees_with_ort(tmp_path):
    m = _any_batch(onnx.load(MODEL))
    res = quantize(m, "int8", calibration_set(128), Int8Options(method="minmax"), report=True)
    ops = {n.op_type for n in res.model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert all(r["sqnr_db"] > 25 for r in res.layers) and len(res.layers) == 3
    acc_f, acc_q = accuracy(_ort(m)), accuracy(_ort(res.model))  # the QDQ model's own accuracy, any host
    assert acc_f - acc_q <= 0.01
    _, xte, _, yte = load_split()
    # this machine (int8 kernels where it has a dot-product instruction and they are faster), and
    # rpi5's sdot kernels under qemu: both decide like the QDQ model
    for target in ("host", "rpi5"):
        art = edgec.compile(res.model, target=target, out=tmp_path / target, input_shapes={"x": xte.shape})
        st = art.manifest.compile_options["int8"]
        slower = st["float_layers"].get("slower than float here (measured)", 0)
        if target == "rpi5" or st["int8_layers"] or slower:  # a dot-product ISA: every layer int8 or measured
            assert st["int8_layers"] + slower == 3, st
        v = edgec.verify(art, res.model, inputs={"x": xte})
        assert v.passed and v.rel_l2_error < 0.15, v  # edgec skips the logits' fake-quant (no int8 kernel reads it)
        from edgec.runners import run_bundle

        probs = (run_bundle(art, {"x": xte})[0] if v.ran_on.startswith("emulated") else art.load().run({"x": xte}))["probs"]
        assert abs(np.mean(probs.argmax(-1) == yte) - acc_q) <= 0.005, target


def test_calibration_methods_and_uint8_activations():
    m = onnx.load(MODEL)
    for method in ("percentile", "entropy"):
        q = quantize(m, "int8", calibration_set(64), Int8Options(method=method, activations="uint8")).model
        zps = [numpy_helper.to_array(t) for t in q.graph.initializer if t.name.endswith("zero_point")]
        assert any(z.dtype == np.uint8 for z in zps)
        assert accuracy(_ort(q), n=200) >= 0.9


def _outlier_model():
    """y = W2 relu(W1 x): a hidden unit with a 1000x larger weight makes per-tensor activation
    ranges coarse, so plain int8 loses the small signals that decide the class."""
    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.1, (16, 32)).astype(np.float32)
    w1[:, 0] *= 1000.0
    w2 = rng.normal(0, 1.0, (32, 8)).astype(np.float32)
    w2[0, :] = 0.0  # the outlier unit does not matter for the output
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"), helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")]
    g = helper.make_graph(nodes, "outlier", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
                          [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_guard_keeps_the_damaged_layer_in_float():
    m = _outlier_model()
    rng = np.random.default_rng(1)
    calib = [{"x": rng.normal(size=(1, 16)).astype(np.float32)} for _ in range(64)]
    ref = _ort(m)
    top = [np.argmax(ref(f)) for f in calib]

    def metric(model):
        run = _ort(model)
        return float(np.mean([np.argmax(run(f)) == t for f, t in zip(calib, top)]))

    plain = quantize(m, "int8", calib, metric=metric)
    assert plain.metric_before - plain.metric_after > 0.05  # plain int8 breaks a 5-point budget
    guarded = quantize(m, "int8", calib, max_drop=0.05, metric=metric)
    assert guarded.kept_float, guarded.notes
    assert guarded.metric_before - guarded.metric_after <= 0.05
    assert any("SQNR" in n for n in guarded.notes)


def test_weight_only_modes_shrink_the_file():
    m = onnx.load(MODEL)
    base = len(m.SerializeToString())
    w8 = quantize(m, "int8-weights").model
    f16 = quantize(m, "fp16").model
    assert len(w8.SerializeToString()) < 0.3 * base
    assert len(f16.SerializeToString()) < 0.55 * base
    x = calibration_set(1)[0]
    np.testing.assert_allclose(_ort(f16)(x), _ort(m)(x), atol=1e-3)
    assert np.argmax(_ort(w8)(x)) == np.argmax(_ort(m)(x))


def test_quantizing_leaves_the_applications_root_logger_alone():
    """ORT's quantizer logs through the root logger; edgec must neither install a handler there
    nor leave its level changed (a library never configures the application's logging)."""
    import logging

    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    quantize(onnx.load(MODEL), "int8", calibration_set(8), Int8Options(method="minmax"))
    assert (root.level, list(root.handlers)) == before
