"""converter_forms: Pow with integer / mixed types, IsInf one-sided, EyeLike with a dtype, Pad with a
run-time value, float -> narrow integer Casts: compiled through edgec.backend and compared with ONNX
Runtime."""
import subprocess
import sys
import textwrap

import numpy as np
from onnx import TensorProto as T, helper

import edgec.backend
from edgec.compiler.passes.converter_forms import converter_forms
from edgec.compiler.passes.registry import PassContext
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


def test_float_to_narrow_int_casts_go_through_int64():
    for to, dtype in ((T.INT32, np.int32), (T.INT8, np.int8), (T.UINT16, np.uint16)):
        node = helper.make_node("Cast", ["x"], ["y"], to=to)
        g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", T.FLOAT, [5])],
                              [helper.make_tensor_value_info("y", to, [5])])
        rewritten, counts = converter_forms(helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)]),
                                            PassContext())
        assert counts["Cast"] == 1
        assert [n.attribute[0].i for n in rewritten.graph.node] == [T.INT64, to]
        _check(node, [("x", T.FLOAT, [5])], to, [5], {"x": np.array([1.7, -2.2, 0, 99.9, 3], np.float32)}, 19)
    # int -> float and float -> int64 casts stay as they are
    for src, to in ((T.INT32, T.FLOAT), (T.FLOAT, T.INT64)):
        g = helper.make_graph([helper.make_node("Cast", ["x"], ["y"], to=to)], "g",
                              [helper.make_tensor_value_info("x", src, [5])], [helper.make_tensor_value_info("y", to, [5])])
        assert converter_forms(helper.make_model(g), PassContext())[1]["Cast"] == 0


def test_chained_float_int_casts_compile_in_seconds():
    """float32 -> int32 -> float64 -> Pow -> int32 (what integer Pow with a run-time exponent
    becomes) used to hang TVM's TIR simplifier: the wrap-around of each narrow cast read its input
    several times, and the fused expression grew to hundreds of copies. Run in a child process so a
    regression fails on the timeout instead of hanging the suite."""
    code = textwrap.dedent("""
        import numpy as np, edgec.backend
        from onnx import TensorProto as T, helper
        nodes = [helper.make_node("Cast", ["x"], ["i"], to=T.INT32), helper.make_node("Pow", ["i", "e"], ["y"])]
        g = helper.make_graph(nodes, "p", [helper.make_tensor_value_info("x", T.FLOAT, [2, 4]),
                                           helper.make_tensor_value_info("e", T.INT32, [2, 4])],
                              [helper.make_tensor_value_info("y", T.INT32, [2, 4])])
        x = np.array([[1.5, -2.7, 3.2, 100.9], [0, -1, 2.2, 7]], np.float32)
        e = np.array([[2, 3, 1, 0], [5, 2, 3, 2]], np.int32)
        got = edgec.backend.run_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), [x, e])[0]
        print(got.tolist())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[[1, -8, 3, 1], [0, 1, 8, 49]]"


def test_upsample_nearest_opset9_scales_input():
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    scales = helper.make_tensor("scales", T.FLOAT, [4], [1, 1, 2, 3])
    _check(helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest"), [("x", T.FLOAT, [1, 2, 3, 4])],
           T.FLOAT, [1, 2, 6, 12], {"x": x}, 9, [scales])


def test_resize_with_sizes_and_empty_scales_and_roi():
    """Paddle2ONNX writes empty roi/scales constants next to sizes: absent from opset 13 on (dropped
    for TVM). Before opset 13 they are required inputs and stay (a clear error from TVM's importer;
    yolox-tiny's opset-11 Resize with scales must keep compiling: the zoo tests)."""
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    for opset in (13, 18):
        inits = [helper.make_tensor("roi", T.FLOAT, [0], []), helper.make_tensor("scales", T.FLOAT, [0], []),
                 helper.make_tensor("sizes", T.INT64, [4], [1, 2, 6, 8])]
        node = helper.make_node("Resize", ["x", "roi", "scales", "sizes"], ["y"], mode="nearest",
                                coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        _check(node, [("x", T.FLOAT, [1, 2, 3, 4])], T.FLOAT, [1, 2, 6, 8], {"x": x}, opset, inits)
