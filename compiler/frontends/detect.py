"""Read a model file's bytes with clear errors and tell its format by content (not by file name)."""
from __future__ import annotations

from pathlib import Path

from edgec.compiler.frontends.registry import detect
from edgec.errors import ModelFormatError, UserInputError
from edgec.runtime.files import MODEL_LIMIT, read_bytes


def read_model_bytes(path: Path) -> bytes:
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"model file not found: {path}")
    if path.is_dir():
        raise UserInputError(f"{path} is a directory, expected a .onnx or .tflite file")
    data = read_bytes(path, "model", MODEL_LIMIT)  # regular files only, size checked first
    if not data:
        raise ModelFormatError(f"{path} is empty")
    return data


def detect_format(data: bytes, path: Path | None = None) -> str:
    """The format's name by content (the frontend registry's ``detect``): 'tflite' when the
    flatbuffer identifier TFL3 is present, else 'onnx' (protobuf has no magic)."""
    return detect(data, path).name
