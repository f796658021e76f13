"""Lower a Relax module with TVM for a target and export the library (cross-linking if needed)."""
from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import tvm
from tvm import relax

from edgec.compiler.backends import backend_for
from edgec.compiler.tvm_target import to_tvm
from edgec.errors import ToolchainError, UserInputError
from edgec.targets import Target


# LLVM writes DWARF for every kernel: 13% of PP-OCR det's fp32 library and 26% of its int8 one
# (whose kernels are many small specialized loops), read by nobody at run time. The symbols stay.
_LINK_OPTIONS = ["-Wl,--strip-debug"] if sys.platform.startswith("linux") else []


def library_name(target: Target) -> str:
    """``model.so``, or ``model.tar`` where the TOML says ``library = "tar"`` (Android links on
    the NDK, so its artifact carries objects in a tar, which TVM exports)."""
    return backend_for(target).library_name(target)


def check_toolchain(target: Target) -> str | None:
    """The cross C++ compiler to link with, or None to use the host's (or to link nothing: a tar
    of objects). Raises if it is missing."""
    if target.host is not None:
        target = target.host  # the CPU side of a GPU board (Jetson) is linked for its host
    if not target.is_cross or library_name(target).endswith(".tar"):
        return None
    cxx = target.toolchain.cxx
    if not cxx:
        raise ToolchainError(f"target {target.name} is cross ({target.triple}) but names no toolchain.cxx")
    if shutil.which(cxx) is None:
        pkg = target.toolchain.package or "a cross g++"
        raise ToolchainError(f"cross compiler '{cxx}' for target {target.name} is not installed",
                             hint=f"install it: apt-get install {pkg} (make setup does this)")
    return cxx


@contextmanager
def out_of_memory_is_the_models() -> Iterator[None]:
    """TVM's build running out of memory (std::bad_alloc) as the user error it is: TVM evaluates
    constant subgraphs at build time. Around every TVM build step, VM and micro paths alike."""
    try:
        yield
    except (MemoryError, tvm.error.InternalError) as e:
        if not isinstance(e, MemoryError) and "bad_alloc" not in str(e):
            raise  # a compiler bug: exit 70 with its message (EDGEC_DEBUG=1 for the traceback)
        raise UserInputError("compiling this model ran out of memory: TVM evaluates constant subgraphs at "
                             "build time, and one of them (an Expand or ConstantOfShape of a large shape?) "
                             "does not fit", hint="check the model's constant shapes, or compile on a "
                             "machine with more memory") from None


def build_and_export(mod: "tvm.IRModule", target: Target, out_dir: Path, pipeline="default") -> Path:
    """Compile ``mod`` for ``target`` and write the library into ``out_dir``; returns its path."""
    cxx = check_toolchain(target)
    tvm_target = to_tvm(target)
    with out_of_memory_is_the_models():
        ex = relax.build(mod, target=tvm_target, relax_pipeline=pipeline)
    backend = backend_for(target)
    if backend.before_export:
        backend.call(backend.before_export, ex, tvm_target, target, out_dir)
    lib = out_dir / library_name(target)
    opts = {} if str(lib).endswith(".tar") else {"options": list(_LINK_OPTIONS)}
    if cxx:
        ex.export_library(str(lib), fcompile=tvm.support.cc.cross_compiler(cxx), **opts)
    else:
        ex.export_library(str(lib), **opts)
    return lib
