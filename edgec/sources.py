"""What the user passed as a model (path, zoo name, onnx.ModelProto) -> one SourceModel.

This is the one place a zoo name is looked up: the entry's input ranges, samples and default
shapes go into the SourceModel, so compile, prune, quantize and verify never re-read the zoo."""
from __future__ import annotations

from pathlib import Path

from edgec import models
from edgec.compiler.source import SourceModel, load_source


def resolve_model(model, fetch_quiet: bool = False) -> SourceModel:
    """A SourceModel for a path, a zoo name (fetched and cached), a ModelProto or a SourceModel."""
    if isinstance(model, (str, Path)) and not Path(model).exists() and str(model) in models.registry():
        entry = models.get(str(model))
        src = load_source(models.fetch(entry.name, quiet=fetch_quiet))
        src.zoo = entry.name
        src.input_ranges = {i.name: i.range for i in entry.inputs}
        src.input_samples = {i.name: i.sample for i in entry.inputs if i.sample}
        src.default_shapes = entry.input_shapes
        src.default_values = entry.input_values
        return src
    return load_source(model)
