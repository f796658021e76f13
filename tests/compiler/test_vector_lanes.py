"""vector_lanes reads LLVM's feature table for the target's mcpu/mattr (no CPU-name list): these
hold on any host, since no code runs."""
import pytest
import tvm

from edgec.compiler.schedules.cpu_generic import vector_lanes


@pytest.mark.parametrize("attrs, lanes", [
    ({"mcpu": "znver3"}, 8), ({"mcpu": "znver4"}, 16), ({"mcpu": "sapphirerapids"}, 16),
    ({"mcpu": "alderlake"}, 8),  # AVX2 only (its AVX-512 is fused off)
    ({"mcpu": "x86-64", "mattr": ["+avx2", "+fma"]}, 8), ({"mcpu": "x86-64", "mattr": ["+avx512f"]}, 16),
    ({"mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72"}, 4),
])
def test_lanes_from_llvm_features(attrs, lanes):
    assert vector_lanes(tvm.target.Target({"kind": "llvm", **attrs})) == lanes
