"""targets/ is data: every shipped TOML loads, and bad files get clear errors."""
import pytest

from edgec.errors import UserInputError
from edgec.targets import available, load_target

REQUIRED = {"host", "x86_64-avx2", "x86_64-avx512", "rpi4", "rpi5", "jetson-orin-nano", "android-arm64",
            "rpi3-armv7", "riscv64", "cuda-sm80", "cuda-sm90"}


def test_required_targets_ship():
    assert REQUIRED <= set(available())


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_each_target_loads(name):
    t = load_target(name)
    assert t.name == name
    if t.kind == "llvm":
        assert t.triple and "-" in t.triple
    else:
        assert t.arch.startswith("sm_") and t.host is not None


def test_host_is_native_and_rpi4_is_cross():
    assert not load_target("host").is_cross
    rpi4 = load_target("rpi4")
    assert rpi4.is_cross and rpi4.toolchain.package == "g++-aarch64-linux-gnu" and rpi4.emulator.command == "qemu-aarch64"


def test_user_toml(tmp_path):
    p = tmp_path / "board.toml"
    p.write_text('name = "myboard"\ndescription = "x"\ntriple = "aarch64-linux-gnu"\ncpu = "cortex-a55"\n')
    assert load_target(p).cpu == "cortex-a55"


@pytest.mark.parametrize("body, fragment", [
    ('name = "b"\ndescription = "x"\n', "needs 'triple'"),
    ('name = "b"\ndescription = "x"\ntriple = "a-b"\nfeatures = ["neon"]\n', "features"),
    ('name = "b"\ndescription = "x"\ntriple = "a-b"\ncolour = "red"\n', "unknown target key"),
    ('name = "b"\ndescription = "x"\nkind = "cuda"\n', "needs 'arch'"),
    ('name = [\n', "not valid TOML"),
])
def test_bad_toml_is_explained(tmp_path, body, fragment):
    p = tmp_path / "bad.toml"
    p.write_text(body)
    with pytest.raises(UserInputError, match=fragment):
        load_target(p)


def test_unknown_target_lists_known():
    with pytest.raises(UserInputError, match="known targets"):
        load_target("toaster")
