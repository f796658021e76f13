"""compiler/int8/affine.py and the int8 epilogue's scalar folding: chains of multiplies and adds by
constants become one multiply and one add (values to the last bits), a value something else reads
keeps its own op, and an int8 conv's leading quantize scale moves into the kernel's scale."""
import numpy as np
import onnx
import pytest
import tvm
from onnx import TensorProto, helper, numpy_helper
from tvm import relax

from edgec.compiler.int8.affine import fold_affine

F32 = "float32"


def _c(v):
    return relax.const(np.asarray(v, np.float32))


def _module(shared: bool) -> tvm.IRModule:
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 4, 5, 3), F32))
    with bb.function("main", [x]):
        with bb.dataflow():
            a = bb.emit(relax.op.multiply(x, _c([0.5, 2.0, -3.0])))       # per channel (NHWC)
            b = bb.emit(relax.op.add(a, _c([1.0, -1.0, 0.25])))
            c = bb.emit(relax.op.multiply(b, _c(7.0)))
            d = bb.emit(relax.op.divide(c, _c(3.0)))
            e = bb.emit(relax.op.subtract(d, _c(0.5)))
            r = bb.emit(relax.op.round(e))
            z = bb.emit(relax.op.add(r, _c(0.0)))                          # a quantize's zero point 0
            m = bb.emit(relax.op.maximum(z, _c(-4.0)))
            if shared:  # c read twice: the chain must stop there
                m = bb.emit(relax.op.add(m, c))
            out = bb.emit_output(m)
        bb.emit_func_output(out)
    return bb.get()


def _run(mod, x):
    ex = tvm.compile(relax.transform.LegalizeOps()(mod), target="llvm")
    return relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()


def _ops(mod) -> list:
    return [b.value.op.name for blk in mod["main"].body.blocks for b in blk.bindings
            if isinstance(b.value, relax.Call) and isinstance(b.value.op, tvm.ir.Op)]


@pytest.mark.parametrize("shared", [False, True])
def test_multiply_add_chains_fold_into_one_multiply_and_one_add(shared):
    before = _module(shared)
    after = fold_affine(before)
    ops = _ops(after)
    if shared:  # x*a+b*7 (c, read twice) and c/3-0.5 fold separately; round(.)+0 loses its add
        assert ops == ["relax.multiply", "relax.add", "relax.multiply", "relax.add", "relax.round",
                       "relax.maximum", "relax.add"], ops
    else:
        assert ops == ["relax.multiply", "relax.add", "relax.round", "relax.maximum"], ops
    x = np.random.default_rng(0).uniform(-9, 9, (1, 4, 5, 3)).astype(np.float32)
    want, got = _run(before, x), _run(after, x)
    # a value within an ulp or two of a rounding tie may round the other way; nothing else moves
    assert np.mean(np.isclose(got, want, rtol=1e-6, atol=1e-6)) > 0.95 and np.abs(got - want).max() <= 1.0 + 1e-4


def _qdq_conv_model(c=32, o=48, hw=12) -> onnx.ModelProto:
    """quantize -> conv (int8 weights, bias) -> quantize -> dequantize -> HardSwish-like chain -> quantize."""
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, (o, c, 1, 1)).astype(np.int8)
    inits = [numpy_helper.from_array(w, "wq"), numpy_helper.from_array(np.full(o, 0.01, np.float32), "ws"),
             numpy_helper.from_array(np.zeros(o, np.int8), "wz"),
             numpy_helper.from_array(rng.normal(0, 1, o).astype(np.float32), "bias"),
             numpy_helper.from_array(np.float32(0.05), "s1"), numpy_helper.from_array(np.int8(0), "z1"),
             numpy_helper.from_array(np.float32(0.21), "s2"), numpy_helper.from_array(np.int8(0), "z2"),
             numpy_helper.from_array(np.float32(0.3), "s3"), numpy_helper.from_array(np.int8(0), "z3"),
             numpy_helper.from_array(np.float32(1.3), "a"), numpy_helper.from_array(np.float32(0.4), "b")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s1", "z1"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s1", "z1"], ["xd"]),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"], axis=0),
             helper.make_node("Conv", ["xd", "wd", "bias"], ["y"]),
             helper.make_node("QuantizeLinear", ["y", "s2", "z2"], ["yq"]),
             helper.make_node("DequantizeLinear", ["yq", "s2", "z2"], ["yd"]),
             helper.make_node("Mul", ["yd", "a"], ["ya"]), helper.make_node("Add", ["ya", "b"], ["yb"]),
             helper.make_node("HardSwish", ["yb"], ["h"]),
             helper.make_node("QuantizeLinear", ["h", "s3", "z3"], ["hq"]),
             helper.make_node("DequantizeLinear", ["hq", "s3", "z3"], ["out"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (1, c, hw, hw))],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, (1, o, hw, hw))], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_int8_conv_epilogue_takes_the_leading_quantize_scale_into_its_own_and_matches_the_reference(
        tmp_path, monkeypatch):
    import edgec
    from edgec.compiler.int8 import epilogue
    from edgec.reference import ort_session

    folded = []
    orig = epilogue.Epilogue.fold_leading_scale

    def spy(self):
        orig(self)
        folded.append(self.in_scale)

    monkeypatch.setattr(epilogue.Epilogue, "fold_leading_scale", spy)
    model = _qdq_conv_model()
    art = edgec.compile(model, target="x86_64-avx2", out=tmp_path / "a")
    assert art.manifest.compile_options["int8"]["int8_layers"] == 1
    assert folded and folded[-1] == pytest.approx(1 / 0.21)  # the conv's output quantize (s2)
    if not _host_has_avx2():
        pytest.skip("host cannot run AVX2 code")
    ref = ort_session(model)
    sess = art.load()
    for seed in range(3):
        x = np.random.default_rng(seed).uniform(-6, 6, (1, 32, 12, 12)).astype(np.float32)
        got, want = sess.run({"x": x})["out"], ref.run(None, {"x": x})[0]
        steps = np.abs(got - want) / 0.3  # in steps of the output's scale
        # edgec skips the last fake-quant (no int8 kernel reads it: <= 1/2 step); a value at a
        # rounding boundary upstream may land one step of that scale apart
        assert steps.max() <= 0.5 + 1e-3 + 0.21 * 1.3 / 0.3, steps.max()
        assert np.mean(steps <= 0.5 + 1e-3) > 0.98
    assert edgec.verify(art, model).passed


def _host_has_avx2() -> bool:
    try:
        return "avx2" in open("/proc/cpuinfo").read()
    except OSError:
        return False
