"""Schedule for edgec's softmax kernel (compiler/kernels/softmax.py): one row per iteration of a
parallel loop; the lane-partial max and sum keep V accumulators in one vector register while
the row streams past in contiguous vector loads; the elementwise stages (shift, exp) are inlined
into their two consumers, so the row is read three times from L1 and written once."""
from __future__ import annotations

from tvm import s_tir, tirx
from tvm.target import Target

from edgec.compiler.kernels.softmax import SOFTMAX_ATTR
from edgec.compiler.schedules.counting_rule import CountingRule
from edgec.compiler.schedules.cpu_generic import extent, maybe_parallel, vector_lanes, work


class SoftmaxRule(CountingRule):
    """Claims PrimFuncs holding the annotated softmax; None for anything else."""

    def apply(self, func: tirx.PrimFunc, target: Target, _: bool):
        if not isinstance(func, tirx.PrimFunc) or f'"{SOFTMAX_ATTR}"' not in func.script():
            return None
        try:
            sch = _schedule(func, vector_lanes(target))
        except Exception as e:  # noqa: BLE001 - fall back to the generic rule
            self.note_error("softmax", e)
            return None
        self.count("softmax")
        return sch


def _has(sch: s_tir.Schedule, name: str) -> bool:
    try:
        sch.get_sblock(name)
        return True
    except Exception:  # noqa: BLE001 - no such block
        return False


def _schedule(func: tirx.PrimFunc, lanes: int) -> s_tir.Schedule:
    sch = s_tir.Schedule(func)
    # exp is computed once per element into a row buffer (on the stack up to 256 floats), read
    # by the sum and by the output: computing it twice cost more than the buffer's traffic
    sch.compute_inline(sch.get_sblock("softmax_shift"))
    out = sch.get_sblock("softmax_out" if _has(sch, "softmax_out") else "log_softmax_out")
    *rows, k = sch.get_loops(out)
    amount = work(sch, out)
    row = sch.fuse(*rows) if len(rows) > 1 else (rows[0] if rows else sch.add_unit_loop(out))
    maybe_parallel(sch, row, amount)
    kext = extent(sch, k) or 0
    if kext % lanes == 0 and kext > lanes:
        _, ki = sch.split(k, [None, lanes])
        sch.vectorize(ki)
    elif kext == lanes:
        sch.vectorize(k)
    # producers, innermost first, each computed once per row
    exp = sch.get_sblock("T_fast_exp") if _has(sch, "T_fast_exp") else None
    for name in ("softmax_sum", "softmax_sum_lanes", "T_fast_exp", "softmax_max", "softmax_max_lanes"):
        if _has(sch, name):
            sch.compute_at(sch.get_sblock(name), row)
    if exp is not None:
        el = sch.get_loops(exp)[-1]
        eext = extent(sch, el) or 0
        if eext % lanes == 0 and eext > lanes:
            sch.vectorize(sch.split(el, [None, lanes])[1])
    for name in ("softmax_max_lanes", "softmax_sum_lanes"):
        blk = sch.get_sblock(name)
        lane, red = sch.get_loops(blk)[-2:]
        sch.reorder(red, lane)
        sch.vectorize(lane)
        init = sch.decompose_reduction(blk, red)
        sch.vectorize(sch.get_loops(init)[-1])
    return sch
