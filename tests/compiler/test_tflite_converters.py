"""TFLite converters edgec replaces because TVM 0.27's fail: EXPAND_DIMS (an extra argument to
relax.op.expand_dims) and BATCH_MATMUL with a constant operand (read as an expression that does not
exist yet). Both met in openWakeWord's melspectrogram.tflite; checked here against LiteRT."""
import numpy as np
import tflite
from tflite.BuiltinOperator import BuiltinOperator as Op

import edgec
from edgec.models.tflite_builder import F32, TFLiteBuilder

INT32 = 2  # tflite TensorType


def batch_matmul_options(b):
    tflite.BatchMatMulOptionsStart(b)
    tflite.BatchMatMulOptionsAddAdjX(b, False)
    tflite.BatchMatMulOptionsAddAdjY(b, False)
    return tflite.BuiltinOptions.BatchMatMulOptions, tflite.BatchMatMulOptionsEnd(b)


def test_expand_dims_then_batch_matmul_with_a_constant(tmp_path):
    m = TFLiteBuilder()
    x = m.tensor("x", [2, 3])
    axis = m.tensor("axis", [1], INT32, np.array([0], np.int32))
    x3 = m.tensor("x3", [1, 2, 3])
    w = m.const("w", np.arange(12, dtype=np.float32).reshape(1, 3, 4) / 7)
    y = m.tensor("y", [1, 2, 4])
    m.op(Op.EXPAND_DIMS, [x, axis], [x3])
    m.op(Op.BATCH_MATMUL, [x3, w], [y], options=batch_matmul_options)
    path = tmp_path / "m.tflite"
    path.write_bytes(m.build([x], [y]))
    art = edgec.compile(str(path), out=tmp_path / "a")
    res = edgec.verify(art, str(path))
    assert res.passed and res.rel_l2_error < 1e-6, res
    got = edgec.load(art.path).run({"x": np.ones((2, 3), np.float32)})
    np.testing.assert_allclose(next(iter(got.values())), np.ones((1, 2, 3)) @ (np.arange(12).reshape(1, 3, 4) / 7),
                               rtol=1e-6)
