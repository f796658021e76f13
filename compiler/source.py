"""A model as the compiler sees it: its bytes, parsed form and the facts the caller knows about it.

The compiler reads files and ModelProtos only; zoo names are resolved a layer up
(edgec/sources.py), which fills ``zoo``, ``input_ranges``, ``input_samples``,
``default_shapes`` and ``default_values`` once, so nothing below re-reads the zoo."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import onnx

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
    derived: bool = False  # made by a step (prune, quantize): the artifact keeps it as source.onnx

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def describe(self) -> dict:
        return {"format": self.format, "sha256": self.sha256, "path": self.path, "zoo": self.zoo}

    def derive(self, model: onnx.ModelProto) -> "SourceModel":
        """The model a step made from this one: new bytes, the same input ranges and samples."""
        return replace(self, format="onnx", data=model.SerializeToString(), onnx=model, tflite=None,
                       path="<ModelProto>", zoo="", default_shapes={}, default_values={}, derived=True)


def load_source(model: "str | Path | onnx.ModelProto | SourceModel") -> SourceModel:
    """A SourceModel from a file path or an onnx.ModelProto (a SourceModel is returned as it is)."""
    if isinstance(model, SourceModel):
        return model
    if isinstance(model, onnx.ModelProto):
        validate_onnx(model, "the given ModelProto")
        return SourceModel("onnx", model.SerializeToString(), onnx=model, path="<ModelProto>")
    if not isinstance(model, (str, Path)):
        raise UserInputError(f"model must be a path, a zoo name or an onnx.ModelProto, not {type(model).__name__}")
    path = Path(model)
    data = read_model_bytes(path)
    fmt = detect_format(data, path)
    src = SourceModel(fmt, data, path=str(path.resolve()))
    if fmt == "onnx":
        src.onnx = parse_onnx(data, str(path))
    else:
        src.tflite = parse_tflite(data, str(path))
    return src
