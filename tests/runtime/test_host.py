"""Load-time "can this run here?": the manifest's target.requires against this machine's CPU as
the OS describes it (runtime/host.py), faked with EDGEC_HOST_CPU where a test needs another host.
The native runner's twin check (runtime/native/edgec_host.cc) is exercised under qemu in
tests/targets/test_cross.py; here its feature table is held equal to the Python one."""
import re
import types

import numpy as np
import pytest

import edgec
from edgec.errors import ArtifactError
from edgec.models.tiny import tiny_mlp
from edgec.runtime import host, session
from tests.conftest import REPO, run_cli

RPI4 = {"name": "rpi4", "triple": "aarch64-linux-gnu", "cpu": "cortex-a72", "features": ["+neon"],
        "requires": {"machine": "aarch64", "cpu_features": ["neon"]}}
RPI5 = {**RPI4, "name": "rpi5", "cpu": "cortex-a76", "features": ["+neon", "+dotprod"],
        "requires": {"machine": "aarch64", "cpu_features": ["dotprod", "fullfp16", "neon", "rdm"]}}
AVX2_FLAGS = "sse4_1,sse4_2,popcnt,avx,avx2,fma,f16c,bmi1,bmi2"  # a Zen 3, as /proc/cpuinfo spells it


@pytest.fixture
def fake_host(monkeypatch):
    """Pretend to be another machine (the description, not the CPU)."""
    return lambda desc: monkeypatch.setenv(host.FAKE_ENV, desc)


def test_os_spellings_map_to_the_target_names():
    assert host.features_from_hwcap("aarch64", 1 << 1 | 1 << 20) == {"neon", "dotprod"}
    assert host.features_from_hwcap("aarch64", 1 << 1, 1 << 13) == {"neon", "i8mm"}
    assert host.features_from_hwcap("armv7", 1 << 12 | 1 << 16) == {"neon", "vfp4"}
    assert host.features_from_flags("x86_64", "fpu avx2 fma avx512f avx512_vnni".split()) == {"avx2", "fma", "avx512f",
                                                                                              "avx512vnni"}
    assert host.normalize_machine("armv7l") == "armv7" and host.normalize_machine("arm64") == "aarch64"


def test_this_machine_is_described_from_the_os():
    me = host.describe()
    assert me.machine == host.normalize_machine(__import__("platform").machine())
    assert me.source in ("/proc/cpuinfo", "/proc/self/auxv")
    if me.machine == "x86_64":  # x86-64-v3 or better is what the shipped x86 targets need
        assert {"sse4.2", "popcnt"} <= me.features
    assert host._auxv()[16] != 0  # AT_HWCAP: what Arm and RISC-V hosts are read from


def test_manifest_records_what_the_code_needs(tmp_path):
    art = edgec.compile(tiny_mlp(), target="rpi5", out=tmp_path / "a")
    assert art.manifest.target["requires"] == RPI5["requires"]  # cortex-a76 implies fp16 and rdm too
    assert "is_cross" not in art.manifest.target  # decided where it is loaded, not where it was built
    shown = run_cli("inspect", str(art.path)).stdout
    assert "needs  aarch64 CPU with dotprod, fullfp16, neon, rdm" in shown


def test_rpi4_artifact_passes_the_check_on_an_aarch64_host_with_asimd(fake_host):
    fake_host("aarch64:fp,asimd")
    assert host.describe().features == {"neon"}
    host.check(RPI4)  # nothing raised
    assert not host.is_foreign(RPI4)  # runs natively there, no emulator
    with pytest.raises(ArtifactError, match=r"needs CPU feature\(s\) dotprod, fullfp16, rdm, which this aarch64 CPU lacks"):
        host.check(RPI5)
    fake_host("x86_64:" + AVX2_FLAGS)
    assert host.is_foreign(RPI4)
    with pytest.raises(ArtifactError, match="aarch64 code; this machine is x86_64"):
        host.check(RPI4)


