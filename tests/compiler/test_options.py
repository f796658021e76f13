"""CompileOptions is the compile contract: frozen, complete, recorded whole in the manifest."""
import dataclasses

import pytest

import edgec
from edgec.compiler import CompileOptions, compile as compile_source, load_source
from edgec.errors import UserInputError
from edgec.models.tiny import tiny_mlp


def test_options_are_frozen_and_normalized():
    opts = CompileOptions(input_shapes={"x": [1, 64]}, pipeline=["infer_shapes"])
    assert opts.input_shapes == {"x": (1, 64)} and opts.pipeline == ("infer_shapes",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.schedule = "none"
    with pytest.raises(UserInputError, match="unknown schedule"):
        CompileOptions(schedule="fast")


def test_api_keywords_map_onto_options():
    assert CompileOptions.from_api("host", tuning_db=False).tuning == "none"
    assert CompileOptions.from_api("host").tuning == "shipped"
    assert CompileOptions.from_api("host", tuning_db="db.json", quantize="int8").quantize == "int8"


def test_manifest_records_every_option(tmp_path, tiny_artifacts):
    _, art = tiny_artifacts["mlp"]
    recorded = art.manifest.compile_options
    assert {f.name for f in dataclasses.fields(CompileOptions)} <= set(recorded)
    assert recorded["tuning"] == "shipped" and recorded["speed_guard"] is None and recorded["prune"] is None


def test_compiler_takes_a_source_model_and_options(tmp_path):
    """The contract without the edgec layer: SourceModel + CompileOptions -> Artifact in a folder."""
    opts = CompileOptions(schedule="none", tuning="none")
    art = compile_source(load_source(tiny_mlp()), opts, tmp_path / "a")
    assert art.manifest.compile_options["schedule"] == "none" and art.manifest.compile_options["tuning_db"] is None
    assert edgec.verify(art, tiny_mlp()).passed
