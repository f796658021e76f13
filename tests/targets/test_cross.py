"""Cross-compilation for boards and GPUs, the native runner, device bundles and qemu emulation.

Needs the cross toolchains, qemu-user and cmake that `make setup` installs (tools/setup-system.sh)."""
import json
import subprocess

import numpy as np
import pytest

import edgec
from edgec.errors import ArtifactError, ToolchainError
from edgec.models.tiny import tiny_cnn, tiny_mlp, tiny_transformer
from edgec.verification import DEFAULT_RTOL_L2
from tests.conftest import run_cli

TINY = {"cnn": (lambda: tiny_cnn(batch=1)), "mlp": tiny_mlp, "transformer": tiny_transformer}


def _file(path) -> str:
    return subprocess.run(["file", "-b", str(path)], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_models_on_rpi4_under_qemu_match_ort(name, tmp_path):
    model = TINY[name]()
    art = edgec.compile(model, target="rpi4", out=tmp_path / name)
    assert "ARM aarch64" in _file(art.library)
    assert art.manifest.target["cpu"] == "cortex-a72"
    assert art.manifest.target["requires"] == {"machine": "aarch64", "cpu_features": ["neon"]}
    res = edgec.verify(art, model)
    assert res.ran_on.startswith("emulated (qemu-aarch64")
    assert res.rel_l2_error <= DEFAULT_RTOL_L2, res


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ppocr-cls", "ppocr-rec", "ppocr-det"])
def test_zoo_models_on_rpi4_under_qemu_match_ort(name, tmp_path):
    """On TVM's VM (its bundle under qemu); the default micro runtime's are in test_micro_cross.py."""
    art = edgec.compile(name, target="rpi4", out=tmp_path / name, runtime="vm")
    res = edgec.verify(art)
    assert res.ran_on.startswith("emulated") and res.rel_l2_error <= DEFAULT_RTOL_L2, res


@pytest.mark.parametrize("target, expect", [("rpi3-armv7", "ARM, EABI5"), ("riscv64", "RISC-V"),
                                            ("rpi5", "ARM aarch64")])
def test_other_boards_compile_and_link(target, expect, tmp_path):
    art = edgec.compile(tiny_mlp(), target=target, out=tmp_path / target)
    assert expect in _file(art.library)
    assert "shared object" in _file(art.library)


def test_android_artifact_carries_objects_for_the_ndk(tmp_path):
    art = edgec.compile(tiny_mlp(), target="android-arm64", out=tmp_path / "a")
    assert art.manifest.library == "model.tar"
    import tarfile

    with tarfile.open(art.library) as t:
        assert any(n.endswith(".o") for n in t.getnames())


def test_missing_cross_toolchain_names_the_package(tmp_path):
    board = tmp_path / "board.toml"
    board.write_text('name = "b"\ndescription = "x"\ntriple = "aarch64-linux-gnu"\ncpu = "cortex-a53"\n'
                     '[toolchain]\ncxx = "no-such-aarch64-g++"\npackage = "g++-aarch64-linux-gnu"\n')
    with pytest.raises(ToolchainError, match="apt-get install g\\+\\+-aarch64-linux-gnu"):
        edgec.compile(tiny_mlp(), target=board, out=tmp_path / "o")
    proc = run_cli("compile", str(tmp_path / "m.onnx"), "-t", str(board), "-o", str(tmp_path / "o2"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr


def test_host_bundle_runs_without_python(tmp_path):
    from edgec.bundle import package

    model = tiny_mlp()
    art = edgec.compile(model, out=tmp_path / "art", runtime="vm")  # the C++ runner over TVM's runtime
    b = package(art, tmp_path / "bundle")
    assert {"model.so", "manifest.json", "libtvm_runtime.so", "libtvm_ffi.so", "libedgec_runtime.so", "edgec-run",
            "README.txt"} <= set(b.files)
    x = np.random.default_rng(0).normal(size=(4, 64)).astype(np.float32)
    np.save(tmp_path / "bundle" / "x.npy", x)
    (tmp_path / "bundle" / "out").mkdir()
    proc = subprocess.run(["./edgec-run", "model.so", "--input", "x.npy", "--output-dir", "out", "--repeat", "5"],
                          cwd=tmp_path / "bundle", capture_output=True, text=True, env={})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["runs"] == 5
    y = np.load(tmp_path / "bundle" / "out" / "0.npy")
    np.testing.assert_allclose(y, edgec.load(art.path).run({"x": x})["y"], rtol=1e-6)
    bad = subprocess.run(["./edgec-run", "model.so", "--input", "nope.npy"], cwd=tmp_path / "bundle",
                         capture_output=True, text=True, env={})
    assert bad.returncode == 5 and "cannot open nope.npy" in bad.stderr


@pytest.mark.parametrize("runtime, size", [((), (0.5e6, 1.6e6)), (("--runtime", "vm"), (1e6, 50e6))],
                         ids=["default-micro", "vm"])
def test_rpi4_bundle_for_cls_runs_under_qemu(tmp_path, runtime, size):
    """The default bundle is the micro runtime's (no TVM runtime libraries); --runtime vm still
    gives TVM's (libtvm_runtime, libtvm_ffi, the C++ runner)."""
    proc = run_cli("compile", "ppocr-cls", "-t", "rpi4", "-o", str(tmp_path / "cls"), "-q", *runtime)
    assert proc.returncode == 0, proc.stderr
    p = run_cli("package", str(tmp_path / "cls"), "-o", str(tmp_path / "bundle"), "--json")
    assert p.returncode == 0, p.stderr
    b = json.loads(p.stdout)
    assert size[0] < b["bytes"] < size[1]
    assert ("libtvm_runtime.so" in b["files"]) == bool(runtime), b["files"]
    assert "ARM aarch64" in _file(tmp_path / "bundle" / "edgec-run")
    r = run_cli("run", str(tmp_path / "cls"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ran_on"] == "emulated"


def test_cuda_artifact_carries_compiled_kernels(tmp_path):
    import shutil

    if shutil.which("nvcc") is None:
        pytest.skip("nvcc (CUDA toolkit) is not installed on this build machine")
    art = edgec.compile(tiny_mlp(), target="cuda-sm80", out=tmp_path / "gpu")
    index = json.loads((art.path / "cuda_kernels.json").read_text())
    assert index and all((art.path / f).stat().st_size > 1000 for f in index.values())
    assert all(f in art.manifest.files for f in index.values())  # hashed like every other file
    from edgec.runtime.cuda_kernels import gpu_available

    if not gpu_available():
        with pytest.raises(ArtifactError, match="needs an NVIDIA GPU"):
            edgec.load(art.path)
    else:  # on a GPU machine: it must load with the driver alone and match the reference
        assert edgec.verify(art, tiny_mlp()).passed


def _run_on_cpu(art, cpu: str, feeds: dict, out) -> subprocess.CompletedProcess:
    """The artifact's device bundle under qemu-aarch64 emulating one CPU model (qemu-user sets the
    process's AT_HWCAP from it, which edgec-run reads)."""
    from edgec.runners import bundle_for

    bundle = bundle_for(art)
    out.mkdir(parents=True, exist_ok=True)
    cmd = ["qemu-aarch64", "-cpu", cpu, "-L", "/usr/aarch64-linux-gnu", str(bundle / "edgec-run"), str(bundle / "model.so")]
    for name, a in feeds.items():
        np.save(out / f"{name}.npy", a)
        cmd += ["--input", str(out / f"{name}.npy")]
    return subprocess.run(cmd + ["--output-dir", str(out)], capture_output=True, text=True)


def test_int8_model_on_rpi5_uses_sdot_and_matches_ort_under_qemu(tmp_path):
    """rpi5 (Cortex-A76, +dotprod): the QDQ layers run on sdot kernels and match the host-independent
    reference (ORT running the QDQ model as float) within QDQ_LSBS steps of the output's scale; the
    runner refuses them on a Cortex-A72 (no dotprod) with a message, never SIGILL. rpi4 (A72) has
    no dotprod: its layers stay float, and its runner works on an A72."""
    from edgec.reference import ort_runner, quantized_output_scales
    from edgec.verification import QDQ_LSBS
    from tests.compiler.test_int8 import _qdq_cnn

    _, q, _ = _qdq_cnn()
    art = edgec.compile(q, target="rpi5", out=tmp_path / "q5")
    assert art.manifest.compile_options["int8"]["int8_layers"] == 4
    dis = subprocess.run(["aarch64-linux-gnu-objdump", "-d", str(art.library)], capture_output=True, text=True,
                         check=True).stdout
    assert dis.count("sdot") >= 4
    res = edgec.verify(art, q)
    scale = quantized_output_scales(q)["y"]
    assert res.ran_on.startswith("emulated") and res.passed, res
    assert res.outputs[0].tolerance_max_abs == QDQ_LSBS * scale and res.max_abs_error <= QDQ_LSBS * scale
    assert res.rel_l2_error < 0.05, res  # measured <= 0.017 over 40 inputs
    x = np.random.default_rng(3).uniform(-1, 1, (1, 8, 12, 12)).astype(np.float32)
    a76 = _run_on_cpu(art, "cortex-a76", {"x": x}, tmp_path / "a76")
    assert a76.returncode == 0, a76.stderr
    assert np.abs(np.load(tmp_path / "a76" / "0.npy") - ort_runner(q)({"x": x})).max() <= QDQ_LSBS * scale
    a72 = _run_on_cpu(art, "cortex-a72", {"x": x}, tmp_path / "a72")
    assert a72.returncode == ArtifactError.exit_code, a72.stderr
    assert "needs CPU feature(s) dotprod" in a72.stderr and "which this aarch64 CPU lacks" in a72.stderr, a72.stderr


def test_int8_model_on_rpi4_uses_integer_neon_kernels_and_matches_the_reference_under_qemu(tmp_path):
    """rpi4 (Cortex-A72, no dotprod): the QDQ conv/matmul layers run on smull/smlal/sadalp kernels
    (int8 products summed in int16 pairs, then int32), the depthwise conv on the float kernel with
    int8 weights; on an emulated A72 it matches ORT running the QDQ model as float."""
    from edgec.reference import ort_runner, quantized_output_scales
    from edgec.verification import QDQ_LSBS
    from tests.compiler.test_int8 import _qdq_cnn

    m, q, _ = _qdq_cnn()
    art = edgec.compile(q, target="rpi4", out=tmp_path / "q4")
    st = art.manifest.compile_options["int8"]
    assert st["int8_layers"] == 4 and st["isa"] == "smlal", st
    dis = subprocess.run(["aarch64-linux-gnu-objdump", "-d", str(art.library)], capture_output=True, text=True,
                         check=True).stdout
    counts = {k: dis.count(f"\t{k}\t") + dis.count(f"\t{k}2\t") for k in ("smull", "smlal", "sadalp", "sdot")}
    assert counts["smull"] >= 4 and counts["smlal"] >= 4 and counts["sadalp"] >= 4 and counts["sdot"] == 0, counts
    f32 = edgec.compile(m, target="rpi4", out=tmp_path / "f4")
    assert art.manifest.compile_options["weight_bytes"] < 0.45 * f32.manifest.compile_options["weight_bytes"]
    scale = quantized_output_scales(q)["y"]
    for seed in range(3):
        x = np.random.default_rng(seed).uniform(-1, 1, (1, 8, 12, 12)).astype(np.float32)
        on_a72 = _run_on_cpu(art, "cortex-a72", {"x": x}, tmp_path / f"a72-{seed}")
        assert on_a72.returncode == 0, on_a72.stderr
        assert np.abs(np.load(tmp_path / f"a72-{seed}" / "0.npy") - ort_runner(q)({"x": x})).max() <= QDQ_LSBS * scale


def test_native_runner_refuses_features_this_cpu_lacks(tmp_path):
    """An x86_64-avx512 artifact's runner, here: it runs where the CPU has AVX-512 (and VNNI), and
    where it has not it exits with a message naming the feature instead of dying of SIGILL."""
    from edgec.bundle import package
    from edgec.runtime.host import describe

    if describe().machine != "x86_64":
        pytest.skip("an x86_64 bundle runs natively only on x86_64")
    art = edgec.compile(tiny_mlp(), target="x86_64-avx512", out=tmp_path / "art")
    package(art, tmp_path / "bundle")
    np.save(tmp_path / "bundle" / "x.npy", np.zeros((4, 64), np.float32))
    proc = subprocess.run(["./edgec-run", "model.so", "--input", "x.npy"], cwd=tmp_path / "bundle",
                          capture_output=True, text=True, env={})
    lacking = sorted(set(art.manifest.target["requires"]["cpu_features"]) - describe().features)
    if not lacking:
        assert proc.returncode == 0, proc.stderr
        return
    assert proc.returncode == ArtifactError.exit_code, proc.stderr
    assert f"needs CPU feature(s) {', '.join(lacking)}, which this x86_64 CPU lacks (read from cpuid)" in proc.stderr


@pytest.mark.slow
def test_rec_int8_for_rpi4_keeps_int8_weights_and_verifies_under_qemu(tmp_path):
    """PP-OCRv4 rec quantized, for the Raspberry Pi 4 (no dotprod): integer NEON kernels, int8
    weights (<= 0.3x the float model's bytes), the host-independent QDQ reference under qemu."""
    from edgec.compiler.driver import CompileOptions, import_model
    from edgec.sources import resolve_model
    from edgec.compiler.weights import weight_bytes
    from edgec.models import ocr_eval

    calib = [f for f, _ in ocr_eval.rec_dataset(16, seed=900)]
    art = edgec.compile("ppocr-rec", target="rpi4", out=tmp_path / "q", quantize="int8", calib=calib)
    st = art.manifest.compile_options["int8"]
    assert st["isa"] == "smlal" and st["int8_layers"] >= 25, st
    fmod, *_ = import_model(resolve_model("ppocr-rec", fetch_quiet=True), CompileOptions())
    assert art.manifest.compile_options["weight_bytes"] <= 0.3 * weight_bytes(fmod)
    dis = subprocess.run(["aarch64-linux-gnu-objdump", "-d", str(art.library)], capture_output=True, text=True,
                         check=True).stdout
    assert dis.count("\tsmlal") >= 25 and dis.count("\tsadalp") >= 25 and "\tsdot" not in dis
    res = edgec.verify(art)
    assert res.ran_on.startswith("emulated") and res.passed, res
    # the same on an emulated Cortex-A72 (verify's qemu emulates its default CPU): no SIGILL, same bits
    x = ocr_eval.rec_dataset(1, seed=5)[0][0]
    outs = {}
    for cpu in ("cortex-a72", "max"):
        run = _run_on_cpu(art, cpu, x, tmp_path / cpu)
        assert run.returncode == 0, run.stderr
        outs[cpu] = np.load(tmp_path / cpu / "0.npy")
    assert np.array_equal(outs["cortex-a72"], outs["max"])
