"""Bad input gets one clear 'error:' line and a specific exit code, never a traceback."""
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgec.errors import (ArtifactError, InputSpecError, ModelFormatError, UnsupportedOperatorError,
                          UserInputError)
from edgec.models.tiny import tiny_mlp
from tests.conftest import run_cli


def assert_clean_error(proc, code: int, *fragments: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert "\nerror: " in "\n" + proc.stderr, proc.stderr
    for f in fragments:
        assert f in proc.stderr, (f, proc.stderr)


def test_missing_model_file(tmp_path):
    assert_clean_error(run_cli("compile", str(tmp_path / "nope.onnx"), "-o", str(tmp_path / "o")),
                       UserInputError.exit_code, "model file not found", "nope.onnx")


def test_not_a_model(tmp_path):
    p = tmp_path / "notes.onnx"
    p.write_text("this is not a model\n" * 10)
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o")), ModelFormatError.exit_code,
                       "not a valid ONNX model")


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_onnx(tmp_path, keep):
    data = tiny_mlp().SerializeToString()
    p = tmp_path / "trunc.onnx"
    p.write_bytes(data[: int(len(data) * keep)])
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o")), ModelFormatError.exit_code, "trunc.onnx")
    assert not (tmp_path / "o").exists()


def test_truncated_tflite(tmp_path):
    from edgec.models import fetch

    data = fetch("blazeface").read_bytes()
    p = tmp_path / "face.tflite"
    p.write_bytes(data[: len(data) // 3])
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o")), ModelFormatError.exit_code,
                       "face.tflite")


def test_unsupported_operator_names_op_and_node(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu0"),
             helper.make_node("StringNormalizer", ["s"], ["t"], name="normalize_text"),
             helper.make_node("Identity", ["a"], ["y"], name="id0")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
                                       helper.make_tensor_value_info("s", TensorProto.STRING, [3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4]),
                           helper.make_tensor_value_info("t", TensorProto.STRING, [3])])
    p = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o")), UnsupportedOperatorError.exit_code,
                       "StringNormalizer", "normalize_text")


def test_dynamic_shape_without_input_shape(tmp_path):
    from edgec.models.tiny import tiny_cnn

    p = tmp_path / "cnn.onnx"
    onnx.save(tiny_cnn(), p)
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o")), UserInputError.exit_code,
                       "dynamic shape", "--input-shape x=N,3,32,32")
    assert_clean_error(run_cli("compile", str(p), "-o", str(tmp_path / "o"), "--input-shape", "x=1,three"),
                       UserInputError.exit_code, "bad --input-shape")


