"""CompileOptions: the compile contract. Every choice that changes the compiled code is a field
here, the same object drives `edgec.compile`, `edgec compile` and the compiler, and the manifest
records it whole (``to_dict``), so an artifact says exactly how it was made."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from edgec.errors import UserInputError

SCHEDULES = ("default", "nchw", "none")  # edgec kernels + schedules | first-generation schedules | stock TVM
RUNTIMES = ("auto", "micro", "vm")  # micro where the plan applies, else the VM | edgec's own | TVM's VM


def default_pipeline() -> tuple[str, ...]:
    """The standard graph passes (imported on use: this module stays light for the CLI)."""
    from edgec.compiler.passes import DEFAULT_PIPELINE

    return tuple(DEFAULT_PIPELINE)


@dataclass(frozen=True)
class CompileOptions:
    """Everything that changes the compiled code (output folder, --force and logging do not)."""

    target: "str | edgec.targets.Target" = "host"  # noqa: F821  # a target name, a .toml file (targets/) or a Target
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    input_values: dict[str, list] = field(default_factory=dict)  # inputs pinned to constants, as nested lists
    pipeline: tuple[str, ...] = field(default_factory=default_pipeline)  # ONNX graph passes, in order
    schedule: str = "default"
    tuning: str = "shipped"  # "shipped" (targets/tuning/NAME.json if any) | "none" | a database path
    prune: str | None = None  # "channels:0.3" | "magnitude:0.5": a step before compiling
    quantize: str | None = None  # a quantization scheme (compiler/quantize/schemes.py)
    calib: object = None  # calibration data for prune/quantize: a path, "synthetic:NAME" or feeds
    speed_guard: bool | None = None  # int8: time each layer here, keep the faster (None: when native)
    drop_fake_quant: bool = False  # int8: also skip the rounding in front of float ops
    runtime: str | None = None  # "vm": TVM's; "micro": edgec's own (compiler/micro); "auto": micro where
    #                             it applies (the default: compiler/micro default_runtime)

    def __post_init__(self) -> None:
        if isinstance(self.target, Path):
            object.__setattr__(self, "target", str(self.target))
        object.__setattr__(self, "input_shapes", {str(k): tuple(int(d) for d in v)
                                                  for k, v in (self.input_shapes or {}).items()})
        object.__setattr__(self, "input_values", values_as_lists(self.input_values))
        object.__setattr__(self, "pipeline", tuple(self.pipeline))
        if self.schedule not in SCHEDULES:
            raise UserInputError(f"unknown schedule {self.schedule!r}; use one of {', '.join(SCHEDULES)}")
        if self.runtime is not None and self.runtime not in RUNTIMES:
            raise UserInputError(f"unknown runtime {self.runtime!r}; choose one of {', '.join(RUNTIMES)}")
        if isinstance(self.tuning, Path):
            object.__setattr__(self, "tuning", str(self.tuning))

    @classmethod
    def from_api(cls, target="host", *, input_shapes=None, pipeline=None, tuning_db=None, **kw) -> "CompileOptions":
        """From edgec.compile's keyword arguments (``tuning_db``: None = shipped, False = none, a path)."""
        tuning = "none" if tuning_db is False else "shipped" if tuning_db is None else str(tuning_db)
        return cls(target=target, input_shapes=input_shapes or {},
                   pipeline=tuple(pipeline) if pipeline is not None else default_pipeline(), tuning=tuning, **kw)

    def to_dict(self) -> dict:
        """JSON-ready, for the manifest (in-memory calibration feeds are named, not stored)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["target"] = self.target if isinstance(self.target, str) else self.target.name
        d["input_shapes"] = {k: list(v) for k, v in self.input_shapes.items()}
        d["pipeline"] = list(self.pipeline)
        if self.calib is not None and not isinstance(self.calib, (str, Path)):
            d["calib"] = f"<{type(self.calib).__name__} of calibration feeds>"
        elif self.calib is not None:
            d["calib"] = str(self.calib)
        return d


def values_as_lists(values: dict | None) -> dict[str, list]:
    """input_values as JSON-able nested lists (the manifest records them); numbers or arrays in."""
    import numpy as np

    if values is None:
        return {}
    if not isinstance(values, dict):
        raise UserInputError(f"input_values must be a dict {{name: value}}, not {type(values).__name__}")
    out = {}
    for k, v in values.items():
        a = np.asarray(v)
        if a.dtype.kind not in "biuf":
            raise UserInputError(f"input_values['{k}'] = {v!r}: give a number or an array of numbers")
        out[str(k)] = a.tolist()
    return out
