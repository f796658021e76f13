"""The real zoo models compile for the host and match their reference runtime (rel-L2 <= 1e-4).

Slow (each compiles a real model): deselect with -m 'not slow' in the inner loop."""
import pytest

import edgec
from edgec.verification import DEFAULT_RTOL_L2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ppocr-cls", "ppocr-rec", "ppocr-det", "blazeface"])
def test_zoo_model_compiles_and_verifies(name, tmp_path):
    art = edgec.compile(name, target="host", out=tmp_path / name)
    res = edgec.verify(art)
    assert res.reference == ("litert" if name == "blazeface" else "onnxruntime")
    assert res.rel_l2_error <= DEFAULT_RTOL_L2, res
    assert res.passed
