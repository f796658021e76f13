"""The zoo registry, the fetch/cache/sha256 path, and the code-built tiny models."""
import pytest

from edgec import models
from edgec.errors import UserInputError


def test_registry_has_required_models():
    reg = models.registry()
    assert {"ppocr-det", "ppocr-rec", "ppocr-cls"} <= set(reg)
    assert any(m.format == "tflite" for m in reg.values())
    assert reg["ppocr-det"].input_shapes == {"x": (1, 3, 640, 640)}
    assert reg["ppocr-rec"].input_shapes == {"x": (1, 3, 48, 320)}
    assert reg["ppocr-cls"].input_shapes == {"x": (1, 3, 48, 192)}
    for m in reg.values():
        assert len(m.sha256) == 64 and m.license and m.preprocessing and m.version


def test_unknown_model_is_named():
    with pytest.raises(UserInputError, match="unknown zoo model 'resnet9000'"):
        models.get("resnet9000")


@pytest.mark.network
def test_fetch_caches_and_refetches_a_corrupt_file(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEC_CACHE", str(tmp_path))
    p = models.fetch("ppocr-cls", quiet=True)
    assert p.is_relative_to(tmp_path) and p.stat().st_size > 100_000
    from edgec.runtime.manifest import sha256_file

    assert sha256_file(p) == models.get("ppocr-cls").sha256
    p.write_bytes(b"tampered")
    assert sha256_file(models.fetch("ppocr-cls", quiet=True)) == models.get("ppocr-cls").sha256


def test_tiny_models_are_valid_and_deterministic():
    import onnx

    from edgec.models.tiny import TINY

    for name, build in TINY.items():
        m = build()
        onnx.checker.check_model(m)
        assert m.SerializeToString() == build().SerializeToString(), name
