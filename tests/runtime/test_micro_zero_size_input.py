"""A zero-size input on the micro runtime (CastLike's type-only input in ONNX's backend tests):
numpy moves an empty view's data pointer, and the runtime refuses unaligned input buffers."""
import numpy as np
from onnx import TensorProto as T, helper

import edgec


def test_zero_size_input_loads_and_runs(tmp_path):
    g = helper.make_graph([helper.make_node("CastLike", ["x", "like"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", T.FLOAT, [3, 4]),
                           helper.make_tensor_value_info("like", T.FLOAT16, [0])],
                          [helper.make_tensor_value_info("y", T.FLOAT16, [3, 4])])
    art = edgec.compile(helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)]), out=tmp_path / "a",
                        runtime="micro", input_shapes={"like": (0,)})
    s = edgec.load(art.path)
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 3
    for like in (np.zeros(0, np.float16), np.zeros(1, np.float16)[1:]):  # the second: an offset empty view
        np.testing.assert_array_equal(s.run({"x": x, "like": like})["y"], x.astype(np.float16))
