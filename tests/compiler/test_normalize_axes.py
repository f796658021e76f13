"""normalize_axes: Squeeze/Unsqueeze with negative axes get non-negative ones, and the model that
made TVM's build run out of memory (Conv1D -> Squeeze(-1) -> MatMul, silero-vad's encoder -> LSTM
hand-off under edgec's channels-last layout) compiles and matches ONNX Runtime."""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

import edgec
from edgec.compiler.passes import PassContext, get_pass
from edgec.reference import ort_session


def conv1d_squeeze_matmul():
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.2, (16, 8, 3)).astype(np.float32), "cw"),
             numpy_helper.from_array(rng.normal(0, 0.2, (16, 32)).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([-1], np.int64), "ax")]
    nodes = [helper.make_node("Conv", ["x", "cw"], ["c"], pads=[1, 1], kernel_shape=[3]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Squeeze", ["r", "ax"], ["s"]),
             helper.make_node("Unsqueeze", ["s", "ax"], ["u"]), helper.make_node("Squeeze", ["u", "ax"], ["s2"]),
             helper.make_node("MatMul", ["s2", "w"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 16)])


def test_negative_axes_become_non_negative():
    out, rep = get_pass("normalize_axes")(conv1d_squeeze_matmul(), PassContext())
    assert rep["normalized"] == 3
    inits = {t.name: numpy_helper.to_array(t).tolist() for t in out.graph.initializer}
    axes = [inits[n.input[1]] for n in out.graph.node if n.op_type in ("Squeeze", "Unsqueeze")]
    assert axes == [[2], [2], [2]]  # Squeeze of rank 3; Unsqueeze to rank 3


def test_conv1d_squeeze_matmul_compiles(tmp_path):
    model = conv1d_squeeze_matmul()
    art = edgec.compile(model, out=tmp_path / "a")  # was std::bad_alloc in relax.build
    x = np.random.default_rng(1).normal(size=(1, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(edgec.load(art.path).run({"x": x})["y"], ort_session(model).run(None, {"x": x})[0],
                               rtol=1e-5, atol=1e-5)
