"""NaN through Relu/Clip/HardSigmoid/Max/Min/ReduceMax: TVM's lowering turns NaN into a number
where ONNX Runtime keeps it. The opt-in `propagate_nan` pass (compiler/passes/propagate_nan.py;
`--pipeline +propagate_nan`) gives ORT's semantics; it is not in the default pipeline because it
costs ~6% on PP-OCR cls (README "Correctness"). MaxPool and LeakyRelu agree with ORT as they are."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

import edgec
from edgec.compiler.passes import DEFAULT_PIPELINE
from edgec.verification import compare

SHAPE = [1, 4, 6, 6]


def _model(nodes, inits=(), out_shape=SHAPE):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", T.FLOAT, SHAPE)],
                          [helper.make_tensor_value_info("y", T.FLOAT, out_shape)], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _c(name, value, shape=()):
    return numpy_helper.from_array(np.full(shape, value, np.float32), name)


CASES = {
    "relu": (lambda: _model([helper.make_node("Relu", ["x"], ["y"])]), "default"),
    "clip": (lambda: _model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], [_c("lo", 0.0), _c("hi", 6.0)]),
             "default"),
    "hardsigmoid": (lambda: _model([helper.make_node("HardSigmoid", ["x"], ["y"])]), "default"),
    "reducemax": (lambda: _model([helper.make_node("ReduceMax", ["x"], ["y"], axes=[2, 3], keepdims=1)],
                                 out_shape=[1, 4, 1, 1]), "default"),
    "max": (lambda: _model([helper.make_node("Max", ["x", "z"], ["y"])], [_c("z", 0.5, (1, 4, 1, 1))]), "default"),
    "min": (lambda: _model([helper.make_node("Min", ["x", "z"], ["y"])], [_c("z", 0.5, (1, 4, 1, 1))]), "default"),
}


def _nan_input(name: str = "") -> np.ndarray:
    x = np.random.default_rng(0).normal(size=SHAPE).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    x[0, 1, 2, 3] = np.inf
    x[0, 2, 4, 5] = -np.inf
    if name != "reducemax":  # ORT's own ReduceMax drops a NaN that is not first in its plane (its
        x[0, 3, 1, 1] = np.nan  # vector max keeps the other operand); propagate_nan: any NaN -> NaN
    return x


@pytest.mark.parametrize("name", sorted(CASES))
def test_propagate_nan_gives_onnx_runtimes_nan_semantics(name, tmp_path):
    build, schedule = CASES[name]
    model = build()
    art = edgec.compile(model, out=tmp_path / name, pipeline=DEFAULT_PIPELINE + ["propagate_nan"], schedule=schedule)
    assert "nodes_rewritten=1" in art.manifest.compile_options["passes"][-1]
    res = edgec.verify(art, model, inputs={"x": _nan_input(name)})
    assert res.passed and res.outputs[0].nonfinite_mismatches == 0, res


def test_verify_compares_nan_and_inf_positions_exactly():
    ref = np.array([1.0, np.nan, np.inf, -np.inf, 2.0], np.float32)
    same = compare({"y": ref.copy()}, {"y": ref})[0].gate(1e-4)
    assert same.passed and same.rel_l2_error == 0.0 and same.nonfinite_mismatches == 0  # was: rel-L2 nan, FAILED
    moved = compare({"y": np.array([1.0, 0.0, np.inf, -np.inf, 2.0], np.float32)}, {"y": ref})[0].gate(1e-4)
    assert not moved.passed and moved.nonfinite_mismatches == 1
    sign = compare({"y": np.array([1.0, np.nan, -np.inf, -np.inf, 2.0], np.float32)}, {"y": ref})[0].gate(1e-4)
    assert not sign.passed and sign.nonfinite_mismatches == 1
    off = compare({"y": np.array([1.5, np.nan, np.inf, -np.inf, 2.0], np.float32)}, {"y": ref})[0].gate(1e-4)
    assert not off.passed and off.nonfinite_mismatches == 0 and off.max_abs_error == 0.5


@pytest.mark.parametrize("op", ["Exp", "Sigmoid", "Tanh", "Erf"])
def test_fast_math_keeps_nan_and_inf_like_ort_by_default(op, tmp_path):
    """edgec's vectorized exp/sigmoid/tanh/erf (compiler/kernels/fast_math.py) in the default
    pipeline: NaN stays NaN and +-inf saturate as in ONNX Runtime (Erf(NaN) gave 1; tools/fuzz.py)."""
    model = _model([helper.make_node(op, ["x"], ["y"])])
    art = edgec.compile(model, out=tmp_path / op)
    res = edgec.verify(art, model, inputs={"x": _nan_input()})
    assert res.passed and res.outputs[0].nonfinite_mismatches == 0, res
