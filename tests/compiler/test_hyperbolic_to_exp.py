"""hyperbolic_to_exp: Sinh/Cosh as Exp arithmetic (TVM's vectorized tirx.sinh/cosh do not build),
accurate to float32 rounding across the range, the series near 0 included; and they compile."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import edgec
from edgec.compiler.passes import PassContext, get_pass
from edgec.reference import ort_session


def _model(op: str, n: int):
    g = helper.make_graph([helper.make_node(op, ["x"], ["y"])], op.lower(),
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("op,fn", [("Sinh", np.sinh), ("Cosh", np.cosh)])
def test_rewrite_matches_float64(op, fn):
    x = np.concatenate([np.linspace(-10, 10, 2001), [0.0, 1e-6, -1e-6, 0.2999, 0.3, -0.3001, 1e-30]]).astype(np.float32)
    out, rep = get_pass("hyperbolic_to_exp")(_model(op, x.size), PassContext())
    assert rep["rewritten"] == 1 and op not in [n.op_type for n in out.graph.node]
    got = ort_session(out).run(None, {"x": x})[0]
    want = fn(x.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)


def test_sinh_and_cosh_compile_and_run(tmp_path):
    x = np.linspace(-3, 3, 60, dtype=np.float32)
    for op, fn in (("Sinh", np.sinh), ("Cosh", np.cosh)):
        art = edgec.compile(_model(op, 60), out=tmp_path / op)  # was "unknown intrinsic tirx.cosh"
        np.testing.assert_allclose(edgec.load(art.path).run({"x": x})["y"], fn(x), rtol=1e-6)
