"""Graph passes on ONNX models, registered by name; a pipeline is a list of names.

A pass takes an ``onnx.ModelProto`` and a ``PassContext`` and returns a new model plus a short
report of what it changed (nodes folded, BatchNorms fused...), so every optimization can say
what it did. Passes never mutate their input model.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import onnx

from edgec.errors import UserInputError

log = logging.getLogger(__name__)


@dataclass
class PassContext:
    """What passes may need besides the graph: user-given input shapes and values, verbosity."""

    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    input_values: dict[str, object] = field(default_factory=dict)  # name -> number / list / array
    verbose: bool = False


@dataclass
class PassReport:
    name: str
    nodes_before: int
    nodes_after: int
    changed: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        what = ", ".join(f"{k}={v}" for k, v in self.changed.items()) or "no change"
        return f"{self.name}: {self.nodes_before} -> {self.nodes_after} nodes ({what})"


PassFn = Callable[[onnx.ModelProto, PassContext], "tuple[onnx.ModelProto, dict[str, int]]"]
_PASSES: dict[str, PassFn] = {}


def register(name: str) -> Callable[[PassFn], PassFn]:
    def deco(fn: PassFn) -> PassFn:
        if name in _PASSES:
            raise RuntimeError(f"pass {name!r} registered twice")
        _PASSES[name] = fn
        return fn

    return deco


def get_pass(name: str) -> PassFn:
    if name not in _PASSES:
        raise UserInputError(f"unknown pass '{name}'", hint=f"known passes: {', '.join(sorted(_PASSES))}")
    return _PASSES[name]


def available_passes() -> list[str]:
    return sorted(_PASSES)


def run_pipeline(model: onnx.ModelProto, names: list[str], ctx: PassContext | None = None
                 ) -> tuple[onnx.ModelProto, list[PassReport]]:
    ctx = ctx or PassContext()
    reports = []
    for name in names:
        fn = get_pass(name)
        before = len(model.graph.node)
        model, changed = fn(model, ctx)
        rep = PassReport(name, before, len(model.graph.node), changed)
        log.log(logging.INFO if ctx.verbose else logging.DEBUG, "pass %s", rep)
        reports.append(rep)
    return model, reports
