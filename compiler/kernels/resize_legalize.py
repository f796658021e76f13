"""relax.image.resize2d: edgec's nearest-upsampling kernel where it computes the same values
(NCHW, nearest, whole scale factors, a coordinate mode that maps output i to input i // s); TVM's
legalization otherwise (kernels/upsample_nearest.py says why)."""
from __future__ import annotations

from tvm import relax
from tvm.relax.transform.legalize_ops.image import _image_resize2d

from edgec.compiler.kernels.upsample_nearest import DTYPES, FLOOR_DIV_MODES, upsample_nearest_nchw_func
from edgec.compiler.schedules.cpu_generic import MIN_PARALLEL_WORK


def _factors(call: relax.Call) -> "tuple[tuple[int, ...], int, int] | None":
    a = call.attrs
    if str(a.layout) != "NCHW" or str(a.method) != "nearest_neighbor" or \
            (str(a.coordinate_transformation_mode), str(a.rounding_method)) not in FLOOR_DIV_MODES:
        return None
    x = call.args[0]
    if str(x.ty.dtype) not in DTYPES:
        return None
    try:
        shape = tuple(int(d) for d in x.ty.shape)
        size = tuple(int(d) for d in call.args[1].values)
    except (TypeError, ValueError, AttributeError):
        return None
    if len(shape) != 4 or len(size) != 2 or shape[2] == 0 or shape[3] == 0:
        return None
    (oh, ow), (h, w) = size, shape[2:]
    if oh % h or ow % w or oh < h or ow < w:
        return None
    return shape, oh // h, ow // w


def resize2d_legalizer(stats: dict | None = None):
    """A LegalizeOps function for relax.image.resize2d; counts its kernels in ``stats``
    (schedule_stats["upsample_nearest"] in the manifest)."""

    def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        f = _factors(call)
        if f is None:
            return _image_resize2d(bb, call)
        if stats is not None:
            stats["upsample_nearest"] = stats.get("upsample_nearest", 0) + 1
        return _emit(bb, call, *f)

    return legalize


def _emit(bb: relax.BlockBuilder, call: relax.Call, shape: tuple[int, ...], sh: int, sw: int) -> relax.Expr:
    dtype = str(call.args[0].ty.dtype)
    total = shape[0] * shape[1] * shape[2] * shape[3] * sh * sw
    func = upsample_nearest_nchw_func(shape, sh, sw, dtype, parallel=total >= MIN_PARALLEL_WORK)
    gv = bb.add_func(func, "edgec_upsample_nearest")
    out = relax.TensorType((shape[0], shape[1], shape[2] * sh, shape[3] * sw), dtype)
    return relax.call_tir(gv, [call.args[0]], out)
