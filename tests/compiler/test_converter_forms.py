"""converter_forms: Pow with integer / mixed types, IsInf one-sided, EyeLike with a dtype, Pad with a
run-time value: compiled through edgec.backend and compared with ONNX Runtime."""
import numpy as np
from onnx import TensorProto as T, helper

import edgec.backend
from edgec.reference import ort_session


def _check(node, inputs, out_type, out_shape, feeds, opset, inits=()):
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info("y", out_type, out_shape)], initializer=list(inits))
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    got = edgec.backend.run_model(model, [feeds[n] for n, _, _ in inputs])[0]
    want = ort_session(model).run(None, feeds)[0]
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_pow_integer_and_mixed_types():
    x = np.array([1, 2, 3, -4], np.int64)
    _check(helper.make_node("Pow", ["x", "e"], ["y"]), [("x", T.INT64, [4]), ("e", T.INT64, [4])], T.INT64, [4],
           {"x": x, "e": np.array([3, 2, 5, 3], np.int64)}, 15)
    _check(helper.make_node("Pow", ["x", "e"], ["y"]), [("x", T.FLOAT, [4]), ("e", T.INT32, [4])], T.FLOAT, [4],
           {"x": np.array([1.5, 2, -3, 4], np.float32), "e": np.array([2, -1, 3, 0], np.int32)}, 15)


def test_isinf_one_sided():
    x = np.array([np.inf, -np.inf, 1.0, np.nan], np.float32)
    for kw in ({"detect_negative": 0}, {"detect_positive": 0}):
        _check(helper.make_node("IsInf", ["x"], ["y"], **kw), [("x", T.FLOAT, [4])], T.BOOL, [4], {"x": x}, 20)


def test_eyelike_with_dtype():
    _check(helper.make_node("EyeLike", ["x"], ["y"], dtype=T.FLOAT, k=1), [("x", T.INT32, [3, 4])], T.FLOAT, [3, 4],
           {"x": np.zeros((3, 4), np.int32)}, 22)


def test_pad_with_runtime_value():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    pads = helper.make_tensor("pads", T.INT64, [4], [1, 0, 0, 2])
    _check(helper.make_node("Pad", ["x", "pads", "v"], ["y"]), [("x", T.FLOAT, [2, 3]), ("v", T.FLOAT, [])], T.FLOAT,
           [3, 5], {"x": x, "v": np.array(-7.5, np.float32)}, 18, [pads])
