"""Gather (relax.take) clamps out-of-range indices (compiler/kernels/legalize.clip_take_indices):
TVM's default "fast" mode reads outside the table and printed a warning at every compile. In-range
and negative indices match ONNX Runtime."""
import numpy as np
from onnx import TensorProto as T, helper, numpy_helper

import edgec
from edgec.reference import ort_session


def test_gather_clamps_out_of_range_ids_and_compiles_quietly(tmp_path, capfd):
    table = np.arange(40, dtype=np.float32).reshape(10, 4)
    g = helper.make_graph([helper.make_node("Gather", ["table", "ids"], ["y"], axis=0)], "g",
                          [helper.make_tensor_value_info("ids", T.INT64, [5])],
                          [helper.make_tensor_value_info("y", T.FLOAT, [5, 4])],
                          initializer=[numpy_helper.from_array(table, "table")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    art = edgec.compile(model, out=tmp_path / "a")
    assert "Fast mode segfaults" not in capfd.readouterr().err
    s = edgec.load(art.path)
    ids = np.array([0, 3, 9, -1, -10], np.int64)
    np.testing.assert_array_equal(s.run({"ids": ids})["y"], ort_session(model).run(None, {"ids": ids})[0])
    far = np.array([10, 10**9, -11, -10**9, 2], np.int64)  # ORT refuses these; edgec must not crash
    np.testing.assert_array_equal(s.run({"ids": far})["y"], table[[9, 9, 0, 0, 2]])
