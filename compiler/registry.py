"""A registry of named methods (quantization schemes, prune methods, model formats): name -> options
dataclass + function. Entries are declared as data and their functions imported on first use, so
the CLI can offer the names as choices without importing onnx or ONNX Runtime."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from edgec.errors import UserInputError


@dataclass(frozen=True)
class Entry:
    name: str
    options: type  # the dataclass of this method's options
    function: str  # "module:attribute", imported when the method runs
    summary: str  # one line for --help and docs
    needs_calib: bool = False  # refuses to run without calibration data

    def load(self) -> Callable:
        return load_attr(self.function)


def load_attr(spec: str) -> Callable:
    """The object a "module:attribute" string names, importing the module now."""
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


class Registry:
    """Entries by name (anything with a ``name``); an unknown name is a UserInputError naming the known ones."""

    def __init__(self, what: str, flag: str) -> None:
        self.what, self.flag, self.entries = what, flag, {}

    def add(self, entry: Entry) -> Entry:
        if entry.name in self.entries:
            raise ValueError(f"{self.what} {entry.name!r} is registered twice")
        self.entries[entry.name] = entry
        return entry

    def names(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def get(self, name: str):
        try:
            return self.entries[name]
        except KeyError:
            raise UserInputError(f"unknown {self.what} {name!r}; use one of {', '.join(self.entries)}",
                                 hint=f"{self.flag} takes one of: {', '.join(self.entries)}") from None