def test_rpi4_artifact_loads_in_python_on_the_board(tmp_path, fake_host, monkeypatch):
    """edgec.load on a (faked) Raspberry Pi 4 gets past the check to the library load; the TVM
    runtime is stubbed, as this machine cannot map aarch64 code (so: a VM artifact)."""
    art = edgec.compile(tiny_mlp(), target="rpi4", out=tmp_path / "rpi4", runtime="vm")
    loaded = []
    vm = types.SimpleNamespace(VirtualMachine=lambda lib, dev: {"main": lib})
    fake_tvm = types.SimpleNamespace(runtime=types.SimpleNamespace(vm=vm), cpu=lambda: "cpu")
    monkeypatch.setattr(session, "_tvm_runtime", lambda: fake_tvm)
    monkeypatch.setattr(session, "load_library", lambda p, _digest: loaded.append(str(p)) or str(p))
    if host.describe().machine != "aarch64":
        with pytest.raises(ArtifactError, match="aarch64 code; this machine is"):
            edgec.load(art.path)
    fake_host("aarch64:asimd")
    edgec.load(art.path)
    assert loaded == [str(art.path / "model.so")]
    fake_host("aarch64:")  # an aarch64 CPU without Advanced SIMD
    with pytest.raises(ArtifactError, match="neon"):
        edgec.load(art.path)


def test_avx512_artifact_is_refused_on_an_avx2_host(tmp_path, fake_host):
    art = edgec.compile(tiny_mlp(), target="x86_64-avx512", out=tmp_path / "avx512")
    assert {"avx512f", "avx512vnni"} <= set(art.manifest.target["requires"]["cpu_features"])
    if host.describe().machine == "x86_64":
        x = np.zeros((4, 64), np.float32)
        lacking = sorted(set(art.manifest.target["requires"]["cpu_features"]) - host.describe().features)
        if lacking:  # this CPU: a clear refusal, never SIGILL
            with pytest.raises(ArtifactError, match=lacking[0]):
                edgec.load(art.path)
        else:
            assert edgec.load(art.path).run({"x": x})["y"].shape == (4, 10)
    fake_host("x86_64:" + AVX2_FLAGS)
    with pytest.raises(ArtifactError, match=r"needs CPU feature\(s\) avx512bw, avx512cd, avx512dq, avx512f, "
                                            r"avx512vl, avx512vnni, which this x86_64 CPU lacks \(read from EDGEC_HOST_CPU\)"):
        edgec.load(art.path)
    proc = run_cli("run", str(art.path), env={host.FAKE_ENV: "x86_64:" + AVX2_FLAGS})
    assert proc.returncode == ArtifactError.exit_code and "avx512f" in proc.stderr and "Traceback" not in proc.stderr
    fake_host("x86_64:" + AVX2_FLAGS + ",avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx512_vnni")
    host.check(art.manifest.target)


def test_manifest_without_requires_is_checked_from_its_triple():
    old = {k: v for k, v in RPI5.items() if k != "requires"}
    assert host.required(old) == {"machine": "aarch64", "cpu_features": ["dotprod", "neon"]}
    cuda = {"name": "jetson", "kind": "cuda", "host": {"triple": "aarch64-linux-gnu", "features": ["+neon"]}}
    assert host.required(cuda)["machine"] == "aarch64" and not host.is_foreign(cuda)


def test_native_runner_checks_the_same_features():
    src = (REPO / "runtime" / "native" / "edgec_host.cc").read_text()
    assert set(re.findall(r'EDGEC_X86\("([^"]+)"', src)) == set(host.FEATURES["x86_64"])
    blocks = dict(re.findall(r'kMachine = "(\w+)";\s*const Feature kFeatures\[\] = \{(.*?)\};', src, re.S))
    assert set(blocks) == {"aarch64", "armv7", "riscv64"}
    for machine, body in blocks.items():
        table = {}
        for name, at, bit in re.findall(r'\{"(\w+)", (\d+), ([^}]+)\}', body):
            m = re.fullmatch(r"'(\w)' - 'a'", bit.strip())
            table[name] = (int(at), ord(m.group(1)) - ord("a") if m else int(bit))
        assert table == host._HWCAP_BITS[machine], machine
        assert set(table) == set(host.FEATURES[machine])
