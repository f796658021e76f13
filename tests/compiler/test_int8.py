"""Integer kernels for QDQ models: kernel numerics on odd shapes, the Relax rewrite (what runs
int8, what stays float and why), fused epilogues, fake-quant dropping, the speed guard, the
aarch64 sdot path, weight bytes."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tvm
from onnx import TensorProto, helper, numpy_helper

import edgec
from edgec.compiler.int8 import Int8Stats, dot_isa, lower_int8
from edgec.compiler.int8.isa import PMADDWD, SDOT, SMLAL, VNNI
from edgec.compiler.int8.kernels import ConvSpec, conv_int8_func, epilogue_constants, kernel_params, pack_weights
from edgec.compiler.quantize import Int8Options, quantize
from edgec.models.tiny import _Builder

HOST = tvm.target.Target({"kind": "llvm", "mcpu": tvm.target.codegen.llvm_get_system_cpu()})
# qemu-user does not emulate AVX-512: the VNNI kernels run only where the CPU has them (the sdot
# path is checked end to end under qemu in tests/targets/test_cross.py)
_X86 = tvm.target.codegen.llvm_get_system_triple().startswith("x86_64")
# the host runs the kernels of its own ISA and, on x86, the AVX2 ones (every AVX-512 CPU has AVX2)
needs_int8_isa = pytest.mark.skipif(dot_isa(HOST) is None, reason="host CPU has no SIMD integer path edgec uses")
HOST_ISAS = [i for i in (VNNI, PMADDWD) if dot_isa(HOST) is i or (i is PMADDWD and _X86 and dot_isa(HOST) is VNNI)]


def _ort_conv(x, w, spec):
    node = helper.make_node("Conv", ["x", "w"], ["y"], strides=list(spec.stride), pads=list(spec.pad),
                            dilations=list(spec.dilation))
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def _run_kernel(spec, isa, xq, wq, ws, xs, epilogue=None, ep=None, out_dtype="float32"):
    f = conv_int8_func(spec, isa, epilogue=epilogue, ep_rows=0 if ep is None else len(ep), out_dtype=out_dtype)
    lib = tvm.tirx.build(f.with_attr("global_symbol", "main"), target=HOST)
    scale, corr = epilogue_constants(wq, ws, xs, spec, isa)
    params = kernel_params(pack_weights(wq, isa), scale, corr, ep, spec, isa)
    args = [tvm.runtime.tensor(a) for a in (xq, params, np.zeros(spec.out_shape, out_dtype))]
    lib(*args)
    return args[-1].numpy()


SPECS = [
    ConvSpec(1, 240, 1, 96, 240),                                                   # 1x1 over a flattened row
    ConvSpec(1, 13, 9, 13, 7, 3, 2, (2, 1), (1, 0, 2, 1), (1, 2), x_dtype="uint8", x_zp=77),  # odd everything
    ConvSpec(2, 24, 10, 12, 40, 3, 3, pad=(1, 1, 1, 1)),                             # batch 2, O % 16 != 0
    ConvSpec(1, 3, 16, 20, 16, 3, 3, (2, 2), (1, 1, 1, 1)),                          # stem: C padded to 4
    ConvSpec(1, 121, 1, 37, 70, in_layout="NHWC", out_layout="NHWC"),               # matmul rows, odd K/N/M
    # channels-last convs (what the rewrite emits): odd channels and border, long channel rows
    ConvSpec(1, 13, 9, 13, 7, 3, 2, (2, 1), (1, 0, 2, 1), (1, 2), "NHWC", "NHWC", x_dtype="uint8", x_zp=77),
    ConvSpec(1, 960, 1, 10, 24, 1, 3, pad=(0, 1, 0, 1), in_layout="NHWC", out_layout="NHWC"),
]


@pytest.mark.parametrize("isa", [VNNI, PMADDWD], ids=lambda i: i.name)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.c}x{s.h}x{s.w}->{s.o}k{s.kh}{s.kw}{s.in_layout}")
def test_kernel_matches_a_float_conv_on_the_dequantized_values(spec, isa):
    if isa not in HOST_ISAS:
        pytest.skip(f"host CPU cannot run {isa.name} (no qemu-user for AVX-512; aarch64 kernels: test_cross.py)")
    rng = np.random.default_rng(0)
    lo, hi = (0, 256) if spec.x_dtype == "uint8" else (-128, 128)
    xq = rng.integers(lo, hi, spec.in_shape).astype(spec.x_dtype)
    wq = rng.integers(-128, 128, (spec.o, spec.c, spec.kh, spec.kw)).astype(np.int8)  # -128 too: no saturation
    ws, xs = rng.uniform(0.01, 0.02, spec.o).astype(np.float32), 0.05
    got = _run_kernel(spec, isa, xq, wq, ws, xs)
    xf = (xq.astype(np.float32) - spec.x_zp) * xs
    if spec.in_layout == "NHWC":
        xf = xf.transpose(0, 3, 1, 2)
    ref = _ort_conv(xf, wq.astype(np.float32) * ws[:, None, None, None], spec)
    if spec.out_layout == "NHWC":
        got = got.transpose(0, 3, 1, 2)
    assert got.shape == ref.shape
    # integer accumulation is exact: what is left is the float rounding of the reference
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-6


@needs_int8_isa
def test_epilogue_writes_the_next_layers_int8_input():
    from tvm import tirx

    spec = ConvSpec(1, 32, 6, 8, 20, 3, 3, pad=(1, 1, 1, 1))
    rng = np.random.default_rng(1)
    xq = rng.integers(-128, 128, spec.in_shape).astype(np.int8)
    wq = rng.integers(-127, 128, (spec.o, spec.c, 3, 3)).astype(np.int8)
    ws = np.full(spec.o, 0.01, np.float32)
    bias = rng.normal(0, 1, spec.o).astype(np.float32)

    def relu_quantize(v, oc, ep):  # + bias[oc], relu, quantize with scale 0.5
        r = tirx.max(v + ep[0, oc], tirx.const(0.0, "float32"))
        return tirx.min(tirx.round(r / tirx.const(0.5, "float32")), tirx.const(127.0, "float32")).astype("int8")

    got = _run_kernel(spec, dot_isa(HOST), xq, wq, ws, 0.05, relu_quantize, bias[None], "int8")
    plain = _run_kernel(spec, dot_isa(HOST), xq, wq, ws, 0.05)
    want = np.clip(np.round(np.maximum(plain + bias[None, :, None, None], 0) / 0.5), -128, 127).astype(np.int8)
    assert got.dtype == np.int8 and np.abs(got.astype(int) - want).max() <= 1 and (got == want).mean() > 0.99


def _asm(isa, target: dict, spec=ConvSpec(1, 64, 1, 48, 32)) -> str:
    f = conv_int8_func(spec, isa)
    return tvm.tirx.build(f.with_attr("global_symbol", "main"), target=tvm.target.Target(target)).inspect_source("asm")


def test_aarch64_kernels_use_sdot_with_dotprod_and_smull_smlal_sadalp_without():
    a76 = {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a76", "mattr": ["+neon", "+dotprod"]}
    a72 = {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72", "mattr": ["+neon"]}
    assert dot_isa(tvm.target.Target(a76)) is SDOT and dot_isa(tvm.target.Target(a72)) is SMLAL
    assert "sdot" in _asm(SDOT, a76)
    asm = _asm(SMLAL, a72)
    # per accumulator and group of 4 channels: smull + smlal (int16), then sadalp (int32)
    assert asm.count("smull") >= 8 and asm.count("smlal") >= 8 and asm.count("sadalp") >= 8
    assert "sdot" not in asm


def test_avx2_kernel_multiplies_int16_pairs_with_vpmaddwd():
    avx2 = {"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "haswell"}
    assert dot_isa(tvm.target.Target(avx2)) is PMADDWD
    assert dot_isa(tvm.target.Target({"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "x86-64"})) is None
    asm = _asm(PMADDWD, avx2)
    # one per accumulator in the channel loop's body; weights stay int8 in memory and are
    # sign-extended by the load (one per channel vector)
    assert asm.count("vpmaddwd") >= 8 and asm.count("vpmovsxbw") >= 2 and "vpdpbusd" not in asm


def test_vnni_channels_last_conv_compiles_to_vpdpbusd():
    """The VNNI kernels run only on AVX-512 VNNI hosts; their channels-last conv (what the rewrite
    emits) is at least compiled and checked for the instruction everywhere."""
    avx512 = {"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "cascadelake"}
    assert dot_isa(tvm.target.Target(avx512)) is VNNI
    spec = ConvSpec(1, 13, 9, 13, 40, 3, 3, (1, 1), (1, 1, 1, 1), in_layout="NHWC", out_layout="NHWC")
    assert "vpdpbusd" in _asm(VNNI, avx512, spec)


def test_packed_weights_keep_one_byte_per_weight_on_every_isa():
    w = np.random.default_rng(0).integers(-127, 128, (40, 13, 3, 3)).astype(np.int8)
    for isa in (VNNI, SDOT, PMADDWD, SMLAL):
        p = pack_weights(w, isa)
        assert p.dtype == np.int8 and p.shape[-1] == isa.lanes * isa.group
        assert p.size == -(-40 // isa.lanes) * isa.lanes * 9 * -(-13 // isa.group) * isa.group
        assert np.sort(p.reshape(-1))[-w.size:].sum() >= 0 and np.count_nonzero(p) == np.count_nonzero(w)


def _qdq_cnn(seed: int = 0) -> tuple[onnx.ModelProto, onnx.ModelProto, list]:
    """conv3x3 8->32 + relu, 1x1 32->32 + clip, depthwise 3x3, 1x1 32->32 + residual add,
    global pool, MatMul head 32->10: four int8 layers and one float (depthwise)."""
    b = _Builder(seed)
    a = b.op("Relu", [b.op("Conv", ["x", b.weight(32, 8, 3, 3), b.weight(32)], pads=[1, 1, 1, 1])])
    p = b.op("Clip", [b.op("Conv", [a, b.weight(32, 32, 1, 1), b.weight(32)]), b.const(np.float32(0)), b.const(np.float32(6))])
    d = b.op("Relu", [b.op("Conv", [p, b.weight(32, 1, 3, 3), b.weight(32)], group=32, pads=[1, 1, 1, 1])])
    r = b.op("Add", [b.op("Conv", [d, b.weight(32, 32, 1, 1), b.weight(32)]), p])
    g = b.op("Flatten", [b.op("GlobalAveragePool", [r])])
    b.nodes.append(helper.make_node("MatMul", [g, b.weight(32, 10)], ["y"], name="head"))
    m = b.model("qdq_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 12, 12])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])])
    calib = [{"x": np.random.default_rng(100 + i).uniform(-1, 1, (1, 8, 12, 12)).astype(np.float32)} for i in range(16)]
    return m, quantize(m, "int8", calib, Int8Options()).model, calib


@needs_int8_isa
def test_qdq_model_runs_its_conv_and_matmul_layers_on_int8_kernels(tmp_path):
    m, q, calib = _qdq_cnn()
    art = edgec.compile(q, out=tmp_path / "q", speed_guard=False)
    st = art.manifest.compile_options["int8"]
    assert st["int8_layers"] == 4 and st["float_layers"] == {"grouped/depthwise conv (no dot-product reduction)": 1}
    assert st["fused_epilogue_ops"] >= 4  # bias, relu/clip and the next layer's quantize ride in the kernels
    assert art.manifest.compile_options["qdq"] is True
    from tests.conftest import run_cli

    shown = run_cli("inspect", str(art.path)).stdout
    assert "int8 4 layers on integer kernels" in shown and "1 grouped/depthwise conv" in shown
    res = edgec.verify(art, q)  # against ORT running the same QDQ model as float (any host alike)
    from edgec.reference import ort_session, quantized_output_scales
    from edgec.verification import QDQ_LSBS

    assert res.outputs[0].tolerance_max_abs == QDQ_LSBS * quantized_output_scales(q)["y"]  # y is quantized
    assert res.passed and res.rel_l2_error < 0.05, res
    sess, ref = art.load(), ort_session(q)
    feeds = [{"x": np.random.default_rng(i).uniform(-1, 1, (1, 8, 12, 12)).astype(np.float32)} for i in range(20)]
    agree = np.mean([sess.run(f)["y"].argmax() == ref.run(None, f)[0].argmax() for f in feeds])
    assert agree >= 0.9
    f32 = edgec.compile(m, out=tmp_path / "f")
    # int8 weights plus per-channel scale/correction/bias: on a model this small those and the
    # float depthwise weights weigh in (PP-OCR rec: 0.29x, tests/test_zoo_models.py)
    assert art.manifest.compile_options["weight_bytes"] < 0.45 * f32.manifest.compile_options["weight_bytes"]


@needs_int8_isa
def test_speed_guard_times_every_layer_and_keeps_the_faster(tmp_path):
    _, q, _ = _qdq_cnn(seed=1)
    art = edgec.compile(q, out=tmp_path / "q", speed_guard=True)
    st = art.manifest.compile_options["int8"]
    times = st["speed_guard_us"]
    assert len(times) == 4 and all(f > 0 and i > 0 for f, i in times)
    slower = sum(i >= f for f, i in times)
    assert st["int8_layers"] == 4 - slower
    assert st["float_layers"].get("slower than float here (measured)", 0) == slower
    assert edgec.verify(art, q).passed


def test_avx2_target_runs_int8_on_vpmaddwd(tmp_path):
    """x86 without VNNI (the speed guard is off for a named target: the static rules decide)."""
    _, q, _ = _qdq_cnn()
    art = edgec.compile(q, target="x86_64-avx2", out=tmp_path / "q")
    st = art.manifest.compile_options["int8"]
    assert st["int8_layers"] == 4 and st["isa"] == "pmaddwd"
    if _X86:
        res = edgec.verify(art, q)
        assert res.passed and res.rel_l2_error < 0.05, res


def test_target_without_a_simd_integer_path_keeps_float_but_int8_weights(tmp_path):
    _, q, _ = _qdq_cnn()
    art = edgec.compile(q, target="rpi3-armv7", out=tmp_path / "q")
    st = art.manifest.compile_options["int8"]
    assert st["int8_layers"] == 0 and "no int8 dot-product instruction on rpi3-armv7" in st["float_layers"]


def test_fake_quant_is_dropped_except_where_an_int8_kernel_or_a_float_conv_reads_it():
    from edgec.compiler.driver import CompileOptions, import_model
    from edgec.compiler.int8.rewrite import drop_unused_qdq
    from edgec.compiler.source import load_source as resolve_model

    def count(mod, op):
        return mod["main"].script(show_meta=False).count(f"R.{op}(")

    _, q, _ = _qdq_cnn()
    mod, *_ = import_model(resolve_model(q), CompileOptions())
    before = count(mod, "quantize")
    dropped = drop_unused_qdq(mod)
    # one per int8 layer input and one in front of the float depthwise conv (qdq.py says why)
    assert count(dropped, "quantize") == 5 < before
    assert count(drop_unused_qdq(mod, keep_before=()), "quantize") == 4  # --drop-fake-quant
    lowered = lower_int8(mod, VNNI, Int8Stats())
    assert count(lowered, "nn.conv2d") == 0 and count(lowered, "matmul") == 0
    # the depthwise conv stays float but keeps int8 weights, converted by a kernel of their own
    # (float_layers.py), and the graph between the int8 kernels is channels-last (layout.py)
    script = lowered["main"].script(show_meta=False)
    assert script.count("edgec_int8_weights") == 1
    # no transpose of a whole feature map (others: C-vectors): the first int8 kernel reads the
    # model's NCHW input in its pack
    maps = [ln for ln in script.splitlines() if "R.permute_dims(" in ln and "12, 12" in ln]
    assert not maps, maps


def test_qoperator_model_imports_and_runs_int8(tmp_path):
    """QLinearConv / QLinearMatMul (ORT's QOperator format; TVM imports neither)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    m, _, calib = _qdq_cnn(seed=2)
    onnx.save(m, tmp_path / "f.onnx")

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib)

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(tmp_path / "f.onnx"), str(tmp_path / "qop.onnx"), Reader(), quant_format=QuantFormat.QOperator,
                    op_types_to_quantize=["Conv", "MatMul"], per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    qop = onnx.load(tmp_path / "qop.onnx")
    assert {"QLinearConv", "QLinearMatMul"} <= {n.op_type for n in qop.graph.node}
    art = edgec.compile(qop, out=tmp_path / "a", speed_guard=False)
    assert any("qoperators_rewritten=5" in p for p in art.manifest.compile_options["passes"])
    if dot_isa(HOST) is VNNI:
        assert art.manifest.compile_options["int8"]["int8_layers"] == 4
    res = edgec.verify(art, qop)
    assert res.passed and res.rel_l2_error < 0.05, res


def test_layers_the_speed_guard_vetoes_keep_int8_weights():
    """A conv left in float (here: every layer vetoed) runs on the float kernel with int8 weights
    converted once per run, so the size win holds where int8 compute does not pay."""
    from edgec.compiler.driver import CompileOptions, import_model
    from edgec.compiler.source import load_source as resolve_model
    from edgec.compiler.weights import weight_bytes

    _, q, _ = _qdq_cnn()
    mod, *_ = import_model(resolve_model(q), CompileOptions())
    st = Int8Stats()
    lowered = lower_int8(mod, PMADDWD, st, keep=lambda i, plan: False)
    script = lowered["main"].script(show_meta=False)
    assert st.int8_layers == 0 and st.float_layers["slower than float here (measured)"] == 4
    assert "R.nn.conv2d(" not in script
    # one kernel converts the weights of all 4 (3 convs + depthwise), one output each
    assert script.count("edgec_int8_weights") == 1 and script.count("= int8_weights[") == 4, script
    assert weight_bytes(lowered) < 0.5 * weight_bytes(import_model(resolve_model(_qdq_cnn()[0]), CompileOptions())[0])
