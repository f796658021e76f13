"""Nearest upsampling by whole factors of NCHW tensors on edgec's shuffle kernel
(compiler/kernels/upsample_nearest.py): which resizes take it, and exact results against ONNX
Runtime on widths with and without a vector remainder, unequal factors, other dtypes, and the
coordinate modes it accepts; resizes it must not take still match."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgec
from edgec.reference import ort_session

_TYPES = {np.float32: TensorProto.FLOAT, np.float16: TensorProto.FLOAT16, np.int8: TensorProto.INT8,
          np.uint8: TensorProto.UINT8}


def resize_model(shape, scales, dtype=np.float32, **attrs):
    out = [int(d * s) for d, s in zip(shape, scales)]
    t = _TYPES[dtype]
    g = helper.make_graph([helper.make_node("Resize", ["x", "", "scales"], ["y"], **attrs)], "r",
                          [helper.make_tensor_value_info("x", t, list(shape))],
                          [helper.make_tensor_value_info("y", t, out)],
                          initializer=[numpy_helper.from_array(np.array(scales, np.float32), "scales")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


NEAREST = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")


@pytest.mark.parametrize("shape, scales, dtype, attrs", [
    ((1, 64, 40, 40), (1, 1, 2, 2), np.float32, NEAREST),
    ((2, 3, 5, 13), (1, 1, 2, 2), np.float32, NEAREST),            # W = 13: one vector and 5 left
    ((1, 4, 3, 5), (1, 1, 3, 2), np.float32, NEAREST),             # W < 8: the remainder only
    ((1, 2, 6, 16), (1, 1, 1, 4), np.float32, NEAREST),            # width only, factor 4
    ((1, 3, 7, 24), (1, 1, 2, 3), np.float16, NEAREST),
    ((1, 5, 4, 17), (1, 1, 2, 2), np.int8, NEAREST),
    ((1, 8, 9, 9), (1, 1, 2, 2), np.uint8,
     dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_floor")),
    ((1, 8, 9, 10), (1, 1, 3, 3), np.float32,
     dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil")),
    ((1, 8, 9, 10), (1, 1, 2, 2), np.float32,
     dict(mode="nearest", coordinate_transformation_mode="tf_half_pixel_for_nn", nearest_mode="floor")),
])
def test_upsample_kernel_is_exact(shape, scales, dtype, attrs, tmp_path):
    model = resize_model(shape, scales, dtype, **attrs)
    art = edgec.compile(model, out=tmp_path / "a")
    assert art.manifest.compile_options["schedule_stats"].get("upsample_nearest", 0) == 1
    x = (np.random.default_rng(0).standard_normal(shape) * 40).astype(dtype)
    got = edgec.load(art.path).run({"x": x})["y"]
    np.testing.assert_array_equal(got, ort_session(model).run(None, {"x": x})[0])


@pytest.mark.parametrize("scales, attrs", [
    ((1, 1, 2, 2), dict(mode="nearest", coordinate_transformation_mode="align_corners")),
    ((1, 1, 2, 2), dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="floor")),
    ((1, 1, 3, 3), dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                        nearest_mode="round_prefer_floor")),
    ((1, 1, 2, 2), dict(mode="linear")),
    ((1, 1, 0.5, 0.5), NEAREST),
])
def test_other_resizes_keep_tvms_kernel(scales, attrs, tmp_path):
    shape = (1, 4, 8, 8)
    model = resize_model(shape, scales, **attrs)
    art = edgec.compile(model, out=tmp_path / "a")
    assert art.manifest.compile_options["schedule_stats"].get("upsample_nearest", 0) == 0
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    got = edgec.load(art.path).run({"x": x})["y"]
    np.testing.assert_allclose(got, ort_session(model).run(None, {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_upsample_kernel_on_rpi4_under_qemu(tmp_path):
    """The lane-duplicating shuffles lowered for NEON (4 lanes: each 8-lane shuffle split)."""
    model = resize_model((1, 6, 5, 13), (1, 1, 2, 3), **NEAREST)
    art = edgec.compile(model, target="rpi4", out=tmp_path / "a")
    assert art.manifest.compile_options["schedule_stats"].get("upsample_nearest", 0) == 1
    res = edgec.verify(art, model)
    assert res.ran_on.startswith("emulated (qemu-aarch64")
    assert res.rel_l2_error == 0.0, res


@pytest.mark.parametrize("after, shape, sizes", [
    ("Abs", (1, 24, 1, 1), (1, 24, 1, 1)),          # difftest seed 60037: sizes = the input's (factor 1)
    ("Transpose", (2, 24, 43, 1), (2, 24, 43, 2)),
    ("Abs", (2, 24, 5, 3), (2, 24, 10, 6))])
def test_upsample_kernel_followed_by_another_op(after, shape, sizes, tmp_path):
    """difftest seeds 60002/60037: FuseOps fused the next op into the kernel and FuseTIR failed
    ("Inconsistent buffers"); the kernel is opaque to fusion now."""
    attrs = {"perm": [2, 0, 3, 1]} if after == "Transpose" else {}
    out = [sizes[i] for i in attrs["perm"]] if attrs else list(sizes)
    g = helper.make_graph(
        [helper.make_node("Resize", ["x", "", "", "sizes"], ["r"], mode="nearest",
                          coordinate_transformation_mode="pytorch_half_pixel", nearest_mode="round_prefer_ceil"),
         helper.make_node(after, ["r"], ["y"], **attrs)], "r",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)],
        initializer=[numpy_helper.from_array(np.array(sizes, np.int64), "sizes")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    art = edgec.compile(model, out=tmp_path / "a")
    assert art.manifest.compile_options["schedule_stats"].get("upsample_nearest", 0) == 1
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(edgec.load(art.path).run({"x": x})["y"], ort_session(model).run(None, {"x": x})[0])
