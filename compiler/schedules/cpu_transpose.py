"""Schedule for layout transposes (the NCHW <-> NHWC permutes at a model's edges).

The generic elementwise rule fuses all loops and vectorizes the output's innermost axis, which
for a transpose reads the input with a stride of a whole plane: every element a cache miss (an
NHWC -> NCHW permute of 96 x 160 x 160 took 9 ms). Here the two axes that swap are tiled, so the
tile's input lines stay in L1 while the output is written in contiguous vectors: 16 x 16 for
NCHW -> NHWC (the swapped output axes adjacent), 8 x 8 for NHWC -> NCHW, where the vector's
lanes gather from 8 pixels a channel-row apart (measured, thread CPU time, 6 shapes: 8 x 8 was
1.2-1.4x faster there on 5 of 6 shapes, 16 x 16 1.1x better the other way).
"""
from __future__ import annotations

from tvm import s_tir, tirx
from tvm.s_tir.dlight.analysis import normalize_prim_func
from tvm.target import Target

from edgec.compiler.kernels.transpose_tiles import DTYPES, LANES, Transpose2D, transpose_2d_func
from edgec.compiler.schedules.counting_rule import CountingRule
from edgec.compiler.schedules.cpu_generic import MIN_PARALLEL_WORK, maybe_parallel, vector_lanes, work

TILE = 16


def _swapped_axes(sch: s_tir.Schedule, block) -> tuple[int, int] | None:
    """(output axis written contiguously, output axis that walks the input's innermost dim) when
    the block is a pure permutation copy and they differ; None otherwise."""
    stmt = sch.get(block)
    if len(stmt.reads) != 1 or len(stmt.writes) != 1:
        return None
    body = stmt.body
    if not isinstance(body, tirx.stmt.BufferStore) or type(body.value).__name__ not in ("BufferLoad", "TensorLoad"):
        return None
    ivars = [iv.var for iv in stmt.iter_vars]
    if any(not isinstance(i, tirx.Var) for i in body.indices) or len(body.indices) != len(ivars):
        return None
    last_in = body.value.indices[-1]
    if not isinstance(last_in, tirx.Var):
        return None
    out_axis_of_in_last = next((i for i, v in enumerate(body.indices) if v.same_as(last_in)), None)
    inner_out = len(body.indices) - 1
    if out_axis_of_in_last is None or out_axis_of_in_last == inner_out:
        return None
    return inner_out, out_axis_of_in_last


def _register_tiled(func: tirx.PrimFunc, sch: s_tir.Schedule, block) -> s_tir.Schedule | None:
    """compiler/kernels/transpose_tiles.py's kernel in place of ``func`` when the permute is a
    batched 2-D transpose of a whole 8 x 8 tile or more, of a dtype it shuffles; else None."""
    stmt = sch.get(block)
    body = stmt.body
    src, dst = stmt.reads[0].source, stmt.writes[0].source
    # (0.27's PrimFunc exposes no buffer map: the params carry their buffers' names)
    if [str(p.name) for p in func.params] != [str(src.name), str(dst.name)] or str(src.dtype) not in DTYPES:
        return None
    try:
        in_shape = tuple(int(d) for d in src.shape)
        out_shape = tuple(int(d) for d in dst.shape)
    except (TypeError, ValueError):
        return None
    perm = []
    for out_index in body.indices:
        k = next((k for k, v in enumerate(body.value.indices) if v.same_as(out_index)), None)
        if k is None:
            return None
        perm.append(k)
    if sorted(perm) != list(range(len(in_shape))) or tuple(in_shape[k] for k in perm) != out_shape:
        return None
    t = Transpose2D.of_permutation(in_shape, tuple(perm))
    if t is None or t.rows < LANES or t.cols < LANES:
        return None
    total = t.batch * t.rows * t.cols
    new = transpose_2d_func(in_shape, out_shape, str(src.dtype), t, parallel=total >= MIN_PARALLEL_WORK)
    for key, value in (func.attrs or {}).items():
        new = new.with_attr(key, value)
    return s_tir.Schedule(new)


class TransposeRule(CountingRule):
    """Claims PrimFuncs that are a single permutation copy; anything else goes to the next rule."""

    def apply(self, func: tirx.PrimFunc, target: Target, _: bool):
        if not isinstance(func, tirx.PrimFunc):
            return None
        sch = s_tir.Schedule(func)
        blocks = sch.get_child_blocks(sch.get_sblock("root")) if _has_root(sch) else []
        if len(blocks) != 1:
            return None
        axes = _swapped_axes(sch, blocks[0])
        if axes is None:
            return None
        tiled = _register_tiled(func, sch, blocks[0])
        if tiled is not None:
            self.count("transpose_tiles")
            return tiled
        loops = sch.get_loops(blocks[0])
        if len(loops) != len(sch.get(blocks[0]).iter_vars):
            return None
        a, b = axes
        amount = work(sch, blocks[0])
        tile = TILE if a - b == 1 else TILE // 2
        ao, ai = sch.split(loops[a], [None, tile])
        bo, bi = sch.split(loops[b], [None, tile])
        rest = [lp for i, lp in enumerate(loops) if i not in (a, b)]
        sch.reorder(*rest, bo, ao, bi, ai)
        par = sch.fuse(*rest, bo) if rest else bo
        maybe_parallel(sch, par, amount)
        lanes = vector_lanes(target)
        _, vi = sch.split(ai, [None, lanes])
        sch.vectorize(vi)
        self.count("transpose")
        return sch


def _has_root(sch: s_tir.Schedule) -> bool:
    try:
        sch.get_sblock("root")
        return True
    except Exception:  # noqa: BLE001
        return False
