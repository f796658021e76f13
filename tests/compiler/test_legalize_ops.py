"""cumprod_scan, dft_matmul, index_ops: ops TVM's importer lacks (or takes only with constant inputs),
spelled with ops it has; each compiled through edgec.backend and compared with onnx's reference."""
import numpy as np
import pytest
from onnx import TensorProto as T, helper
from onnx.reference import ReferenceEvaluator

import edgec.backend


def _check(nodes, inputs, feeds, out_type, opset, inits=(), rtol=1e-5, atol=1e-6):
    def model(out_shape):
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                              [helper.make_tensor_value_info("y", out_type, out_shape)], initializer=list(inits))
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])

    want = ReferenceEvaluator(model(None)).run(None, feeds)[0]
    got = edgec.backend.run_model(model(list(want.shape)), [feeds[n] for n, _, _ in inputs])[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumprod(exclusive, reverse):
    x = np.random.default_rng(0).uniform(0.5, 1.5, (3, 7)).astype(np.float32)
    node = helper.make_node("CumProd", ["x", "axis"], ["y"], exclusive=exclusive, reverse=reverse)
    _check([node], [("x", T.FLOAT, [3, 7])], {"x": x}, T.FLOAT, 26,
           [helper.make_tensor("axis", T.INT64, [], [1])])


@pytest.mark.parametrize("inverse,onesided,c", [(0, 0, 1), (0, 1, 1), (1, 0, 2), (1, 1, 2)])
def test_dft(inverse, onesided, c):
    x = np.random.default_rng(1).standard_normal((2, 8, 3, c)).astype(np.float32)
    node = helper.make_node("DFT", ["x"], ["y"], axis=1, inverse=inverse, onesided=onesided)
    _check([node], [("x", T.FLOAT, list(x.shape))], {"x": x}, T.FLOAT, 17, atol=1e-5)


def test_reverse_sequence():
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    node = helper.make_node("ReverseSequence", ["x", "lens"], ["y"], batch_axis=0, time_axis=1)
    _check([node], [("x", T.FLOAT, [4, 5]), ("lens", T.INT64, [4])],
           {"x": x, "lens": np.array([1, 5, 3, 0], np.int64)}, T.FLOAT, 13)


def test_one_hot_with_runtime_values():
    node = helper.make_node("OneHot", ["i", "depth", "v"], ["y"], axis=0)
    _check([node], [("i", T.INT64, [4]), ("v", T.FLOAT, [2])],
           {"i": np.array([0, -1, 7, 3], np.int64), "v": np.array([-2.0, 5.0], np.float32)}, T.FLOAT, 13,
           [helper.make_tensor("depth", T.INT64, [], [4])])


@pytest.mark.parametrize("mode", ["linear", "circular"])
def test_tensor_scatter(mode):
    past = np.zeros((2, 6, 3), np.float32)
    upd = np.arange(12, dtype=np.float32).reshape(2, 2, 3) + 1
    node = helper.make_node("TensorScatter", ["p", "u", "w"], ["y"], axis=1, mode=mode)
    w = np.array([1, 5 if mode == "circular" else 4], np.int64)
    _check([node], [("p", T.FLOAT, [2, 6, 3]), ("u", T.FLOAT, [2, 2, 3]), ("w", T.INT64, [2])],
           {"p": past, "u": upd, "w": w}, T.FLOAT, 24)


def test_col2im_with_strides_and_pads():
    x = np.random.default_rng(2).standard_normal((1, 4, 9)).astype(np.float32)
    node = helper.make_node("Col2Im", ["x", "img", "blk"], ["y"], strides=[1, 2], pads=[0, 1, 0, 1])
    _check([node], [("x", T.FLOAT, [1, 4, 9])], {"x": x}, T.FLOAT, 18,
           [helper.make_tensor("img", T.INT64, [2], [4, 5]), helper.make_tensor("blk", T.INT64, [2], [2, 2])])


@pytest.mark.parametrize("src,dst", [(T.FLOAT, T.INT32), (T.INT32, T.FLOAT), (T.FLOAT, T.UINT32), (T.INT8, T.UINT8)])
def test_bitcast(src, dst):
    f = np.array([1.5, -0.0, 3.4e38, -1e-45, 1.2e-38, np.inf, -np.inf, 0.1, -7.25e-3], np.float32)
    x = f if src == T.FLOAT else (f.view(np.int32) if src == T.INT32 else np.arange(-4, 5, dtype=np.int8))
    _check([helper.make_node("BitCast", ["x"], ["y"], to=dst)], [("x", src, [9])], {"x": x}, dst, 26, rtol=0, atol=0)


@pytest.mark.parametrize("n", [2, 3])
def test_det(n):
    x = np.random.default_rng(3).standard_normal((4, n, n)).astype(np.float32)
    _check([helper.make_node("Det", ["x"], ["y"])], [("x", T.FLOAT, [4, n, n])], {"x": x}, T.FLOAT, 22, rtol=1e-4)
