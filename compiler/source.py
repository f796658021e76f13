"""A model as the compiler sees it: its bytes, parsed form and the facts the caller knows about it.

The compiler reads files and ModelProtos only; zoo names are resolved a layer up
(edgec/sources.py), which fills ``zoo``, ``input_ranges``, ``input_samples``,
``default_shapes`` and ``default_values`` once, so nothing below re-reads the zoo."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import onnx

from edgec.compiler.frontends.detect import read_model_bytes
from edgec.compiler.frontends.onnx_frontend import validate_onnx
from edgec.compiler.frontends.registry import detect
from edgec.errors import UserInputError


@dataclass
class SourceModel:
    format: str  # a frontend's name (compiler/frontends/registry.py): "onnx" | "tflite"
    data: bytes  # the original bytes, for the reference runtime and the source hash
    parsed: object = None  # what the frontend's parse made of ``data``
    path: str = ""
    zoo: str = ""
    input_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    input_samples: dict[str, str] = field(default_factory=dict)
    default_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    default_values: dict[str, object] = field(default_factory=dict)  # zoo inputs pinned by value
    derived: bool = False  # made by a step (prune, quantize): the artifact keeps it as source.onnx

    @property
    def onnx(self) -> "onnx.ModelProto | None":
        return self.parsed if self.format == "onnx" else None

    @property
    def tflite(self):
        """The parsed TFLiteModel (compiler/frontends/tflite_frontend.py), or None."""
        return self.parsed if self.format == "tflite" else None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def describe(self) -> dict:
        return {"format": self.format, "sha256": self.sha256, "path": self.path, "zoo": self.zoo}

    def derive(self, model: onnx.ModelProto) -> "SourceModel":
        """The model a step made from this one: new bytes, the same input ranges and samples."""
        return replace(self, format="onnx", data=model.SerializeToString(), parsed=model,
                       path="<ModelProto>", zoo="", default_shapes={}, default_values={}, derived=True)


def load_source(model: "str | Path | onnx.ModelProto | SourceModel") -> SourceModel:
    """A SourceModel from a file path or an onnx.ModelProto (a SourceModel is returned as it is)."""
    if isinstance(model, SourceModel):
        return model
    if isinstance(model, onnx.ModelProto):
        validate_onnx(model, "the given ModelProto")
        return SourceModel("onnx", model.SerializeToString(), parsed=model, path="<ModelProto>")
    if not isinstance(model, (str, Path)):
        raise UserInputError(f"model must be a path, a zoo name or an onnx.ModelProto, not {type(model).__name__}")
    path = Path(model)
    data = read_model_bytes(path)
    frontend = detect(data, path)
    return SourceModel(frontend.name, data, frontend.parse_fn()(data, str(path)), path=str(path.resolve()))
