"""The plan's kernels as one object file, and the most workspace any of them asks for.

This is tvm.tirx.build's own sequence (bind target, TIR pipeline, host/device split, host
finalization, LLVM codegen), kept open in the middle so that the workspace requests
(TVMBackendAllocWorkspace calls, which LowerTVMBuiltin inserts) can be read from the lowered TIR:
the micro runtime reserves that much per thread when a model is opened, so a run never allocates.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from edgec.compiler.micro.plan import ALIGN, NotPlannable

if TYPE_CHECKING:
    import tvm


_PACKED_CALL = re.compile(r"T\.call_c?packed\(\"([^\"]+)\"")
_WS_CALL = re.compile(r"TVMBackendAllocWorkspace\(\d+, [\w.]+, T\.u?int64\((\d+)\)")


def _workspace_bytes(func: "tvm.tirx.PrimFunc") -> int:
    """Sum of the workspace requests in one lowered function (an upper bound of what one thread
    holds at once: requests are freed in reverse order, a loop's at the end of each iteration).
    Read from the TIR's text: TVM 0.27's Python has no TIR visitor."""
    text = func.script(show_meta=False)
    sizes = [int(n) for n in _WS_CALL.findall(text)]
    if len(sizes) != text.count("TVMBackendAllocWorkspace("):
        raise NotPlannable("a kernel asks for a workspace whose size is known only at run time")
    return sum((n + ALIGN - 1) // ALIGN * ALIGN for n in sizes)


def build_kernels(mod: "tvm.IRModule", tvm_target: "tvm.target.Target", obj: Path) -> int:
    """Write the PrimFuncs of ``mod`` (edgec's lowered Relax module) to ``obj``; returns the
    per-thread workspace the runtime must reserve."""
    from tvm import IRModule, tirx
    from tvm.tirx.build import split_host_device_mods, tir_to_runtime

    tir = IRModule({g: f for g, f in mod.functions.items() if isinstance(f, tirx.PrimFunc)}, attrs=mod.attrs)
    for g, f in tir.functions.items():
        packed = _PACKED_CALL.findall(f.script(show_meta=False))
        if packed:  # e.g. TopK's sort: a function of TVM's runtime library, looked up at run time
            raise NotPlannable(f"kernel {g.name_hint} calls {packed[0]} from TVM's runtime library")
    host_target = tvm_target.host or tvm_target
    tir = tirx.transform.BindTarget(tvm_target.with_host(host_target))(tir)
    pipeline, finalize_host, finalize_device = tirx.get_default_tir_pipeline(tvm_target)
    with tvm_target:
        tir = pipeline(tir)
        host, devices = split_host_device_mods(tir)
        if any(len(d.functions) for d in devices.values()):
            raise NotPlannable("kernels for a device other than the CPU")
        host = finalize_host()(host)
        workspace = max((_workspace_bytes(f) for f in host.functions.values() if isinstance(f, tirx.PrimFunc)),
                        default=0)
        lib = tir_to_runtime(host, {}, host_target)
    lib.write_to_file(str(obj))
    if not obj.exists():
        raise NotPlannable("TVM wrote no object file for the kernels")
    return workspace
