"""compiler/int8/concat_quant.py: nearest whole-factor upsamples + channel concat + quantize (an
FPN neck between int8 layers) become one kernel with the same values, bit for bit; a concat whose
value something else reads, or an upsample it cannot express, keeps TVM's kernels."""
import numpy as np
import pytest
import tvm
from tvm import relax

from edgec.compiler.int8.concat_quant import fuse_concat_quantize

F32 = "float32"


def _c(v):
    return relax.const(np.float32(v))


def _module(zp: float, mode: str = "asymmetric", extra_user: bool = False) -> tvm.IRModule:
    bb = relax.BlockBuilder()
    a = relax.Var("a", relax.TensorType((1, 4, 4, 8), F32))    # x4
    b = relax.Var("b", relax.TensorType((1, 8, 4, 12), F32))   # x2 rows, x4 columns
    c = relax.Var("c", relax.TensorType((1, 16, 16, 6), F32))  # full size, 6 channels (no vector)
    with bb.function("main", [a, b, c]):
        with bb.dataflow():
            ups = [bb.emit(relax.op.image.resize2d(t, (16, 16), layout="NHWC", method="nearest_neighbor",
                                                   coordinate_transformation_mode=mode, rounding_method="floor"))
                   for t in (a, b)]
            cat = bb.emit(relax.op.concat(ups + [c], axis=3))
            r = bb.emit(relax.op.round(relax.op.multiply(cat, _c(1 / 0.05))))
            if zp:
                r = bb.emit(relax.op.add(r, _c(zp)))
            q = bb.emit(relax.op.astype(relax.op.maximum(relax.op.minimum(r, _c(127.0)), _c(-128.0)), "int8"))
            out = bb.emit_output(relax.Tuple([q, cat]) if extra_user else q)
        bb.emit_func_output(out)
    return relax.transform.Normalize()(bb.get())


def _run(mod, *xs):
    ex = tvm.compile(relax.transform.LegalizeOps()(mod), target="llvm")
    out = relax.VirtualMachine(ex, tvm.cpu())["main"](*[tvm.runtime.tensor(x) for x in xs])
    return out.numpy() if hasattr(out, "numpy") else out[0].numpy()


@pytest.mark.parametrize("zp", [0.0, 3.0])
def test_upsample_concat_quantize_becomes_one_kernel_with_the_same_values(zp):
    before = _module(zp)
    after = fuse_concat_quantize(before)
    script = after["main"].script(show_meta=False)
    assert "edgec_concat_quantize" in script and "R.concat" not in script and "resize2d" not in script, script
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-9, 9, s).astype(np.float32) for s in ((1, 4, 4, 8), (1, 8, 4, 12), (1, 16, 16, 6))]
    xs[0][0, 0, 0, :2] = [0.025, 1e3]  # a rounding tie and a clamp
    want, got = _run(before, *xs), _run(after, *xs)
    assert got.dtype == np.int8 and np.array_equal(got, want)
    assert len(np.unique(got)) > 100


@pytest.mark.parametrize("case", ["read-elsewhere", "align-corners"])
def test_a_concat_read_elsewhere_or_another_upsample_keeps_tvms_kernels(case):
    mod = _module(0.0, extra_user=True) if case == "read-elsewhere" else _module(0.0, mode="align_corners")
    script = fuse_concat_quantize(mod)["main"].script(show_meta=False)
    assert "edgec_concat_quantize" not in script and "R.concat" in script


def test_se_gate_multiply_then_quantize_becomes_channel_runs_with_the_same_values():
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 6, 5, 24), F32))
    g = relax.Var("g", relax.TensorType((1, 1, 1, 24), F32))
    with bb.function("main", [x, g]):
        with bb.dataflow():
            r = bb.emit(relax.op.round(relax.op.multiply(relax.op.multiply(x, g), _c(1 / 0.03))))
            q = bb.emit(relax.op.astype(relax.op.maximum(relax.op.minimum(r, _c(127.0)), _c(-128.0)), "int8"))
            out = bb.emit_output(q)
        bb.emit_func_output(out)
    before = relax.transform.Normalize()(bb.get())
    after = fuse_concat_quantize(before)
    assert "edgec_gate_quantize" in after["main"].script(show_meta=False)
    rng = np.random.default_rng(1)
    xs = [rng.uniform(-4, 4, (1, 6, 5, 24)).astype(np.float32), rng.uniform(0, 1, (1, 1, 1, 24)).astype(np.float32)]
    assert np.array_equal(_run(before, *xs), _run(after, *xs))