@pytest.fixture(scope="module")
def mlp_artifact(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    p = d / "mlp.onnx"
    onnx.save(tiny_mlp(), p)
    proc = run_cli("compile", str(p), "-o", str(d / "art"), "-q")
    assert proc.returncode == 0, proc.stderr
    return d


def test_cli_compile_run_verify_inspect_json(mlp_artifact, tmp_path):
    art = mlp_artifact / "art"
    v = run_cli("verify", str(art), "--json")
    assert v.returncode == 0, v.stderr
    res = json.loads(v.stdout)
    assert res["passed"] is True and res["rel_l2_error"] <= 1e-4 and "max_abs_error" in res
    x = np.random.default_rng(0).normal(size=(4, 64)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    r = run_cli("run", str(art), "--inputs", str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "res.npz"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["outputs"]["y"]["shape"] == [4, 10]
    y = np.load(tmp_path / "res.npz")["y"]
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    # the outputs file is never overwritten without --force
    again = run_cli("run", str(art), "--inputs", str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "res.npz"))
    assert_clean_error(again, UserInputError.exit_code, "exists")
    i = run_cli("inspect", str(art), "--json")
    assert json.loads(i.stdout)["manifest"]["inputs"][0]["name"] == "x"
    m = run_cli("inspect", str(mlp_artifact / "mlp.onnx"), "--json")
    assert json.loads(m.stdout)["ops"]["MatMul"] == 3


@pytest.mark.parametrize("feeds, fragment", [
    ({"z": np.zeros((4, 64), np.float32)}, "input names do not match"),
    ({"x": np.zeros((2, 64), np.float32)}, "has shape (2, 64), the model expects (4, 64)"),
    ({"x": np.zeros((4, 64), np.float64)}, "has dtype float64, the model expects float32"),
])
def test_wrong_inputs_at_run_time(mlp_artifact, tmp_path, feeds, fragment):
    np.savez(tmp_path / "bad.npz", **feeds)
    assert_clean_error(run_cli("run", str(mlp_artifact / "art"), "--inputs", str(tmp_path / "bad.npz")),
                       InputSpecError.exit_code, fragment)


def test_existing_output_dir_needs_force(mlp_artifact):
    art = mlp_artifact / "art"
    before = (art / "manifest.json").read_text()
    proc = run_cli("compile", str(mlp_artifact / "mlp.onnx"), "-o", str(art), "-q")
    assert_clean_error(proc, UserInputError.exit_code, "already exists", "--force")
    assert (art / "manifest.json").read_text() == before


def test_tampered_and_truncated_artifacts_are_refused(mlp_artifact, tmp_path):
    import shutil

    for mutate, fragment in [
        (lambda d: (d / "model.so").write_bytes((d / "model.so").read_bytes()[:1000]), "modified or truncated"),
        (lambda d: (d / "model.so").unlink(), "model.so is missing"),
        (lambda d: (d / "manifest.json").write_text("{"), "corrupt"),
    ]:
        d = tmp_path / "copy"
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(mlp_artifact / "art", d)
        mutate(d)
        assert_clean_error(run_cli("run", str(d)), ArtifactError.exit_code, fragment)
    assert_clean_error(run_cli("run", str(tmp_path / "nothing")), ArtifactError.exit_code, "artifact not found")


def test_help_explains_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for cmd in ("compile", "run", "verify", "inspect", "models", "targets"):
        assert cmd in proc.stdout
    assert "--input-shape" in run_cli("compile", "--help").stdout


def test_prune_cli_and_compile_with_prune(tmp_path):
    from edgec.models.digits import MODEL, load_split

    xtr = load_split()[0]
    np.savez(tmp_path / "calib.npz", x=xtr[:96])
    p = run_cli("prune", str(MODEL), "-o", str(tmp_path / "p.onnx"), "--ratio", "0.4", "--calib",
                str(tmp_path / "calib.npz"), "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["params_after"] < summary["params_before"]
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "p.onnx"), providers=["CPUExecutionProvider"])
    assert sess.run(None, {"x": xtr[:1]})[0].shape == (1, 10)
    again = run_cli("prune", str(MODEL), "-o", str(tmp_path / "p.onnx"))
    assert_clean_error(again, UserInputError.exit_code, "exists")
    c = run_cli("compile", str(MODEL), "-o", str(tmp_path / "art"), "--prune", "channels:0.4", "--calib",
                str(tmp_path / "calib.npz"), "-q")
    assert c.returncode == 0, c.stderr
    v = run_cli("verify", str(tmp_path / "art"), "--json")
    assert v.returncode == 0 and json.loads(v.stdout)["passed"], v.stdout + v.stderr
    bad = run_cli("prune", str(MODEL), "-o", str(tmp_path / "q.onnx"), "--calib", "synthetic:text_line")
    assert_clean_error(bad, UserInputError.exit_code, "NCHW")


def test_compile_chains_prune_then_quantize(tmp_path):
    from edgec.models.digits import MODEL, load_split

    np.savez(tmp_path / "calib.npz", x=load_split()[0][:96])
    c = run_cli("compile", str(MODEL), "-o", str(tmp_path / "art"), "--prune", "channels:0.3", "--quantize", "int8",
                "--calib", str(tmp_path / "calib.npz"), "--json", "-q")
    assert c.returncode == 0, c.stderr
    opts = json.loads(c.stdout)["compile_options"]
    assert opts["prune"] == "channels:0.3" and opts["quantize"] == "int8"
    src = onnx.load(tmp_path / "art" / "source.onnx")
    assert any(n.op_type == "QuantizeLinear" for n in src.graph.node)
    v = run_cli("verify", str(tmp_path / "art"), "--json")  # int8: the QDQ tolerance applies
    assert v.returncode == 0, v.stdout + v.stderr
    res = json.loads(v.stdout)
    # against ORT running the QDQ model as float (the same on every CPU); probs come out of a float
    # Softmax, so rel-L2 gates them. edgec skips the logits' fake-quant when its int8 kernels run.
    assert res["reference"] == "onnxruntime (QDQ as float)"
    assert res["outputs"][0]["tolerance_rel_l2"] == 0.5 and res["rel_l2_error"] < 0.15


def test_quantize_cli_json_is_clean(tmp_path):
    from edgec.models.digits import MODEL, load_split

    np.savez(tmp_path / "calib.npz", x=load_split()[0][:64])
    q = run_cli("quantize", str(MODEL), "-o", str(tmp_path / "q.onnx"), "--calib", str(tmp_path / "calib.npz"),
                "--method", "percentile", "--report", "--json")
    assert q.returncode == 0, q.stderr
    out = json.loads(q.stdout)  # nothing but the JSON object on stdout
    assert out["mode"] == "int8" and len(out["layers"]) == 3 and out["bytes"] < 0.35 * MODEL.stat().st_size
