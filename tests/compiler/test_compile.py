"""compile -> load -> run -> verify on the tiny models built in code."""
import json

import numpy as np
import pytest

import edgec
from edgec.errors import UnsupportedOperatorError, UserInputError
from edgec.verification import DEFAULT_RTOL_L2


@pytest.mark.parametrize("name", ["cnn", "mlp", "transformer"])
def test_tiny_models_verify_against_onnxruntime(tiny_artifacts, name):
    model, art = tiny_artifacts[name]
    res = edgec.verify(art, model)
    assert res.reference == "onnxruntime" and res.ran_on == "host"
    assert res.rel_l2_error <= DEFAULT_RTOL_L2, res
    assert res.passed


def test_verify_fails_when_outputs_differ(tiny_artifacts):
    """The check can fail: a tolerance below fp32 rounding noise is not met."""
    model, art = tiny_artifacts["transformer"]
    res = edgec.verify(art, model, tolerance=1e-12)
    assert not res.passed and res.rel_l2_error > 1e-12


def test_manifest_describes_the_artifact(tiny_artifacts):
    _, art = tiny_artifacts["cnn"]
    m = json.loads((art.path / "manifest.json").read_text())
    assert m["schema_version"] == 2 and len(m["manifest_sha256"]) == 64
    assert m["inputs"] == [{"name": "x", "shape": [1, 3, 32, 32], "dtype": "float32"}]
    assert m["outputs"] == [{"name": "probs", "shape": [1, 10], "dtype": "float32"}]
    assert set(m["files"]) == {"model.so"} and len(m["files"]["model.so"]) == 64
    assert m["target"]["name"] == "host" and m["target"]["cpu"] not in ("", "native")
    assert m["source_model"]["format"] == "onnx" and len(m["source_model"]["sha256"]) == 64
    assert m["compile_options"]["input_shapes"] == {"x": [1, 3, 32, 32]}
    assert "fold_batchnorm" in m["compile_options"]["pipeline"]
    assert m["versions"]["tvm"].startswith("0.27")


def test_session_runs_and_matches_ort(tiny_artifacts):
    import onnxruntime as ort

    model, art = tiny_artifacts["mlp"]
    x = np.random.default_rng(3).normal(size=(4, 64)).astype(np.float32)
    got = edgec.load(art.path).run({"x": x})["y"]
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


def test_batch_greater_than_one(tmp_path):
    from edgec.models.tiny import tiny_cnn

    art = edgec.compile(tiny_cnn(size=17), out=tmp_path / "a", input_shapes={"x": (3, 3, 17, 17)})
    assert art.manifest.outputs[0].shape == (3, 10)
    assert edgec.verify(art, tiny_cnn(size=17)).passed


def test_unsupported_operator_is_named_with_its_node(tmp_path):
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"),
             helper.make_node("MyCustomOp", ["a"], ["y"], name="custom_1", domain="com.example")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    with pytest.raises(UnsupportedOperatorError) as e:
        edgec.compile(m, out=tmp_path / "o")
    assert "com.example::MyCustomOp" in str(e.value) and "custom_1" in str(e.value)
    assert not (tmp_path / "o").exists()


def test_existing_output_is_never_overwritten_without_force(tmp_path, tiny_artifacts):
    from edgec.models.tiny import tiny_mlp

    user_dir = tmp_path / "mine"
    user_dir.mkdir()
    (user_dir / "notes.txt").write_text("precious")
    with pytest.raises(UserInputError, match="already exists"):
        edgec.compile(tiny_mlp(), out=user_dir)
    with pytest.raises(UserInputError, match="not an edgec artifact"):
        edgec.compile(tiny_mlp(), out=user_dir, force=True)
    assert (user_dir / "notes.txt").read_text() == "precious"
    art = edgec.compile(tiny_mlp(), out=tmp_path / "art")
    again = edgec.compile(tiny_mlp(), out=tmp_path / "art", force=True)
    assert again.manifest.files == art.manifest.files or again.path == art.path
