"""What every frontend's import step returns, and the one check of the tensor signatures it found.

An import step turns a SourceModel into a Relax module plus the names, shapes and dtypes the
artifact will carry; the dims check is shared so every format refuses the same shapes the same way."""
from __future__ import annotations

from typing import NamedTuple

from edgec.errors import ModelFormatError, UserInputError
from edgec.runtime.manifest import DTYPES, TensorSpec

MAX_DIM = 2**31 - 1  # TVM indexes with int32 by default; larger dims are refused up front


class Imported(NamedTuple):
    """A frontend's result (a tuple, so ``mod, *_ = import_model(...)`` keeps working)."""

    mod: object  # tvm.IRModule, parameters bound
    inputs: list[TensorSpec]
    output_names: list[str]
    reports: list  # what the graph passes changed (PassReport), [] when none ran


def check_dims(specs: list[TensorSpec], what: str) -> None:
    """Dims an artifact can carry (0..2^31-1) and dtypes it knows (runtime/manifest.py DTYPES)."""
    for t in specs:
        if t.dtype not in DTYPES:
            raise ModelFormatError(f"{what} '{t.name}' has dtype {t.dtype}; edgec supports {', '.join(sorted(DTYPES))}")
        if any(d < 0 for d in t.shape):
            raise ModelFormatError(f"{what} '{t.name}' has a negative dimension: shape {list(t.shape)}",
                                   hint="the model is corrupt, or its shape is dynamic: pin it with --input-shape")
        if any(d > MAX_DIM for d in t.shape):
            raise UserInputError(f"{what} '{t.name}' has shape {list(t.shape)}: edgec supports dimensions up to "
                                 f"2^31-1", hint="is the shape right? pin it with --input-shape NAME=D1,D2,...")
