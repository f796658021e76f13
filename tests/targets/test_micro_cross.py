"""The micro runtime on the boards edgec cross-compiles for, under qemu-user: rpi4 (aarch64) and
rpi3-armv7 / riscv64, which have no TVM runtime at all. Each verifies against ONNX Runtime through
`edgec verify` (the device bundle's C runner under qemu)."""
from __future__ import annotations

import shutil

import pytest

import edgec
from edgec.models.tiny import tiny_cnn, tiny_mlp, tiny_transformer
from edgec.targets import load_target


def _needs(target: str) -> None:
    t = load_target(target)
    cc = t.toolchain.cxx.replace("g++", "gcc")
    if shutil.which(cc) is None or shutil.which(t.emulator.command) is None:
        pytest.skip(f"{cc} or {t.emulator.command} is not installed (tools/setup-system.sh installs them)")


@pytest.mark.parametrize("target,name,model", [
    ("rpi4", "cnn", lambda: tiny_cnn(batch=1)),
    ("rpi3-armv7", "cnn", lambda: tiny_cnn(batch=1)),
    ("rpi3-armv7", "transformer", tiny_transformer),
    ("riscv64", "mlp", tiny_mlp),
    ("riscv64", "transformer", tiny_transformer),
])
def test_tiny_models_verify_under_qemu(tmp_path, target, name, model):
    _needs(target)
    m = model()
    art = edgec.compile(m, target=target, out=tmp_path / name, runtime="micro")
    assert art.manifest.compile_options["runtime"] == "micro"
    res = edgec.verify(art, model=m)
    assert res.ran_on.startswith("emulated") and res.passed, res
    assert res.rel_l2_error <= 1e-4


@pytest.mark.slow
def test_ppocr_cls_rpi4_bundle_is_small_and_verifies(tmp_path):
    _needs("rpi4")
    art = edgec.compile("ppocr-cls", target="rpi4", out=tmp_path / "cls", runtime="micro")
    res = edgec.verify(art)
    assert res.passed and res.rel_l2_error <= 1e-4, res
    from edgec.bundle import package

    b = package(art, tmp_path / "bundle")
    assert b.bytes <= 1.6e6, b.files  # was 6.8 MB with libtvm_runtime + libtvm_ffi
    assert b.files["edgec-run"] <= 64 * 1024


@pytest.mark.parametrize("target", ["x86_64-avx2", "rpi4"])
def test_int8_kernels_run_on_the_micro_runtime(tmp_path, target):
    """The int8 conv/matmul kernels (compiler/int8) are ordinary kernels in the plan."""
    from edgec.errors import EdgecError
    from edgec.runtime.host import check, is_foreign
    from tests.compiler.test_int8 import _qdq_cnn

    if target == "rpi4":
        _needs(target)
    _, q, _ = _qdq_cnn()
    art = edgec.compile(q, target=target, out=tmp_path / "q", runtime="micro", speed_guard=False)
    opts = art.manifest.compile_options
    assert opts["runtime"] == "micro" and opts["int8"]["int8_layers"] == 4
    if not is_foreign(art.manifest.target):
        try:
            check(art.manifest.target, "the int8 artifact")
        except EdgecError as e:
            pytest.skip(f"this CPU cannot run it: {e}")
    res = edgec.verify(art, q)
    assert res.passed and res.rel_l2_error < 0.05, res


@pytest.mark.slow
@pytest.mark.parametrize("target", ["rpi4", "rpi3-armv7", "riscv64"])
@pytest.mark.parametrize("model", ["ppocr-cls", "ppocr-rec", "ppocr-det"])
def test_ppocr_verifies_on_the_micro_runtime_under_qemu(tmp_path, target, model):
    """Minutes each (det under qemu-user the longest); rpi3-armv7 and riscv64 have no other runtime."""
    _needs(target)
    art = edgec.compile(model, target=target, out=tmp_path / model, runtime="micro")
    res = edgec.verify(art)
    assert res.ran_on.startswith("emulated") and res.passed and res.rel_l2_error <= 1e-4, res


def test_runtime_code_for_aarch64_fits_64_kb():
    """Issue 15's bound on the runtime itself (stripped, aarch64, no kernels or weights): the
    library Python loads and the bundle's runner, built with the rpi4 cross compiler."""
    _needs("rpi4")
    from edgec.micro_bundle import runner_build

    build = runner_build(load_target("rpi4").to_dict())
    sizes = {name: (build / name).stat().st_size for name in ("libedgec_micro.so", "edgec-run")}
    assert all(0 < n <= 64 * 1024 for n in sizes.values()), sizes
