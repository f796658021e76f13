"""Backends: one module per target kind, its capabilities as data. Code asks the backend what a
target can do (edgec's schedules, int8 kernels, tuning, library formats, where it runs) instead
of testing kind or triple strings; what varies per device is a field of the target's TOML.

Adding a backend: compiler/backends/NAME.py with a ``BACKEND = Backend(...)``, its kind in
``targets._KINDS`` and in ``_MODULES`` below, a test in tests/compiler/test_backends.py."""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from edgec.compiler.registry import load_attr
from edgec.errors import UserInputError

_MODULES = {"llvm": "llvm_cpu", "cuda": "cuda"}  # target kind -> backend module


@dataclass(frozen=True)
class Backend:
    kind: str  # the targets' ``kind``
    device: str  # "cpu" | "gpu": what runs the code (a GPU artifact is not run on the build machine)
    edgec_schedules: bool  # edgec's CPU Relax pipeline (kernels, schedules) and `edgec tune` apply
    int8_kernels: bool  # QDQ conv/matmul lowered onto edgec's integer kernels where the ISA has them
    libraries: tuple[str, ...]  # library formats it exports ("so", "tar"); the first is the default
    tvm_target: str  # "module:function": edgec Target -> tvm.target.Target
    before_export: str = ""  # "module:function(executable, tvm_target, target, out_dir)", e.g. CUDA fatbins

    def library_name(self, target) -> str:
        """``model.<format>``: the target's TOML ``library`` field, else this backend's default."""
        fmt = getattr(target, "library", "") or self.libraries[0]
        if fmt not in self.libraries:
            raise UserInputError(f"target {target.name}: library = {fmt!r}; {self.kind} exports "
                                 f"{', '.join(self.libraries)}")
        return f"model.{fmt}"

    def call(self, hook: str, *args):
        return load_attr(hook)(*args)


def backend_for(target) -> Backend:
    """The backend of a Target, a manifest's target dict or a kind name."""
    kind = target if isinstance(target, str) else target.get("kind", "llvm") if isinstance(target, dict) else target.kind
    if kind not in _MODULES:
        raise UserInputError(f"no backend for target kind {kind!r}; edgec has {', '.join(_MODULES)}")
    return importlib.import_module(f"{__name__}.{_MODULES[kind]}").BACKEND


def kinds() -> tuple[str, ...]:
    return tuple(_MODULES)
