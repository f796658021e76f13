"""Channel and magnitude pruning on models built in code: residual blocks, Concat, depthwise,
grouped conv, squeeze-excite, Gemm heads. Shapes stay consistent, ONNX Runtime runs the result,
ratio 0 is the identity, reconstruction helps, the guard backs off."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.compiler.prune import PruneOptions, prune
from edgec.compiler.prune.spaces import analyze


def _ort(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def block_net(seed=0):
    """stem conv -> [residual block with depthwise] -> concat of two branches -> 1x1 -> grouped conv
    -> squeeze-excite -> GAP -> Flatten -> Gemm head. Input [1, 3, 16, 16]."""
    rng = np.random.default_rng(seed)
    inits, nodes = {}, []

    def w(name, *shape, s=0.4):
        inits[name] = rng.normal(0, s, shape).astype(np.float32)
        return name

    def conv(x, y, wname, bname=None, **kw):
        nodes.append(helper.make_node("Conv", [x, wname] + ([bname] if bname else []), [y], name=y, **kw))
        return y

    conv("x", "stem", w("w_stem", 16, 3, 3, 3), w("b_stem", 16), pads=[1, 1, 1, 1])
    nodes.append(helper.make_node("Relu", ["stem"], ["a0"], name="relu0"))
    conv("a0", "pw1", w("w_pw1", 16, 16, 1, 1))
    nodes.append(helper.make_node("BatchNormalization", ["pw1", w("g", 16), w("be", 16), w("mu", 16),
                                                         "var"], ["bn1"], name="bn1"))
    inits["var"] = rng.uniform(0.5, 1.5, 16).astype(np.float32)
    nodes.append(helper.make_node("Clip", ["bn1", w("lo", s=0), w("hi", s=0)], ["c1"], name="clip1"))
    inits["lo"], inits["hi"] = np.float32(0), np.float32(6)
    conv("c1", "dw1", w("w_dw1", 16, 1, 3, 3), w("b_dw1", 16), group=16, pads=[1, 1, 1, 1])
    conv("dw1", "pw2", w("w_pw2", 16, 16, 1, 1))
    nodes.append(helper.make_node("Add", ["pw2", "a0"], ["res"], name="residual"))
    conv("res", "br_a", w("w_bra", 8, 16, 3, 3), pads=[1, 1, 1, 1])
    conv("res", "br_b", w("w_brb", 12, 16, 1, 1))
    nodes.append(helper.make_node("Concat", ["br_a", "br_b"], ["cat"], axis=1, name="cat"))
    conv("cat", "mix", w("w_mix", 20, 20, 1, 1))
    conv("mix", "grp", w("w_grp", 20, 10, 3, 3), group=2, pads=[1, 1, 1, 1], strides=[2, 2])
    conv("grp", "expand", w("w_exp", 24, 20, 1, 1), w("b_exp", 24))
    nodes.append(helper.make_node("HardSigmoid", ["expand"], ["hs"], name="hs"))
    nodes.append(helper.make_node("Mul", ["expand", "hs"], ["hsw"], name="hswish"))
    nodes.append(helper.make_node("GlobalAveragePool", ["hsw"], ["se_p"], name="se_pool"))
    conv("se_p", "se1", w("w_se1", 6, 24, 1, 1), w("b_se1", 6))
    nodes.append(helper.make_node("Relu", ["se1"], ["se_r"], name="se_relu"))
    conv("se_r", "se2", w("w_se2", 24, 6, 1, 1), w("b_se2", 24))
    nodes.append(helper.make_node("Sigmoid", ["se2"], ["se_s"], name="se_sig"))
    nodes.append(helper.make_node("Mul", ["hsw", "se_s"], ["se_out"], name="se_mul"))
    nodes.append(helper.make_node("GlobalAveragePool", ["se_out"], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], axis=1, name="flat"))
    nodes.append(helper.make_node("Gemm", ["flat", w("w_fc", 10, 24), w("b_fc", 10)], ["y"], transB=1, name="fc"))
    g = helper.make_graph(nodes, "blocks", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return onnx.shape_inference.infer_shapes(m)


def calib(n=48, seed=1):
    rng = np.random.default_rng(seed)
    return [{"x": rng.normal(size=(1, 3, 16, 16)).astype(np.float32)} for _ in range(n)]


def test_analysis_groups_the_right_channels():
    a = analyze(block_net())
    by_src = {tuple(sorted(n.name for n in s.sources)): s for s in a.prunable()}
    assert ("pw2", "stem") in by_src  # residual: stem and pw2 channels are one group
    assert by_src[("pw2", "stem")].size == 16
    assert ("br_a",) in by_src and ("br_b",) in by_src  # concat inputs prune independently
    assert ("expand", "se2") in by_src  # squeeze-excite Mul ties the expand and se2 channels
    assert ("se1",) in by_src
    assert not any("grp" in k or "mix" in k for k in by_src)  # grouped conv input and output: left alone
    assert not any("fc" in k for k in by_src)  # graph output: frozen


@pytest.mark.parametrize("ratio", [0.25, 0.5])
def test_channel_pruning_keeps_a_valid_model(ratio):
    m = block_net()
    res = prune(m, PruneOptions(ratio=ratio, reconstruct=False))
    onnx.checker.check_model(res.model, full_check=True)
    assert res.params_after < res.params_before and res.flops_after < res.flops_before
    x = calib(1)[0]
    y = _ort(res.model).run(None, x)[0]
    assert y.shape == (1, 10) and np.isfinite(y).all()
    shapes = {i.name: list(i.dims) for i in res.model.graph.initializer}
    assert shapes["w_dw1"][0] == shapes["w_stem"][0] < 16  # depthwise followed its producer
    dw = next(n for n in res.model.graph.node if n.name == "dw1")
    assert next(a.i for a in dw.attribute if a.name == "group") == shapes["w_dw1"][0]
    assert shapes["w_grp"][1] == 10 and shapes["w_mix"][0] == 20  # grouped conv input is not pruned
    if ratio >= 0.5:  # at 0.25 the 8- and 12-channel branches round back up to whole vectors of 4
        assert shapes["w_mix"][1] < 20  # the concat feeding the 1x1 conv is pruned, offsets remapped


def test_kept_channels_are_vector_friendly():
    from edgec.compiler.prune import kept_channels

    assert kept_channels(16, 0.3) == 12 and kept_channels(200, 0.3) == 144 and kept_channels(8, 0.3) == 8
    assert kept_channels(64, 0.5) == 32 and kept_channels(3, 0.4) == 2 and kept_channels(10, 0.0) == 10


def test_ratio_zero_is_bit_for_bit_identical():
    m = block_net()
    res = prune(m, PruneOptions(ratio=0.0), calib=calib(8))
    assert res.model.SerializeToString() == m.SerializeToString()


def test_reconstruction_reduces_output_error():
    m = block_net()
    fit, test = calib(64, seed=1), calib(16, seed=2)
    ref = _ort(m)

    def err(model):
        s = _ort(model)
        return np.mean([np.linalg.norm(s.run(None, f)[0] - ref.run(None, f)[0]) / np.linalg.norm(ref.run(None, f)[0])
                        for f in test])

    plain = prune(m, PruneOptions(ratio=0.4, reconstruct=False, criterion="l2"))
    rebuilt = prune(m, PruneOptions(ratio=0.4, reconstruct=True, criterion="l2"), calib=fit)
    assert err(rebuilt.model) < 0.7 * err(plain.model)


def test_guard_backs_off_sensitive_layers():
    m = block_net()
    data = calib(24, seed=3)
    ref = _ort(m)
    ref_top = [np.argmax(ref.run(None, f)[0]) for f in data]

    def metric(model):
        s = _ort(model)
        return float(np.mean([np.argmax(s.run(None, f)[0]) == t for f, t in zip(data, ref_top)]))

    free = prune(m, PruneOptions(ratio=0.6, reconstruct=False), metric=metric)
    guarded = prune(m, PruneOptions(ratio=0.6, reconstruct=False, max_drop=0.05), metric=metric)
    assert free.metric_after < 0.95  # plain pruning breaks the budget ...
    assert guarded.metric_after >= 0.95  # ... the guard keeps it by leaving layers unpruned
    assert any("unpruned" in n for n in guarded.notes)
    assert guarded.params_after > free.params_after


def test_magnitude_pruning_reports_sparsity_honestly():
    m = block_net()
    res = prune(m, PruneOptions(method="magnitude", sparsity=0.5))
    layers = {r["layer"]: r for r in res.layers}
    assert "stem" not in layers and "fc" not in layers  # first and last protected
    total = sum(r["zeros"] for r in layers.values()) / sum(r["weights"] for r in layers.values())
    assert 0.45 <= total <= 0.55
    assert any("no sparse kernels" in n for n in res.notes)
    assert _ort(res.model).run(None, calib(1)[0])[0].shape == (1, 10)


def test_digits_pruning_keeps_accuracy_with_reconstruction():
    from edgec.models.digits import MODEL, accuracy, calibration_set

    m = onnx.load(MODEL)

    def metric(model):
        s = _ort(model)
        return accuracy(lambda f: s.run(None, f)[0])

    res = prune(m, PruneOptions(ratio=0.5, reconstruct=True), calib=calibration_set(256), metric=metric)
    assert res.params_after < 0.8 * res.params_before
    assert res.metric_before - res.metric_after <= 0.01
