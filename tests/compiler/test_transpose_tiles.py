"""The 8 x 8 shuffle-tile transpose (compiler/kernels/transpose_tiles.py): which permutes it
takes, and exact results on shapes with remainders in both dimensions, batches, other dtypes,
and on an emulated aarch64 board."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import edgec
from edgec.compiler.kernels.transpose_tiles import Transpose2D

_ONNX_TYPES = {np.float32: TensorProto.FLOAT, np.float16: TensorProto.FLOAT16, np.int8: TensorProto.INT8,
               np.uint8: TensorProto.UINT8, np.int32: TensorProto.INT32}


def transpose_model(shape, perm, dtype=np.float32):
    out = [shape[p] for p in perm]
    t = _ONNX_TYPES[dtype]
    g = helper.make_graph([helper.make_node("Transpose", ["x"], ["y"], perm=list(perm))], "t",
                          [helper.make_tensor_value_info("x", t, list(shape))],
                          [helper.make_tensor_value_info("y", t, out)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("shape, perm, want", [
    ((1, 144, 56, 56), (0, 2, 3, 1), Transpose2D(1, 144, 3136)),    # NCHW -> NHWC
    ((2, 7, 7, 1280), (0, 3, 1, 2), Transpose2D(2, 49, 1280)),      # NHWC -> NCHW
    ((6, 10), (1, 0), Transpose2D(1, 6, 10)),
    ((2, 3, 4, 5, 6), (0, 1, 4, 2, 3), Transpose2D(6, 4 * 5, 6)),   # batch of two axes
    ((2, 3, 4, 5), (2, 3, 0, 1), Transpose2D(1, 6, 20)),
])
def test_permutations_that_are_batched_2d_transposes(shape, perm, want):
    assert Transpose2D.of_permutation(shape, perm) == want


@pytest.mark.parametrize("perm", [(0, 2, 1, 3), (0, 1, 2, 3), (1, 0, 2, 3), (0, 3, 2, 1)])
def test_permutations_that_are_not(perm):
    """A block-transpose (the innermost axis stays), the identity and reversals are not."""
    assert Transpose2D.of_permutation((2, 3, 4, 5), perm) is None


@pytest.mark.parametrize("shape, perm, dtype", [
    ((1, 24, 9, 11), (0, 2, 3, 1), np.float32),     # J = 99: a remainder of 3 columns
    ((1, 13, 16, 16), (0, 2, 3, 1), np.float32),    # I = 13: a remainder of 5 rows
    ((3, 7, 7, 20), (0, 3, 1, 2), np.float32),      # batch 3, both remainders
    ((1, 8, 8, 8), (0, 3, 1, 2), np.float32),       # exactly one tile per batch row
    ((2, 17, 40), (0, 2, 1), np.float16),
    ((1, 33, 12, 5), (0, 2, 3, 1), np.int8),
    ((1, 16, 24), (0, 2, 1), np.uint8),
    ((1, 9, 10, 11), (0, 3, 1, 2), np.int32),
    ((64, 300), (1, 0), np.float32),                # I < J and I > J loop orders, parallel size
    ((300, 64, 4), (1, 2, 0), np.float32),
])
def test_tiled_transpose_is_exact(shape, perm, dtype, tmp_path):
    model = transpose_model(shape, perm, dtype)
    art = edgec.compile(model, out=tmp_path / "a")
    assert art.manifest.compile_options["schedule_stats"].get("transpose_tiles", 0) == 1
    x = (np.random.default_rng(0).standard_normal(shape) * 50).astype(dtype)
    got = edgec.load(art.path).run({"x": x})["y"]
    np.testing.assert_array_equal(got, x.transpose(perm))


def test_small_transposes_keep_the_loop_schedule(tmp_path):
    """Fewer than 8 rows: no whole tile, the scheduled loop nest."""
    art = edgec.compile(transpose_model((1, 5, 16, 16), (0, 2, 3, 1)), out=tmp_path / "a")
    stats = art.manifest.compile_options["schedule_stats"]
    assert stats.get("transpose_tiles", 0) == 0 and stats.get("transpose", 0) == 1, stats


def test_tiled_transpose_on_rpi4_under_qemu(tmp_path):
    """The shuffles lowered for NEON (a 4-lane ISA splitting each 8-lane shuffle)."""
    model = transpose_model((1, 20, 9, 11), (0, 2, 3, 1))
    art = edgec.compile(model, target="rpi4", out=tmp_path / "a")
    assert art.manifest.compile_options["schedule_stats"].get("transpose_tiles", 0) == 1
    res = edgec.verify(art, model)
    assert res.ran_on.startswith("emulated (qemu-aarch64")
    assert res.rel_l2_error == 0.0, res
