"""Resolve what the user passed as a model (path, zoo name or onnx.ModelProto) into one value."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from edgec import models
from edgec.compiler.frontends.detect import detect_format, read_model_bytes
from edgec.compiler.frontends.onnx_frontend import parse_onnx, validate_onnx
from edgec.compiler.frontends.tflite_frontend import TFLiteModel, parse_tflite
from edgec.errors import UserInputError


@dataclass
class SourceModel:
    format: str  # "onnx" | "tflite"
    data: bytes  # the original bytes, for the reference runtime and the source hash
    onnx: "onnx.ModelProto | None" = None
    tflite: "TFLiteModel | None" = None
    path: str = ""
    zoo: str = ""
    input_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    input_samples: dict[str, str] = field(default_factory=dict)
    default_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    default_values: dict[str, object] = field(default_factory=dict)  # zoo inputs pinned by value

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def describe(self) -> dict:
        return {"format": self.format, "sha256": self.sha256, "path": self.path, "zoo": self.zoo}


def resolve_model(model: "str | Path | onnx.ModelProto | SourceModel", fetch_quiet: bool = False) -> SourceModel:
    if isinstance(model, SourceModel):
        return model
    if isinstance(model, onnx.ModelProto):
        validate_onnx(model, "the given ModelProto")
        return SourceModel("onnx", model.SerializeToString(), onnx=model, path="<ModelProto>")
    if not isinstance(model, (str, Path)):
        raise UserInputError(f"model must be a path, a zoo name or an onnx.ModelProto, not {type(model).__name__}")
    s = str(model)
    zoo_entry = None
    if not Path(s).exists() and s in models.registry():
        zoo_entry = models.get(s)
        path = models.fetch(s, quiet=fetch_quiet)
    else:
        path = Path(s)
    data = read_model_bytes(path)
    fmt = detect_format(data, path)
    src = SourceModel(fmt, data, path=str(path.resolve()), zoo=zoo_entry.name if zoo_entry else "")
    if fmt == "onnx":
        src.onnx = parse_onnx(data, str(path))
    else:
        src.tflite = parse_tflite(data, str(path))
    if zoo_entry:
        src.input_ranges = {i.name: i.range for i in zoo_entry.inputs}
        src.input_samples = {i.name: i.sample for i in zoo_entry.inputs if i.sample}
        src.default_shapes = zoo_entry.input_shapes
        src.default_values = zoo_entry.input_values
    return src
