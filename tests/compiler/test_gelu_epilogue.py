"""A MatMul + GELU (Erf) layer's epilogue stays vector code: TVM's vectorizer scalarized it while
the Erf's NaN test was ``tirx.isnan`` (a transformer FFN layer ran 1.66x slower; kernels/fast_math.py
tests the bits instead). Compiled for x86_64-avx2 whatever the host, and read in the disassembly."""
import shutil
import subprocess

import numpy as np
import pytest
from onnx import TensorProto as T, helper, numpy_helper

import edgec
from edgec.reference import ort_session


def gelu_layer():
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.standard_normal((64, 96)) * 0.1).astype(np.float32), "W"),
             numpy_helper.from_array(np.array(1.4142135, np.float32), "s2"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one"),
             numpy_helper.from_array(np.array(0.5, np.float32), "half")]
    nodes = [helper.make_node("MatMul", ["x", "W"], ["a"]), helper.make_node("Div", ["a", "s2"], ["d"]),
             helper.make_node("Erf", ["d"], ["e"]), helper.make_node("Add", ["e", "one"], ["e1"]),
             helper.make_node("Mul", ["a", "e1"], ["p"]), helper.make_node("Mul", ["p", "half"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", T.FLOAT, [32, 64])],
                          [helper.make_tensor_value_info("y", T.FLOAT, [32, 96])], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs binutils' objdump")
def test_gelu_epilogue_is_vectorized(tmp_path):
    art = edgec.compile(gelu_layer(), target="x86_64-avx2", out=tmp_path / "a")
    asm = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(art.path / art.manifest.library)],
                         capture_output=True, text=True, check=True).stdout
    scalar_fma = asm.count("vfmadd213ss") + asm.count("vfmadd231ss") + asm.count("vfmadd132ss")
    packed_fma = asm.count("vfmadd213ps") + asm.count("vfmadd231ps") + asm.count("vfmadd132ps")
    assert scalar_fma == 0 and packed_fma > 0, (scalar_fma, packed_fma)


def test_gelu_layer_matches_ort_with_nan_and_inf(tmp_path):
    model = gelu_layer()
    art = edgec.compile(model, out=tmp_path / "a")
    x = np.random.default_rng(1).standard_normal((32, 64)).astype(np.float32)
    x[0, :4] = [np.nan, np.inf, -np.inf, 1e30]
    got = edgec.load(art.path).run({"x": x})["y"]
    want = ort_session(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
