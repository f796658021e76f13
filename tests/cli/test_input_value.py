"""--input-value through the real CLI: a scalar mode selector pinned, its If inlined, the artifact
verified against ONNX Runtime fed the same value; and every dynamic input named in one error."""
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.errors import UserInputError
from tests.cli.test_errors import assert_clean_error
from tests.conftest import run_cli


def mode_model() -> onnx.ModelProto:
    """y = x * 2 if sr == 16000 else x + 1 (silero-vad's shape: an If on a rank-0 int64 input)."""
    then_g = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2, 3])])
    else_g = helper.make_graph([helper.make_node("Add", ["x", "one"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2, 3])])
    g = helper.make_graph(
        [helper.make_node("Equal", ["sr", "k16"], ["is16"]),
         helper.make_node("If", ["is16"], ["y"], then_branch=then_g, else_branch=else_g)], "mode",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.array(16000, np.int64), "k16"), numpy_helper.from_array(np.float32(2), "two"),
         numpy_helper.from_array(np.float32(1), "one")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("sr", ["16000", pytest.param("8000", marks=pytest.mark.slow)])
def test_input_value_pins_a_scalar_mode_and_inlines_its_if(tmp_path, sr):
    p = tmp_path / "mode.onnx"
    onnx.save(mode_model(), p)
    want = {"16000": lambda x: x * 2, "8000": lambda x: x + 1}[sr]
    out = tmp_path / f"a{sr}"
    proc = run_cli("compile", str(p), "-o", str(out), "--input-value", f"sr={sr}", "--json", "-q")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(proc.stdout)
    assert [t["name"] for t in manifest["inputs"]] == ["x"]  # sr is a constant now
    assert manifest["compile_options"]["input_values"] == {"sr": int(sr)}
    assert any("ifs_inlined=1" in r for r in manifest["compile_options"]["passes"])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.savez(tmp_path / "in.npz", x=x)
    assert run_cli("run", str(out), "--inputs", str(tmp_path / "in.npz"), "--outputs",
                   str(tmp_path / f"y{sr}.npz")).returncode == 0
    np.testing.assert_array_equal(np.load(tmp_path / f"y{sr}.npz")["y"], want(x))
    ver = run_cli("verify", str(out))  # ONNX Runtime runs the source model with sr fed
    assert ver.returncode == 0 and "PASSED" in ver.stdout, ver.stdout + ver.stderr


def test_bad_input_values_are_clear_errors(tmp_path):
    p = tmp_path / "mode.onnx"
    onnx.save(mode_model(), p)
    o = str(tmp_path / "o")
    assert_clean_error(run_cli("compile", str(p), "-o", o, "--input-value", "sr=fast"), UserInputError.exit_code,
                       "bad --input-value")
    assert_clean_error(run_cli("compile", str(p), "-o", o, "--input-value", "rate=16000"), UserInputError.exit_code,
                       "not inputs of the model", "'sr'")
    assert_clean_error(run_cli("compile", str(p), "-o", o, "--input-value", "sr=16000.5"), UserInputError.exit_code,
                       "does not fit")
    assert_clean_error(run_cli("compile", str(p), "-o", o, "--input-value", "sr=1,2"), UserInputError.exit_code,
                       "2 value(s) given")


def test_all_dynamic_inputs_in_one_error(tmp_path):
    g = helper.make_graph([helper.make_node("Add", ["input", "bias"], ["s"]), helper.make_node("Mul", ["s", "state"], ["y"])],
                          "dyn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 64]),
                                  helper.make_tensor_value_info("bias", TensorProto.FLOAT, [64]),
                                  helper.make_tensor_value_info("state", TensorProto.FLOAT, ["batch", "n"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 64])])
    p = tmp_path / "dyn.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    proc = run_cli("compile", str(p), "-o", str(tmp_path / "o"))
    assert_clean_error(proc, UserInputError.exit_code, "2 inputs have dynamic shapes", "'input'", "'state'",
                       "--input-shape input=N,64 --input-shape state=N,N")
    assert "bias" not in proc.stderr.split("hint")[0]
    ok = run_cli("compile", str(p), "-o", str(tmp_path / "o"), "-q", "--input-shape", "input=2,64",
                 "--input-shape", "state=2,64")
    assert ok.returncode == 0, ok.stderr
