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


def sub_options(b):
    tflite.SubOptionsStart(b)
    return tflite.BuiltinOptions.SubOptions, tflite.SubOptionsEnd(b)


def shape_options(b):
    tflite.ShapeOptionsStart(b)
    tflite.ShapeOptionsAddOutType(b, INT32)
    return tflite.BuiltinOptions.ShapeOptions, tflite.ShapeOptionsEnd(b)


def test_slice_size_computed_from_the_input_shape(tmp_path):
    """SHAPE -> SUB -> SLICE's size (TF's converter leaves such arithmetic in the graph): TVM reads
    the size from the tensor's buffer, which a computed tensor lacks; edgec takes it from LiteRT
    (compiler/frontends/tflite_static.py)."""
    m = TFLiteBuilder()
    x = m.tensor("x", [2, 6])
    shape = m.tensor("shape", [2], INT32)
    two = m.tensor("two", [2], INT32, np.array([0, 2], np.int32))
    size = m.tensor("size", [2], INT32)
    begin = m.tensor("begin", [2], INT32, np.array([0, 1], np.int32))
    y = m.tensor("y", [2, 4])
    m.op(Op.SHAPE, [x], [shape], options=shape_options)
    m.op(Op.SUB, [shape, two], [size], options=sub_options)
    m.op(Op.SLICE, [x, begin, size], [y])
    path = tmp_path / "m.tflite"
    path.write_bytes(m.build([x], [y]))
    art = edgec.compile(str(path), out=tmp_path / "a")
    x_val = np.arange(12, dtype=np.float32).reshape(2, 6)
    got = next(iter(edgec.load(art.path).run({"x": x_val}).values()))
    np.testing.assert_array_equal(got, x_val[:, 1:5])
    assert edgec.verify(art, str(path)).passed
