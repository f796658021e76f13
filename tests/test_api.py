"""The Python API mirrors the CLI: every command is a function with the same options."""
import onnx

import edgec
from edgec.models.digits import MODEL, calibration_set


def test_every_command_has_a_library_function():
    for name in ("compile", "load", "verify", "inspect", "prune", "quantize", "tune", "package", "bench"):
        assert callable(getattr(edgec, name)), name
    assert edgec.models.get("ppocr-cls").input_shapes == {"x": (1, 3, 48, 192)}


def test_prune_and_quantize_from_python_take_iterables():
    calib = calibration_set(64)
    p = edgec.prune(str(MODEL), ratio=0.25, calib=iter(calib))
    assert isinstance(p.model, onnx.ModelProto) and p.params_after < p.params_before
    q = edgec.quantize(p.model, "int8", calib=calib)
    assert any(n.op_type == "DequantizeLinear" for n in q.model.graph.node)
