"""compiler/micro build_library: micro where the plan applies, TVM's VM (with the reason) where not."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgec
from edgec.errors import UserInputError


def _topk():
    """TopK lowers to a kernel that calls TVM's runtime library (tvm.contrib.sort.topk)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])
    g = helper.make_graph([helper.make_node("TopK", ["x", "k"], ["v", "i"])], "g", [x],
                          [helper.make_tensor_value_info("v", TensorProto.FLOAT, [4, 3]),
                           helper.make_tensor_value_info("i", TensorProto.INT64, [4, 3])],
                          [numpy_helper.from_array(np.array([3], np.int64), "k")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_auto_falls_back_to_the_vm_and_says_why(tmp_path):
    """The default (auto): a model the plan cannot express compiles to the VM, with the reason."""
    m = _topk()
    art = edgec.compile(m, out=tmp_path / "a")
    opts = art.manifest.compile_options
    assert opts["runtime"] == "vm" and "tvm.contrib.sort.topk" in opts["micro_refused"]
    assert edgec.verify(art, model=m).passed  # the VM build of the module lowered once


def test_micro_refuses_clearly(tmp_path):
    with pytest.raises(UserInputError, match="micro runtime cannot run this model.*topk"):
        edgec.compile(_topk(), out=tmp_path / "m", runtime="micro")


def test_two_outputs_of_mixed_dtypes_on_micro(tmp_path):
    """CumSum (float) and an ArgMax (int64): two outputs from one plan."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])
    g = helper.make_graph([helper.make_node("CumSum", ["x", "ax"], ["c"]),
                           helper.make_node("ArgMax", ["x"], ["a"], axis=1, keepdims=0)], "g", [x],
                          [helper.make_tensor_value_info("c", TensorProto.FLOAT, [4, 16]),
                           helper.make_tensor_value_info("a", TensorProto.INT64, [4])],
                          [numpy_helper.from_array(np.array(1, np.int64), "ax")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    art = edgec.compile(m, out=tmp_path / "c", runtime="micro")
    xv = np.random.default_rng(0).normal(size=(4, 16)).astype(np.float32)
    out = edgec.load(art.path).run({"x": xv})
    np.testing.assert_allclose(out["c"], np.cumsum(xv, axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out["a"], xv.argmax(axis=1))


def test_unknown_runtime_is_a_user_error(tmp_path):
    from edgec.models.tiny import tiny_mlp

    with pytest.raises(UserInputError, match="unknown runtime"):
        edgec.compile(tiny_mlp(), out=tmp_path / "x", runtime="tflm")


def test_default_is_auto_on_every_target():
    """micro wherever the plan applies, on every shipped target (issue 15); the VM where not."""
    from edgec.compiler.micro import default_runtime
    from edgec.targets import available, load_target

    names = available()
    assert {"host", "rpi4", "rpi3-armv7", "riscv64", "cortex-m33"} <= set(names)
    assert {n: default_runtime(load_target(n)) for n in names} == {n: "auto" for n in names}


def test_host_artifacts_default_to_the_micro_runtime(tmp_path):
    from edgec.models.tiny import tiny_mlp

    art = edgec.compile(tiny_mlp(), out=tmp_path / "h")
    assert art.manifest.compile_options["runtime"] == "micro" and "micro_refused" not in art.manifest.compile_options


def test_armv7_artifacts_default_to_the_micro_runtime(tmp_path):
    import shutil

    from edgec.models.tiny import tiny_mlp

    if shutil.which("arm-linux-gnueabihf-gcc") is None:
        pytest.skip("arm-linux-gnueabihf-gcc missing (tools/setup-system.sh installs it)")
    art = edgec.compile(tiny_mlp(), target="rpi3-armv7", out=tmp_path / "a")
    assert art.manifest.compile_options["runtime"] == "micro"


def test_unknown_runtime_is_refused_by_the_options():
    from edgec.compiler.options import CompileOptions

    with pytest.raises(UserInputError, match="unknown runtime 'tflm'"):
        CompileOptions(runtime="tflm")


def test_a_target_linked_on_the_device_stays_on_the_vm(tmp_path):
    """Android's artifact is objects for the NDK (library = "tar" in its TOML): no library for a plan."""
    from edgec.models.tiny import tiny_mlp

    art = edgec.compile(tiny_mlp(), target="android-arm64", out=tmp_path / "a", runtime="auto")
    opts = art.manifest.compile_options
    assert opts["runtime"] == "vm" and "model.tar" in opts["micro_refused"], opts
