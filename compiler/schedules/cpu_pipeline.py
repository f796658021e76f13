"""edgec's CPU Relax pipeline: TVM's cpu_generic passes plus our schedule rules after FuseTIR."""
from __future__ import annotations

import tvm
from tvm.relax.backend.cpu_generic import pipeline as cpu
from tvm.s_tir.dlight import ApplyDefaultSchedule

from edgec.compiler.schedules.cpu_generic import CPUGeneric
from edgec.targets import Target


def schedule_passes(stats: dict | None = None, knobs_for=None) -> list:
    return [ApplyDefaultSchedule(CPUGeneric(stats, knobs_for))]


def cpu_pipeline(target: Target, stats: dict | None = None, knobs_for=None):
    @tvm.transform.module_pass(opt_level=0, name="EdgecCPUPipeline")
    def _pipeline(mod: tvm.ir.IRModule, _ctx: tvm.transform.PassContext) -> tvm.ir.IRModule:
        tvm_target = tvm.target.Target.current(allow_none=True)
        seq = tvm.transform.Sequential(
            cpu.library_dispatch_passes(tvm_target) + cpu.legalize_passes(tvm_target) + schedule_passes(stats, knobs_for)
            + cpu.dataflow_lower_passes(tvm_target) + cpu.finalize_passes(tvm_target))
        return seq(mod)

    return _pipeline
