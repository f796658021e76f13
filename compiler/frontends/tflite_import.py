"""The TFLite import step: the model's fixed signature, then TVM's importer with edgec's converters
(tflite_frontend.tflite_to_relax). Registered as the "tflite" frontend (registry.py)."""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from edgec.compiler.frontends.imported import Imported, check_dims
from edgec.compiler.frontends.tflite_frontend import tflite_to_relax
from edgec.errors import ModelFormatError, UserInputError
from edgec.runtime.manifest import TensorSpec

if TYPE_CHECKING:
    from edgec.compiler.options import CompileOptions
    from edgec.compiler.source import SourceModel


def import_tflite(src: "SourceModel", opts: "CompileOptions") -> Imported:
    """``src``: a SourceModel of format "tflite"; ``opts``: its CompileOptions (no shapes or values:
    a TFLite model's inputs are fixed)."""
    if opts.input_shapes or opts.input_values:
        raise UserInputError("--input-shape / --input-value are not supported for TFLite models (their inputs are fixed)")
    inputs = [TensorSpec(n, s, d) for n, s, d in src.tflite.io()]
    check_dims(inputs, "input")
    try:
        mod = tflite_to_relax(src.tflite)
    except struct.error as e:  # flatbuffers reads lazily: a table pointing outside the file shows here
        raise ModelFormatError(f"{src.path} is not a valid TFLite model (a table points outside the file: {e}); "
                               "the file may be truncated or corrupt") from None
    return Imported(mod, inputs, [n for n, _, _ in src.tflite.io(outputs=True)], [])
