"""Backends hold hardware facts as data: every target kind has one, library formats come from the
target's TOML, and the pipeline asks the backend instead of testing kind or triple strings."""
import pytest

from edgec.compiler.backends import backend_for, kinds
from edgec.compiler.lower import check_toolchain, library_name
from edgec.compiler.schedules import relax_pipeline
from edgec.compiler.tvm_target import to_tvm
from edgec.errors import UserInputError
from edgec.targets import _KINDS, Target, available, load_target


def test_every_target_kind_has_a_backend():
    assert set(kinds()) == set(_KINDS)
    for name in available():
        t = load_target(name)
        assert backend_for(t).kind == t.kind
        assert backend_for(t.to_dict()) is backend_for(t.kind)  # a manifest's target dict too


def test_library_format_is_target_data():
    assert library_name(load_target("android-arm64")) == "model.tar"
    assert check_toolchain(load_target("android-arm64")) is None  # objects: linked on the device's NDK
    assert library_name(load_target("rpi4")) == "model.so"
    assert library_name(Target("board", "x", triple="aarch64-linux-gnu", library="tar")) == "model.tar"
    with pytest.raises(UserInputError, match="cuda exports so"):
        library_name(Target("gpu", "x", kind="cuda", arch="sm_80", library="tar"))
    with pytest.raises(UserInputError, match="'library' must be"):
        Target.from_dict({"name": "b", "description": "x", "triple": "aarch64-linux-gnu", "library": "zip"})


def test_capabilities_drive_the_pipeline():
    cuda, cpu = load_target("cuda-sm80"), load_target("rpi4")
    assert backend_for(cuda).device == "gpu" and not backend_for(cuda).edgec_schedules
    assert relax_pipeline(cuda) == "default"  # stock TVM lowering: edgec's CPU schedules do not apply
    assert relax_pipeline(cpu) != "default"
    assert str(to_tvm(cuda).kind) == "cuda" and str(to_tvm(cuda).host.kind) == "llvm"
    assert str(to_tvm(cpu).attrs["mtriple"]) == "aarch64-linux-gnu"


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(UserInputError, match="no backend for target kind 'vulkan'"):
        backend_for("vulkan")
