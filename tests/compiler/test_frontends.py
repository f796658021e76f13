"""Model formats are a registry: detection by content, the lists that must name every format agree,
and a format added the documented way (parse + import step + Frontend) compiles end to end."""
from dataclasses import replace

import numpy as np
import onnx
import pytest

import edgec
from edgec.compiler.frontends.registry import FRONTENDS, Frontend, detect
from edgec.errors import ModelFormatError
from edgec.models.tiny import tiny_mlp
from edgec.reference import REFERENCES, reference_for
from edgec.runtime import manifest

TOY_MAGIC = b"TOY0"


def parse_toy(data: bytes, where: str):
    """A toy format: four magic bytes, then an ONNX model."""
    return onnx.load_from_string(data[len(TOY_MAGIC):])


def import_toy(src, opts):
    from edgec.compiler.frontends.onnx_import import import_onnx

    return import_onnx(replace(src, format="onnx"), opts)


def test_every_format_has_a_reference_runtime_and_a_manifest_name():
    assert set(FRONTENDS.names()) == set(REFERENCES) == set(manifest.SOURCE_FORMATS) == {"onnx", "tflite"}


def test_detection_is_by_content(tmp_path):
    assert detect(b"\x00\x00\x00\x00TFL3" + b"\x00" * 8).name == "tflite"
    assert detect(tiny_mlp().SerializeToString(), tmp_path / "m.tflite.bak").name == "onnx"
    with pytest.raises(ModelFormatError, match="not a TFLite model"):
        detect(b"\x08\x07 something else", tmp_path / "m.tflite")


def test_an_unknown_format_has_no_reference():
    with pytest.raises(ModelFormatError, match="no reference runtime for 'toy'"):
        reference_for("toy", b"")


def test_a_new_format_compiles_through_the_registry(tmp_path, monkeypatch):
    toy = Frontend("toy", "Toy", "ONNX behind four magic bytes", f"{__name__}:parse_toy", f"{__name__}:import_toy",
                   magic=(0, TOY_MAGIC), suffix=".toy")
    monkeypatch.setitem(FRONTENDS.entries, "toy", toy)
    monkeypatch.setattr(manifest, "SOURCE_FORMATS", (*manifest.SOURCE_FORMATS, "toy"))
    model = tiny_mlp()
    path = tmp_path / "m.toy"
    path.write_bytes(TOY_MAGIC + model.SerializeToString())
    art = edgec.compile(str(path), out=tmp_path / "art")
    assert art.manifest.source_model["format"] == "toy"
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    got = edgec.load(art.path).run({"x": x})
    want = reference_for("onnx", model.SerializeToString()).run({"x": x})
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5)
    with pytest.raises(ModelFormatError, match="not a Toy model"):
        detect(b"\x08\x07 something else", tmp_path / "bad.toy")
