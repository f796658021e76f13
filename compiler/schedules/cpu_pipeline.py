"""edgec's CPU Relax pipeline: TVM's cpu_generic passes plus our layout, kernels and schedules.

schedule="default": convs become NHWC (relax ConvertLayout: transposes only at the graph's edges
and around ops that need NCHW), run on edgec's channel-vectorized kernels (compiler/kernels/),
scheduled by ConvTileRule; every other kernel gets the generic rule. schedule="nchw" keeps the
models' own layout with the generic rule only (edgec's first-generation schedules, kept to
compare against).
"""
from __future__ import annotations

import tvm
from tvm import relax
from tvm.relax.backend.cpu_generic import pipeline as cpu
from tvm.s_tir.dlight import ApplyDefaultSchedule

from edgec.compiler.kernels.const_fold import fold_constants_fast
from edgec.compiler.kernels.edge_depthwise import keep_edge_depthwise_nchw
from edgec.compiler.kernels.fast_math import fast_math_legalizers
from edgec.compiler.kernels.layout import channels_last_passes
from edgec.compiler.kernels.legalize import conv2d_legalizer, clip_take_indices, fold_input_transposes, matmul_legalizer
from edgec.compiler.kernels.resize_legalize import resize2d_legalizer
from edgec.compiler.kernels.softmax import softmax_legalizer
from edgec.compiler.kernels.tiles import cpu_vector
from edgec.compiler.schedules.cpu_conv import ConvTileRule
from edgec.compiler.schedules.cpu_generic import CPUGeneric, vector_lanes
from edgec.compiler.schedules.cpu_softmax import SoftmaxRule
from edgec.compiler.schedules.cpu_transpose import TransposeRule
from edgec.compiler.schedules.layout_fixes import sort_layer_norm_axes, tidy_after_layout
from edgec.targets import Target


def schedule_passes(stats: dict | None = None, knobs_for=None, own_kernels: bool = True) -> list:
    rules = [ConvTileRule(stats), TransposeRule(stats), SoftmaxRule(stats)] if own_kernels else []
    return [ApplyDefaultSchedule(*rules, CPUGeneric(stats, knobs_for))]


def legalize_passes(tvm_target, own_kernels: bool, stats: dict | None = None) -> list:
    if not own_kernels:
        return cpu.legalize_passes(tvm_target)
    vec = cpu_vector(vector_lanes(tvm_target))
    # sort_layer_norm_axes: ConvertLayout permutes a layer_norm's axes but not gamma/beta; tidy_after_layout:
    # it leaves (a, b)[1] tuples that FuseOps mishandles (both in layout_fixes.py)
    return [clip_take_indices(), keep_edge_depthwise_nchw, *channels_last_passes(), sort_layer_norm_axes, tidy_after_layout(), fold_constants_fast(),
            fold_input_transposes(vec),
            relax.transform.LegalizeOps({"relax.nn.conv2d": conv2d_legalizer(vec),
                                         "relax.matmul": matmul_legalizer(vec),
                                         "relax.image.resize2d": resize2d_legalizer(stats),
                                         "relax.nn.softmax": softmax_legalizer(vec.lanes),
                                         "relax.nn.log_softmax": softmax_legalizer(vec.lanes, log=True),
                                         **fast_math_legalizers()}),
            relax.transform.AnnotateTIROpPattern(), relax.transform.FoldConstant(),
            relax.transform.FuseOps(), relax.transform.FuseTIR()]


def cpu_pipeline(target: Target, stats: dict | None = None, knobs_for=None, schedule: str = "default"):
    own = schedule == "default"

    @tvm.transform.module_pass(opt_level=0, name="EdgecCPUPipeline")
    def _pipeline(mod: tvm.ir.IRModule, _ctx: tvm.transform.PassContext) -> tvm.ir.IRModule:
        tvm_target = tvm.target.Target.current(allow_none=True)
        seq = tvm.transform.Sequential(
            cpu.library_dispatch_passes(tvm_target) + legalize_passes(tvm_target, own, stats)
            + schedule_passes(stats, knobs_for, own)
            + cpu.dataflow_lower_passes(tvm_target) + cpu.finalize_passes(tvm_target))
        return seq(mod)

    return _pipeline
