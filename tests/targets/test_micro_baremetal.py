"""Bare metal: the digits MLP and the tiny CNN as static images on a Cortex-M33 (Arm MPS2 AN505
under qemu-system-arm), outputs over semihosting, compared with ONNX Runtime by `edgec verify`."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import edgec
from edgec.errors import UserInputError
from edgec.models.tiny import tiny_cnn

DIGITS = Path(__file__).resolve().parents[2] / "models" / "digits_mlp.onnx"

needs_tools = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                                 reason="gcc-arm-none-eabi / qemu-system-arm missing (tools/setup-system.sh installs them)")


@needs_tools
@pytest.mark.parametrize("name", ["digits", "cnn"])
def test_models_run_bare_metal_and_match_onnxruntime(tmp_path, name):
    model = str(DIGITS) if name == "digits" else tiny_cnn(batch=1)
    art = edgec.compile(model, target="cortex-m33", out=tmp_path / name)
    assert art.manifest.library == "model.a" and art.manifest.compile_options["runtime"] == "micro"
    res = edgec.verify(art, model=model)
    assert res.ran_on == "emulated (qemu-system-arm)"
    assert res.passed and res.rel_l2_error <= 1e-4, res


@needs_tools
def test_package_explains_how_a_bare_metal_artifact_is_used(tmp_path):
    from edgec.bundle import package

    art = edgec.compile(str(DIGITS), target="cortex-m33", out=tmp_path / "d")
    with pytest.raises(UserInputError, match="link into your firmware"):
        package(art, tmp_path / "bundle")


def test_bare_metal_has_no_vm(tmp_path):
    with pytest.raises(UserInputError, match="bare metal"):
        edgec.compile(str(DIGITS), target="cortex-m33", out=tmp_path / "x", runtime="vm")


@needs_tools
def test_runtime_code_fits_a_microcontroller(tmp_path):
    """The runtime's own code on a Cortex-M33 (the model's kernels, plan and weights excluded)."""
    import subprocess

    from edgec.runtime.micro_build import MICRO_SRC, bare_metal_cflags

    flags = bare_metal_cflags({"cpu": "cortex-m33", "float_abi": "hard"})
    total = 0
    for src in ("runtime.c", "pool.c"):
        obj = tmp_path / (src + ".o")
        subprocess.run(["arm-none-eabi-gcc", *flags, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
                        "-DEDGEC_BARE_METAL", f"-I{MICRO_SRC}", "-c", str(MICRO_SRC / src), "-o", str(obj)], check=True)
        out = subprocess.run(["arm-none-eabi-size", str(obj)], capture_output=True, text=True, check=True).stdout
        total += int(out.splitlines()[1].split()[0])
    assert 0 < total <= 16 * 1024, total
    from edgec.baremetal import runtime_code_bytes  # what `edgec bench` reports: code + initialized data
    from edgec.targets import load_target

    assert total <= runtime_code_bytes(load_target("cortex-m33").to_dict()) <= 16 * 1024
