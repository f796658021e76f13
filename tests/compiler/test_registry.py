"""Quantization schemes and prune methods are registries: the CLI offers their names, unknown
names are clear errors, and a new entry runs through the same entry point as the shipped ones."""
import numpy as np
import pytest

import edgec
from edgec.compiler.accuracy_guard import back_off
from edgec.compiler.prune.methods import METHODS
from edgec.compiler.quantize import WeightOptions, quantize
from edgec.compiler.quantize.schemes import SCHEMES
from edgec.compiler.registry import Entry
from edgec.errors import UserInputError
from edgec.models.tiny import tiny_mlp
from tests.conftest import run_cli


def halve_weights(model, calib, options, verbose=False):
    """A scheme as a user would add one: a function of (model, calib, options, verbose)."""
    from onnx import numpy_helper

    out = type(model)()
    out.CopyFrom(model)
    for i, t in enumerate(out.graph.initializer):
        out.graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) / 2, t.name))
    return out


def test_cli_choices_are_the_registry_names():
    proc = run_cli("quantize", "--help")
    assert "[" + "|".join(SCHEMES.names()) + "]" in proc.stdout
    proc = run_cli("prune", "--help")
    assert "[" + "|".join(METHODS.names()) + "]" in proc.stdout


def test_unknown_names_list_the_known_ones():
    with pytest.raises(UserInputError, match="use one of int8, int8-weights, fp16"):
        quantize(tiny_mlp(), "int4")
    with pytest.raises(UserInputError, match="use one of channels, magnitude"):
        edgec.prune(tiny_mlp(), method="random")


def test_a_new_scheme_is_one_entry():
    SCHEMES.add(Entry("halve", WeightOptions, f"{__name__}:halve_weights", "test scheme: weights / 2"))
    try:
        res = edgec.quantize(tiny_mlp(), "halve")
        w0 = tiny_mlp().graph.initializer[0]
        from onnx import numpy_helper

        np.testing.assert_allclose(numpy_helper.to_array(res.model.graph.initializer[0]), numpy_helper.to_array(w0) / 2)
        assert res.notes == ["test scheme: weights / 2"]
    finally:
        del SCHEMES.entries["halve"]
    with pytest.raises(ValueError, match="registered twice"):
        SCHEMES.add(SCHEMES.get("fp16"))


def test_back_off_takes_out_a_growing_prefix_until_the_drop_holds():
    # the metric loses 0.1 per layer still optimized; 5 optimized layers ranked worst first
    ranked = ["a", "b", "c", "d", "e"]
    metric = lambda kept: 1.0 - 0.1 * (5 - len(kept))  # noqa: E731
    steps = []
    out = back_off([], metric([]), 1.0, 0.25, ranked, lambda kept: kept, metric,
                   on_step=lambda kept, s: steps.append(len(kept)))
    assert out.kept == ["a", "b", "c"] and steps == [1, 2, 3] and out.holds(1.0, 0.25)
    doubling = back_off([], metric([]), 1.0, 0.25, ranked, lambda kept: kept, metric, grow=lambda n: 2 * n)
    assert doubling.kept == ["a", "b", "c", "d"]
    never = back_off([], metric([]), 1.0, -1.0, ranked, lambda kept: kept, metric)
    assert never.kept == ranked and not never.holds(1.0, -1.0)
