"""Loops that stay loops (frontends/onnx_loop.py, passes/loop_bodies.py): a condition computed from
data, outer values read by the body, constants handed through as carried values, and the clear
errors for what a static-shape loop cannot be. Compared with ONNX Runtime."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T, helper

import edgec
from edgec.compiler import passes
from edgec.errors import UnsupportedOperatorError
from edgec.reference import ort_session


def _vi(name, t, shape):
    return helper.make_tensor_value_info(name, t, shape)


def _doubling_loop(extra_nodes=(), extra_inputs=(), scan_output=False):
    """x doubles (plus an outer bias) until its sum reaches ``lim``, at most 20 steps."""
    nodes = [helper.make_node("Mul", ["x_in", "two"], ["m"]),
             helper.make_node("Add", ["m", "bias"], ["x_out"]),
             helper.make_node("ReduceSum", ["x_out"], ["s"], keepdims=0),
             helper.make_node("Less", ["s", "lim"], ["c_out"]), *extra_nodes]
    outs = [_vi("c_out", T.BOOL, []), _vi("x_out", T.FLOAT, [2, 3]), _vi("w_out", T.FLOAT, [3])]
    if scan_output:
        outs.append(_vi("s", T.FLOAT, []))
    body = helper.make_graph(nodes, "body", [_vi("i", T.INT64, []), _vi("c_in", T.BOOL, []),
                                             _vi("x_in", T.FLOAT, [2, 3]), _vi("w_in", T.FLOAT, [3])], outs,
                             initializer=[helper.make_tensor("two", T.FLOAT, [], [2.0])])
    body.node.append(helper.make_node("Identity", ["w_in"], ["w_out"]))
    loop_outs = ["y", "w_final"] + (["trace"] if scan_output else [])
    g = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["xw"]),
         helper.make_node("Loop", ["M", "c0", "xw", "w"], loop_outs, body=body)], "g",
        [_vi("x", T.FLOAT, [2, 3]), _vi("lim", T.FLOAT, []), _vi("bias", T.FLOAT, [2, 3]), *extra_inputs],
        [_vi("y", T.FLOAT, [2, 3])],
        initializer=[helper.make_tensor("M", T.INT64, [], [20]), helper.make_tensor("c0", T.BOOL, [], [True]),
                     helper.make_tensor("w", T.FLOAT, [3], [0.5, -0.25, 1.0])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_data_dependent_loop_matches_ort(tmp_path):
    model = _doubling_loop()
    onnx.checker.check_model(model)
    art = edgec.compile(model, out=tmp_path / "a")
    opts = art.manifest.compile_options
    assert opts["runtime"] == "vm"  # recursion: the static plan cannot express it
    s, ref = edgec.load(art.path), ort_session(model)
    rng = np.random.default_rng(0)
    steps = set()
    for lim in (-1.0, 3.0, 50.0, 1e6, 1e30):
        feeds = {"x": rng.random((2, 3), np.float32), "lim": np.array(lim, np.float32),
                 "bias": rng.random((2, 3), np.float32) * 0.1}
        got, want = s.run(feeds)["y"], ref.run(None, feeds)[0]
        np.testing.assert_allclose(got, want, rtol=1e-5)
        steps.add(round(float(np.log2(max(abs(want.sum()), 1e-3)))))
    assert len(steps) >= 3  # the inputs really ran different numbers of steps


def test_constant_handed_through_becomes_a_body_constant():
    model = _doubling_loop()
    model, _ = passes.run_pipeline(model, passes.CLEANUP, passes.PassContext())
    body = next(n for n in model.graph.node if n.op_type == "Loop").attribute[0].g
    assert [vi.name for vi in body.input][3] == "w_in__unused"  # w: a constant handed through unchanged
    consts = {t.name: onnx.numpy_helper.to_array(t) for t in body.initializer}
    assert any(v.tolist() == [0.5, -0.25, 1.0] for v in consts.values())
    assert not any("w_in" in n.input for n in body.node)


def test_scan_outputs_of_a_data_dependent_loop_are_refused_by_name(tmp_path):
    with pytest.raises(UnsupportedOperatorError, match=r"\(Loop\).*scan output"):
        edgec.compile(_doubling_loop(scan_output=True), out=tmp_path / "a")


def test_a_carried_value_that_changes_shape_is_refused_by_name(tmp_path):
    body = helper.make_graph(
        [helper.make_node("Concat", ["x_in", "x_in"], ["x_out"], axis=0),
         helper.make_node("ReduceSum", ["x_out"], ["s"], keepdims=0),
         helper.make_node("Less", ["s", "lim"], ["c_out"])], "body",
        [_vi("i", T.INT64, []), _vi("c_in", T.BOOL, []), _vi("x_in", T.FLOAT, [None])],
        [_vi("c_out", T.BOOL, []), _vi("x_out", T.FLOAT, [None])])
    g = helper.make_graph([helper.make_node("Loop", ["", "c0", "x"], ["y"], body=body, name="grow")], "g",
                          [_vi("x", T.FLOAT, [2]), _vi("lim", T.FLOAT, [])], [_vi("y", T.FLOAT, [None])],
                          initializer=[helper.make_tensor("c0", T.BOOL, [], [True])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UnsupportedOperatorError, match=r"'grow' \(Loop\).*changes shape"):
        edgec.compile(model, out=tmp_path / "a")
