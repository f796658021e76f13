"""lower_recurrent: LSTM/GRU/RNN become plain per-step cells that compute what ONNX Runtime's
fused ops compute (onnx's reference evaluator for layout 1, which ORT refuses); the input projection is one MatMul, each step one more. ORT runs both graphs
(no TVM build here: the compiled path is covered by the conformance subset and the zoo)."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.compiler.passes import PassContext, get_pass
from edgec.errors import UnsupportedOperatorError
from edgec.reference import ort_session

T, B, I, H = 5, 3, 4, 6
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def recurrent_model(op: str, direction: str = "forward", seq_lens: bool = False, layout: int = 0,
                    **attrs) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    nd, g = (2 if direction == "bidirectional" else 1), GATES[op]
    inits = [numpy_helper.from_array(rng.normal(0, 0.5, (nd, g * H, I)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.normal(0, 0.5, (nd, g * H, H)).astype(np.float32), "R"),
             numpy_helper.from_array(rng.normal(0, 0.5, (nd, 2 * g * H)).astype(np.float32), "B")]
    inputs = ["x", "W", "R", "B", "", "h0"]
    state = [B, nd, H] if layout else [nd, B, H]
    graph_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [B, T, I] if layout else [T, B, I]),
                    helper.make_tensor_value_info("h0", TensorProto.FLOAT, state)]
    if seq_lens:
        inits.append(numpy_helper.from_array(np.array([T, 2, 4], np.int32), "lens"))
        inputs[4] = "lens"
    outputs = ["y", "yh"]
    if op == "LSTM":
        inputs += ["c0", "P"]
        graph_inputs.append(helper.make_tensor_value_info("c0", TensorProto.FLOAT, state))
        inits.append(numpy_helper.from_array(rng.normal(0, 0.5, (nd, 3 * H)).astype(np.float32), "P"))
        outputs.append("yc")
    node = helper.make_node(op, inputs, outputs, hidden_size=H, direction=direction, layout=layout, **attrs)
    y_shape = [B, T, nd, H] if layout else [T, nd, B, H]
    g_outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)] + \
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, state) for n in outputs[1:]]
    return helper.make_model(helper.make_graph([node], op.lower(), graph_inputs, g_outs, inits),
                             opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    if any(a.name == "layout" and a.i == 1 for n in model.graph.node for a in n.attribute):
        from onnx.reference import ReferenceEvaluator  # ORT refuses batch-first recurrent ops

        return ReferenceEvaluator(model).run(None, feeds)
    return ort_session(model).run(None, feeds)


@pytest.mark.parametrize("op,direction,seq_lens,layout,attrs", [
    ("LSTM", "forward", False, 0, {}),
    ("LSTM", "bidirectional", True, 0, {}),  # peepholes, initial states, per-row lengths
    ("LSTM", "reverse", False, 0, {"clip": 0.7}),
    ("LSTM", "bidirectional", False, 1, {}),  # batch-first
    ("LSTM", "forward", False, 0, {"input_forget": 1}),
    ("GRU", "forward", False, 0, {}),
    ("GRU", "bidirectional", True, 0, {"linear_before_reset": 1}),
    ("GRU", "reverse", False, 1, {}),
    ("RNN", "bidirectional", True, 0, {"activations": ["Relu", "Tanh"]}),
    ("RNN", "forward", False, 0, {"activations": ["HardSigmoid"], "activation_alpha": [0.3], "activation_beta": [0.4]}),
])
def test_lowered_cells_match_onnxruntime(op, direction, seq_lens, layout, attrs):
    model = recurrent_model(op, direction, seq_lens, layout, **attrs)
    lowered, report = get_pass("lower_recurrent")(model, PassContext())
    assert report["lowered"] == 1
    ops = [n.op_type for n in lowered.graph.node]
    assert op not in ops
    nd = 2 if direction == "bidirectional" else 1
    # per direction: one MatMul for all steps' inputs, then one per step (GRU without
    # linear_before_reset: two, the reset gate sits between the products)
    per_step = 2 if op == "GRU" and not attrs.get("linear_before_reset") else 1
    assert ops.count("MatMul") == nd * (1 + per_step * T)
    rng = np.random.default_rng(1)
    feeds = {i.name: rng.normal(0, 1, [d.dim_value for d in i.type.tensor_type.shape.dim]).astype(np.float32)
             for i in model.graph.input}
    for want, got in zip(_run(model, feeds), _run(lowered, feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_dynamic_sequence_length_is_a_clear_error():
    model = recurrent_model("LSTM")
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "T"
    with pytest.raises(UnsupportedOperatorError, match="static sequence length"):
        get_pass("lower_recurrent")(model, PassContext())


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(UnsupportedOperatorError, match="activation 'Swish'"):
        get_pass("lower_recurrent")(recurrent_model("RNN", activations=["Swish"]), PassContext())
