"""The model formats edgec reads, by name: how to recognise one, parse it and import it into Relax.

Adding a format: a file with its parse function ``(bytes, where) -> parsed model`` (a clear
ModelFormatError when the bytes are not one) and its import step ``(SourceModel, CompileOptions)
-> Imported`` (imported.py), a ``Frontend`` here, its reference runtime in edgec/reference.py
``REFERENCES``, its name in runtime/manifest.py ``SOURCE_FORMATS`` (the runtime cannot import the
compiler), and a test in tests/compiler/test_frontends.py, which checks those lists agree. The
functions are "module:function" strings imported on first use, so detection needs neither onnx
nor TVM."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgec.compiler.registry import Registry, load_attr
from edgec.errors import ModelFormatError


@dataclass(frozen=True)
class Frontend:
    name: str  # SourceModel.format and the manifest's source_model.format
    title: str  # how messages name it
    summary: str
    parse: str  # "module:function": (bytes, where) -> the parsed model (SourceModel.parsed)
    import_step: str  # "module:function": (SourceModel, CompileOptions) -> Imported
    magic: tuple[int, bytes] | None = None  # (offset, bytes) that identify the format; None: the fallback
    suffix: str = ""  # a file named so must carry the magic, else it is refused as corrupt

    def matches(self, data: bytes) -> bool:
        if self.magic is None:
            return False
        at, magic = self.magic
        return data[at:at + len(magic)] == magic

    def parse_fn(self) -> Callable:
        return load_attr(self.parse)

    def import_fn(self) -> Callable:
        return load_attr(self.import_step)


FRONTENDS = Registry("model format", "the model")
FRONTENDS.add(Frontend("onnx", "ONNX", "ONNX protobuf, any opset the onnx package reads (clean-up passes first)",
                       "edgec.compiler.frontends.onnx_frontend:parse_onnx",
                       "edgec.compiler.frontends.onnx_import:import_onnx", suffix=".onnx"))
FRONTENDS.add(Frontend("tflite", "TFLite", "TFLite flatbuffer (MediaPipe custom ops, sparse weights densified)",
                       "edgec.compiler.frontends.tflite_frontend:parse_tflite",
                       "edgec.compiler.frontends.tflite_import:import_tflite", magic=(4, b"TFL3"), suffix=".tflite"))


def detect(data: bytes, path: Path | None = None) -> Frontend:
    """The format of a model's bytes, by content, not by file name: the first frontend whose magic
    bytes match, else the one without magic (ONNX: protobuf has none). A file named like a format
    with magic that lacks it is refused as corrupt rather than parsed as something else."""
    frontends = list(FRONTENDS.entries.values())
    for fe in frontends:
        if fe.matches(data):
            return fe
    suffix = Path(path).suffix.lower() if path is not None else None
    for fe in frontends:
        if fe.magic is not None and fe.suffix == suffix:
            raise ModelFormatError(f"{path} is not a {fe.title} model (no {fe.magic[1].decode()} identifier); "
                                   "truncated or corrupt?")
    return next(fe for fe in frontends if fe.magic is None)
