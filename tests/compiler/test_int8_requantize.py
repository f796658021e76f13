"""compiler/int8/requantize.py: a quantize -> dequantize pair between float ops loses its int8 round
trip (same values), a quantize some other op reads keeps it, and x / c becomes x * (1/c)."""
import numpy as np
import pytest
import tvm
from tvm import relax

from edgec.compiler.int8.qdq import quantize_by_reciprocal
from edgec.compiler.int8.requantize import fold_requantize


def _module(dtype: str, zp: int, extra_int8_user: bool) -> tvm.IRModule:
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((2, 3, 5, 7), "float32"))
    s, z = relax.const(np.float32(0.037)), relax.const(np.array(zp, dtype))
    with bb.function("main", [x]):
        with bb.dataflow():
            q = bb.emit(relax.op.quantize(x, s, z, out_dtype=dtype))
            d = bb.emit(relax.op.dequantize(q, s, z, out_dtype="float32"))
            y = bb.emit(relax.op.divide(relax.op.add(d, relax.const(np.float32(3.0))), relax.const(np.float32(6.0))))
            if extra_int8_user:  # an int8 tensor something else reads (an int8 kernel's input)
                y = relax.Tuple([y, q])
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    return bb.get()


def _run(mod: tvm.IRModule, x: np.ndarray):
    mod = relax.transform.LegalizeOps()(mod)
    ex = tvm.compile(mod, target="llvm")
    vm = relax.VirtualMachine(ex, tvm.cpu())
    return vm["main"](tvm.runtime.tensor(x)).numpy()


@pytest.mark.parametrize("dtype,zp", [("int8", 0), ("int8", -5), ("uint8", 131)])
def test_pair_between_float_ops_loses_the_int8_cast_and_keeps_the_values(dtype, zp):
    before = quantize_by_reciprocal(_module(dtype, zp, extra_int8_user=False))
    after = fold_requantize(before)
    script = after["main"].script(show_meta=False)
    assert "R.astype" not in script and "R.dequantize" not in script and "R.divide" not in script, script
    x = np.random.default_rng(0).uniform(-8, 8, (2, 3, 5, 7)).astype(np.float32)
    x[0, 0, 0, :3] = [1e3, -1e3, 0.037 * 2.5]  # both clamps and a rounding tie
    want, got = _run(before, x), _run(after, x)
    # x / 6 and x * (1/6) may differ in the last bit
    np.testing.assert_allclose(got, want, rtol=2e-7, atol=0)
    assert np.unique(np.round(got * 6 - 3, 3)).size > 20  # a real range of values went through


def test_pair_whose_int8_value_is_also_read_keeps_the_cast():
    after = fold_requantize(quantize_by_reciprocal(_module("int8", 0, extra_int8_user=True)))
    script = after["main"].script(show_meta=False)
    assert "R.astype" in script and "R.dequantize" in script
    assert "R.divide" not in script
