"""edgec's micro runtime path: the lowered model as a static plan of kernel calls, emitted as C and
linked with the kernels and weights into one library that runtime/micro runs (no TVM runtime)."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from edgec.compiler.micro.plan import NotPlannable, Plan, build_plan
from edgec.compiler.options import RUNTIMES
from edgec.targets import Target

if TYPE_CHECKING:
    import tvm

__all__ = ["NotPlannable", "Plan", "build_plan", "lower_for_micro", "build_micro"]


def lower_for_micro(mod: "tvm.IRModule", target: Target, pipeline: "str | tvm.transform.Pass") -> "tvm.IRModule":
    """``mod`` through edgec's Relax pipeline (TVM's memory planning included), for ``target``
    (``pipeline`` as compiler.schedules.relax_pipeline gives it: a pass, or the name of TVM's own)."""
    from tvm import relax

    from edgec.compiler.lower import out_of_memory_is_the_models
    from edgec.compiler.tvm_target import to_tvm

    tvm_target = to_tvm(target)
    if isinstance(pipeline, str):
        pipeline = relax.get_pipeline(pipeline)
    with tvm_target, out_of_memory_is_the_models():
        return pipeline(mod)


def _links_on_device(target: Target) -> bool:
    """Android: the artifact is objects the app links with the NDK (the target's library = "tar"),
    so there is no library for a plan to live in."""
    from edgec.compiler.lower import library_name

    return library_name(target).endswith(".tar")


def build_micro(lowered: "tvm.IRModule", target: Target, out: Path, input_names: list[str],
                output_names: list[str]) -> dict:
    """Plan ``lowered`` (from lower_for_micro), compile its kernels and link the library ``out``.
    Returns the sizes the manifest records. Raises NotPlannable when the VM is needed."""
    from edgec.compiler.micro.emit import write_sources
    from edgec.compiler.micro.kernels import build_kernels
    from edgec.compiler.micro.link import archive_model, is_bare_metal, link_model
    from edgec.compiler.tvm_target import to_tvm

    if target.kind != "llvm":
        raise NotPlannable(f"{target.kind} targets run on TVM's runtime")
    if _links_on_device(target):
        raise NotPlannable(f"{target.name} artifacts are objects linked on the device's toolchain (model.tar)")
    plan = build_plan(lowered)
    if len(plan.inputs) != len(input_names) or len(plan.outputs) != len(output_names):
        raise NotPlannable(f"main has {len(plan.inputs)} inputs and {len(plan.outputs)} outputs, the model "
                           f"{len(input_names)} and {len(output_names)}")
    with tempfile.TemporaryDirectory(prefix="edgec-micro-") as tmp:
        folder = Path(tmp)
        workspace = build_kernels(lowered, to_tvm(target), folder / "kernels.o")
        kernel_bytes = (folder / "kernels.o").stat().st_size
        write_sources(plan, input_names, output_names, workspace, folder)
        (archive_model if is_bare_metal(target.triple) else link_model)(target, folder, out)
    return {"arena_bytes": plan.arena_bytes, "weights_bytes": plan.weights_bytes, "workspace_bytes": workspace,
            "calls": len(plan.calls), "kernels": len(plan.kernels), "kernel_object_bytes": kernel_bytes,
            "library_bytes": out.stat().st_size}


def default_runtime(target: Target) -> str:
    """"auto" on every target: the micro runtime wherever the plan can express the model (no TVM
    runtime on the device), TVM's VM otherwise with the reason recorded (GPU targets, Android's
    objects, data-dependent shapes). The VM stays one flag away: ``--runtime vm``."""
    return "auto"


def build_library(mod: "tvm.IRModule", target: Target, out_dir: Path, pipeline: "str | tvm.transform.Pass",
                  runtime: str, input_names: list[str], output_names: list[str]) -> tuple[Path, dict]:
    """The artifact's library for ``runtime`` ("auto": micro where the plan can express the
    model, else TVM's VM; "micro": micro or a clear error; "vm": TVM's VM). Returns the library
    and what the manifest records under compile_options (runtime, micro sizes, why not micro)."""
    from edgec.compiler.lower import build_and_export, library_name
    from edgec.errors import UserInputError

    if runtime not in RUNTIMES:
        raise UserInputError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    from edgec.compiler.micro.link import is_bare_metal

    bare = target.kind == "llvm" and is_bare_metal(target.triple)
    if runtime == "vm":
        if bare:
            raise UserInputError(f"{target.name} is bare metal: no TVM runtime exists for it", hint="use --runtime micro")
        return build_and_export(mod, target, out_dir, pipeline=pipeline), {"runtime": "vm"}
    why = None
    if target.kind != "llvm" or _links_on_device(target):
        why = f"{target.name} artifacts run on TVM's runtime ({library_name(target)})"
    else:
        lowered = lower_for_micro(mod, target, pipeline)
        try:
            lib = out_dir / ("model.a" if bare else "model.so")
            return lib, {"runtime": "micro", "micro": build_micro(lowered, target, lib, input_names, output_names)}
        except NotPlannable as e:
            why = str(e)
    if runtime == "micro" or bare:
        raise UserInputError(f"the micro runtime cannot run this model: {why}",
                             hint="a bare-metal target has no other runtime" if bare else "compile with --runtime vm")
    if target.kind != "llvm" or _links_on_device(target):
        return build_and_export(mod, target, out_dir, pipeline=pipeline), {"runtime": "vm", "micro_refused": why}
    return build_and_export(lowered, target, out_dir, pipeline=None), {"runtime": "vm", "micro_refused": why}
