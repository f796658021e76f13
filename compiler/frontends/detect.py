"""Tell ONNX from TFLite by content (not by file name) and read the bytes with clear errors."""
from __future__ import annotations

from pathlib import Path

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
    """'tflite' when the flatbuffer identifier TFL3 is present, else 'onnx' (protobuf has no magic)."""
    if len(data) >= 8 and data[4:8] == b"TFL3":
        return "tflite"
    if path is not None and Path(path).suffix.lower() == ".tflite":
        raise ModelFormatError(f"{path} is not a TFLite model (no TFL3 flatbuffer identifier); truncated or corrupt?")
    return "onnx"
