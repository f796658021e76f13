"""Each graph pass on a model built in code: op counts change as promised, numerics do not."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from edgec.compiler import passes
from edgec.compiler.passes import PassContext, run_pipeline
from edgec.errors import UserInputError
from edgec.models.tiny import tiny_cnn


def ops(model):
    from collections import Counter

    return Counter(n.op_type for n in model.graph.node)


def ort_run(model, x):
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})[0]


def test_cleanup_folds_shape_arithmetic_and_keeps_numerics():
    m = tiny_cnn()
    out, reports = run_pipeline(m, passes.CLEANUP, PassContext(input_shapes={"x": (2, 3, 32, 32)}))
    before, after = ops(m), ops(out)
    assert before["Shape"] == 1 and before["Gather"] == 1 and before["Concat"] == 1
    assert after["Shape"] == 0 and after["Gather"] == 0 and after["Concat"] == 0
    assert after["Reshape"] == 1 and after["Conv"] == 4
    folded = next(r for r in reports if r.name == "fold_constants")
    assert folded.changed["folded"] >= 3
    x = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(ort_run(out, x), ort_run(m, x), rtol=1e-5, atol=1e-6)


def test_fold_batchnorm_removes_bn_and_keeps_numerics():
    m, _ = run_pipeline(tiny_cnn(), passes.CLEANUP, PassContext(input_shapes={"x": (1, 3, 32, 32)}))
    out, rep = run_pipeline(m, ["fold_batchnorm"])
    assert ops(m)["BatchNormalization"] == 1 and ops(out)["BatchNormalization"] == 0
    assert rep[0].changed == {"batchnorms_folded": 1}
    assert len(out.graph.node) == len(m.graph.node) - 1
    x = np.random.default_rng(1).normal(size=(1, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(ort_run(out, x), ort_run(m, x), rtol=1e-5, atol=1e-6)


def test_remove_identity_rewires_consumers():
    nodes = [helper.make_node("Identity", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Dropout", ["b"], ["c"]), helper.make_node("Neg", ["c"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    out, rep = run_pipeline(m, ["remove_identity"])
    assert [n.op_type for n in out.graph.node] == ["Relu", "Neg"]
    assert rep[0].changed["identities_removed"] == 2
    x = np.random.default_rng(2).normal(size=(2, 3)).astype(np.float32)
    np.testing.assert_array_equal(ort_run(out, x), ort_run(m, x))


def test_remove_identity_dropout_as_output_with_mask_and_training_mode():
    """A Dropout that is a graph output becomes an Identity, its mask all true; one whose
    training_mode comes from the graph is kept (and refused with a clear error at import)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("m", TensorProto.BOOL, [2, 3])]
    g = helper.make_graph([helper.make_node("Dropout", ["x", "r"], ["y", "m"])], "g", [x], outs,
                          initializer=[helper.make_tensor("r", TensorProto.FLOAT, [], [0.5])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    out, rep = run_pipeline(m, ["remove_identity"])
    assert [n.op_type for n in out.graph.node] == ["Shape", "ConstantOfShape", "Identity"]
    assert rep[0].changed["dropouts_to_identity"] == 1
    a = np.random.default_rng(3).normal(size=(2, 3)).astype(np.float32)
    y, mask = ort.InferenceSession(out.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": a})
    np.testing.assert_array_equal(y, a)
    assert mask.dtype == bool and mask.shape == (2, 3) and mask.all()
    t = helper.make_tensor_value_info("t", TensorProto.BOOL, [])
    g2 = helper.make_graph([helper.make_node("Dropout", ["x", "", "t"], ["y"])], "g", [x, t], outs[:1])
    out2, _ = run_pipeline(helper.make_model(g2, opset_imports=[helper.make_opsetid("", 17)]), ["remove_identity"])
    assert [n.op_type for n in out2.graph.node] == ["Dropout"]
    from edgec.compiler.frontends.onnx_frontend import check_onnx_ops
    from edgec.errors import UnsupportedOperatorError

    with pytest.raises(UnsupportedOperatorError, match="training_mode"):
        check_onnx_ops(out2)


def test_fix_input_shapes_errors_are_clear():
    m = tiny_cnn()
    with pytest.raises(UserInputError, match="dynamic shape"):
        run_pipeline(m, ["fix_input_shapes"])
    with pytest.raises(UserInputError, match="not inputs of the model"):
        run_pipeline(m, ["fix_input_shapes"], PassContext(input_shapes={"y": (1,)}))
    with pytest.raises(UserInputError, match="rank"):
        run_pipeline(m, ["fix_input_shapes"], PassContext(input_shapes={"x": (1, 3)}))


def test_passes_do_not_mutate_their_input():
    m = tiny_cnn()
    snapshot = m.SerializeToString()
    run_pipeline(m, passes.DEFAULT_PIPELINE, PassContext(input_shapes={"x": (1, 3, 32, 32)}))
    assert m.SerializeToString() == snapshot


def test_unknown_pass_is_named():
    with pytest.raises(UserInputError, match="unknown pass 'nope'"):
        run_pipeline(tiny_cnn(), ["nope"])


def test_expand_functions_expands_what_tvm_lacks_and_keeps_fused_forms():
    """Celu (no TVM converter) and a LayerNormalization whose Mean output is used become their ONNX
    function bodies, numerically the same under ORT; a LayerNormalization using only Y stays fused."""
    from edgec.compiler.passes.infer_shapes import fresh_shapes

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    nodes = [helper.make_node("Celu", ["x"], ["c"], alpha=0.7),
             helper.make_node("LayerNormalization", ["c", "s", "b"], ["y", "mean"], axis=-1)]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("mean", TensorProto.FLOAT, [2, 1])]
    inits = [helper.make_tensor("s", TensorProto.FLOAT, [3], [1.0, 2.0, 0.5]),
             helper.make_tensor("b", TensorProto.FLOAT, [3], [0.1, 0.0, -0.2])]
    m = fresh_shapes(helper.make_model(helper.make_graph(nodes, "g", [x], outs, inits),
                                       opset_imports=[helper.make_opsetid("", 18)]))
    out, rep = run_pipeline(m, ["expand_functions"])
    assert rep[0].changed == {"expanded_Celu": 1, "expanded_LayerNormalization": 1}
    assert {"Celu", "LayerNormalization"}.isdisjoint(ops(out))
    a = np.random.default_rng(4).normal(size=(2, 3)).astype(np.float32)
    run = lambda mm: ort.InferenceSession(mm.SerializeToString(), providers=["CPUExecutionProvider"]).run(  # noqa: E731
        None, {"x": a})
    for got, want in zip(run(out), run(m)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    del m.graph.output[1]
    m.graph.node[1].output[1] = ""
    out2, rep2 = run_pipeline(m, ["expand_functions"])
    assert ops(out2)["LayerNormalization"] == 1 and rep2[0].changed == {"expanded_Celu": 1}
