"""qoperator_to_qdq with scales and zero points fed at run time (ONNX's backend cases feed every
input): per-channel is decided by the scale's shape, the bias scale is computed in the graph."""
import numpy as np
from onnx import TensorProto, helper

import edgec.backend
from edgec.reference import ort_session


def test_qlinearmatmul_with_runtime_scales_matches_ort():
    names = ["a", "a_scale", "a_zp", "b", "b_scale", "b_zp", "y_scale", "y_zp"]
    types = [TensorProto.UINT8, TensorProto.FLOAT, TensorProto.UINT8] * 2 + [TensorProto.FLOAT, TensorProto.UINT8]
    shapes = [[2, 4], [], [], [4, 3], [], [], [], []]
    g = helper.make_graph([helper.make_node("QLinearMatMul", names, ["y"])], "qlmm",
                          [helper.make_tensor_value_info(n, t, s) for n, t, s in zip(names, types, shapes)],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [2, 3])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    rng = np.random.default_rng(0)
    feeds = {"a": rng.integers(0, 255, (2, 4), dtype=np.uint8), "a_scale": np.float32(0.05), "a_zp": np.uint8(113),
             "b": rng.integers(0, 255, (4, 3), dtype=np.uint8), "b_scale": np.float32(0.02), "b_zp": np.uint8(114),
             "y_scale": np.float32(0.03), "y_zp": np.uint8(118)}
    feeds = {k: np.asarray(v) for k, v in feeds.items()}
    got = edgec.backend.run_model(model, [feeds[n] for n in names])[0]
    want = ort_session(model).run(None, feeds)[0]
    assert got.dtype == np.uint8
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # one rounding step at most (float order)
