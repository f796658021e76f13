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


def test_registry_has_the_model_kinds_people_deploy():
    """A classifier, a detector, a transformer encoder and speech models, each with static shapes
    (the compile pins them) and inputs that verification can draw."""
    from edgec.models.samples import SAMPLES

    reg = models.registry()
    assert {"lcnet-orient", "yolox-tiny", "minilm-l3", "oww-melspec", "oww-embedding"} <= set(reg)
    assert reg["lcnet-orient"].input_shapes == {"x": (1, 3, 224, 224)}
    assert reg["yolox-tiny"].input_shapes == {"images": (1, 3, 416, 416)}
    assert reg["minilm-l3"].input_shapes == {"input_ids": (1, 128), "attention_mask": (1, 128)}
    for m in reg.values():
        for i in m.inputs:
            assert all(isinstance(d, int) and d > 0 for d in i.shape), (m.name, i)
            assert i.range[0] <= i.range[1] and (not i.sample or i.sample in SAMPLES), (m.name, i)
            if i.dtype.startswith(("int", "uint")):  # token ids / masks: integer bounds, inclusive
                assert all(isinstance(v, int) for v in i.range), (m.name, i)


def test_recurrent_and_control_flow_models_pin_their_mode_input():
    """silero-vad: LSTM + an If on the scalar sr, which the entry pins by value (compile's input_values)."""
    reg = models.registry()
    assert reg["silero-vad"].input_values == {"sr": 16000}
    assert reg["silero-vad"].input_shapes == {"input": (1, 512), "state": (2, 1, 128)}
    assert reg["silero-vad-seq"].input_values == {}
    assert reg["silero-vad"].package == reg["silero-vad-seq"].package == "silero-vad"


def test_token_ids_and_padding_mask_inputs_are_valid():
    """Token ids are integers in [0, vocab); the attention mask is 1 on a prefix, 0 on padding."""
    import numpy as np

    from edgec.runtime.manifest import TensorSpec
    from edgec.verification import random_inputs

    m = models.get("minilm-l3")
    specs = [TensorSpec(i.name, i.shape, i.dtype) for i in m.inputs]
    for seed in range(5):
        feeds = random_inputs(specs, {i.name: i.range for i in m.inputs}, seed,
                              {i.name: i.sample for i in m.inputs if i.sample})
        ids, mask = feeds["input_ids"], feeds["attention_mask"]
        assert ids.dtype == np.int64 and ids.shape == (1, 128)
        assert ids.min() >= 0 and ids.max() <= 30521
        assert mask.dtype == np.int64 and mask.shape == (1, 128)
        n = int(mask.sum())
        assert 64 <= n <= 128 and (mask[0, :n] == 1).all() and (mask[0, n:] == 0).all()
    assert not np.array_equal(random_inputs(specs, None, 0, {"attention_mask": "padding_mask"})["attention_mask"],
                              random_inputs(specs, None, 1, {"attention_mask": "padding_mask"})["attention_mask"])


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
