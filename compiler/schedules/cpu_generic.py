"""A generic CPU schedule for every fused kernel that no specialised rule claims.

TVM 0.27's CPU pipeline leaves each kernel a serial, scalar loop nest. This rule:
  1. inlines elementwise producers/consumers (but never a padding block into a reduction, which
     would put a bounds test in the innermost loop),
  2. puts spatial loops outside reduction loops and parallelises the fused outer spatial loops,
  3. moves the innermost spatial loop *inside* the reductions and vectorizes it, so a conv or
     matmul accumulates a vector of outputs per step instead of one scalar,
  4. computes leftover epilogue blocks (bias, activation) right after their reduction tile.
"""
from __future__ import annotations

import tvm
from tvm import s_tir, tirx
from tvm_ffi import get_global_func
from tvm.s_tir.dlight.analysis import normalize_prim_func
from tvm.target import Target

from edgec.compiler.schedules.counting_rule import CountingRule
from edgec.compiler.schedules.cpu_reduction import (TileKnobs, deinterleave_strided_reads, pad_innermost_spatial,
                                                     schedule_tiled_reduction)


def vector_lanes(target: Target) -> int:
    """fp32 lanes of the widest vector unit we target: 16 for AVX-512, 8 for AVX2, 4 for NEON."""
    keys = set(target.keys)
    mattr = " ".join(target.attrs.get("mattr", []) or [])
    mcpu = str(target.attrs.get("mcpu", ""))
    if "arm_cpu" in keys or "aarch64" in str(target.attrs.get("mtriple", "")):
        return 4
    try:  # LLVM's own feature table for this mcpu/mattr (no list of CPU names to keep current)
        from tvm.target.codegen import target_has_features

        return 16 if target_has_features("avx512f", target) else 8
    except Exception:  # noqa: BLE001 - a target LLVM cannot describe: read the attributes
        return 16 if "avx512" in mattr or mcpu in ("skylake-avx512", "cascadelake", "znver4") else 8


def extent(sch: s_tir.Schedule, loop) -> int | None:
    e = sch.get(loop).extent
    return int(e) if isinstance(e, tirx.IntImm) else None


_HAS_IF_THEN_ELSE = get_global_func("s_tir.schedule.HasIfThenElse")


def _is_padding(sch: s_tir.Schedule, block) -> bool:
    return bool(_HAS_IF_THEN_ELSE(sch.get(block)))


def _feeds_a_reduction(sch: s_tir.Schedule, block) -> bool:
    from tvm.s_tir.dlight.analysis import get_sblock_info

    return any("R" in get_sblock_info(sch, c).dom_kind() for c in sch.get_consumers(block))


def _has_init(sch: s_tir.Schedule, block) -> bool:
    return sch.get(block).init is not None


def _written_elems(sch: s_tir.Schedule, block) -> int:
    n = 1
    for d in sch.get(block).writes[0].source.shape:
        n *= int(d) if isinstance(d, tirx.IntImm) else 1 << 30
    return n


def inline_elementwise(sch: s_tir.Schedule, infos: list) -> list:
    """compute_inline / reverse_compute_inline everything possible, except padding blocks that
    feed a reduction (their bounds test would land in its innermost loop). Padding that feeds
    elementwise work (BlazeFace's channel-padded residual) is inlined there.

    Blocks with an init statement are never inlined, and nothing is reverse-inlined into them:
    a reduction whose reduction axes all have extent 1 (a 1x1 depthwise conv: kh = kw = ci/g = 1)
    comes out of normalize_prim_func with only spatial iterators but still its init, so it looks
    injective, and TVM's reverse_compute_inline rewrites *both* its init and its update with the
    consumer: `out = 0 + b; out = out + x*w + b` adds the bias twice (issue 16: MediaPipe
    hand_recrop, rel-L2 0.86; tests/compiler/test_miscompile_regressions.py)."""
    changed = True
    while changed:
        changed = False
        for i, info in enumerate(infos):
            if not info.is_injective() or (_is_padding(sch, info.block_rv) and _feeds_a_reduction(sch, info.block_rv)):
                continue
            if _has_init(sch, info.block_rv):
                continue
            producers = sch.get_producers(info.block_rv)
            into_init = any(_has_init(sch, p) for p in producers)
            # A consumer that keeps only part of its producer's output (a Slice of rows after a
            # conv) must not be reverse-inlined: TVM rewrites the producer to store straight into
            # the consumer's smaller buffer over the producer's whole domain, out of bounds (a
            # wrong answer, issue 16: difftest seed 31624; test_conv_then_slice_of_rows_nhwc).
            shrinks = any(_written_elems(sch, p) > _written_elems(sch, info.block_rv) for p in producers)
            for how in (sch.compute_inline,) if into_init or shrinks else (sch.compute_inline, sch.reverse_compute_inline):
                try:
                    how(info.block_rv)
                except Exception:  # noqa: BLE001 - TVM raises ScheduleError subclasses
                    continue
                infos.pop(i)
                changed = True
                break
            if changed:
                break
    return infos


# Below this many loop iterations a kernel runs serially: waking the thread pool and joining it
# costs a few microseconds, more than the work itself (PP-OCR cls and BlazeFace are full of them).
MIN_PARALLEL_WORK = 1 << 15


def work(sch: s_tir.Schedule, block) -> int:
    total = 1
    for lp in sch.get_loops(block):
        total *= extent(sch, lp) or 1 << 20
    return total


def maybe_parallel(sch: s_tir.Schedule, loop, amount: int) -> None:
    if amount >= MIN_PARALLEL_WORK:
        sch.parallel(loop)


def pick_vector(ext: int | None, lanes: int) -> int:
    if not ext:
        return 0
    for v in (lanes * 2, lanes, lanes // 2, 4):
        if v >= 4 and ext % v == 0:
            return v
    return 0


def schedule_spatial(sch: s_tir.Schedule, block, lanes: int) -> None:
    """Elementwise: fuse everything, parallel outer, vectorized inner. Padding (a bounds test per
    element): parallel over all but the innermost loop, which stays a plain loop; vectorizing a
    fused, flattened if_then_else made PP-OCR det's stride-2 pad 8x slower than this."""
    loops = sch.get_loops(block)
    if not loops:
        return
    amount = work(sch, block)
    if _is_padding(sch, block):
        if len(loops) > 1:
            maybe_parallel(sch, sch.fuse(*loops[:-1]) if len(loops) > 2 else loops[0], amount)
        return
    # The vector must divide the innermost extent: a vector that straddles a row (16 lanes over
    # rows of 56) makes every lane's address a div/mod of the fused index, which TVM does not
    # simplify back, and LLVM builds each vector from 16 scalar address computations (7x slower
    # on a 96x56x56 hardswish, tools/op_grid.py). Only when nothing divides it (rows of 7)
    # does the vector straddle rows, as before.
    v = pick_vector(extent(sch, loops[-1]), lanes)
    fused = sch.fuse(*loops) if len(loops) > 1 else loops[0]
    v = v or pick_vector(extent(sch, fused), lanes)
    if v and (extent(sch, fused) or 0) > v:
        outer, inner = sch.split(fused, [None, v])
        maybe_parallel(sch, outer, amount)
        sch.vectorize(inner)
    else:
        maybe_parallel(sch, fused, amount)


def schedule_reduction(sch: s_tir.Schedule, block, kinds: str, lanes: int) -> tuple[object, object] | None:
    """Returns (parallel loop, reduction-start loop) for epilogues to attach to, or None."""
    loops = sch.get_loops(block)
    amount = work(sch, block)
    s = [lp for lp, k in zip(loops, kinds) if k == "S"]
    r = [lp for lp, k in zip(loops, kinds) if k == "R"]
    if len(s) + len(r) != len(loops) or not r:
        return None
    if not s:
        s = [sch.add_unit_loop(block)]
    sch.reorder(*s, *r)
    inner = s[-1]
    v = pick_vector(extent(sch, inner), lanes)
    if v:
        inner_o, inner_i = sch.split(inner, [None, v])
        outer = s[:-1] + [inner_o]
        sch.reorder(*outer, *r, inner_i)
    else:
        outer, inner_i = s, None
    par = sch.fuse(*outer) if len(outer) > 1 else outer[0]
    maybe_parallel(sch, par, amount)
    if inner_i is not None:
        sch.vectorize(inner_i)  # before decompose: TVM refuses to vectorize over an init-less update
    init = sch.decompose_reduction(block, r[0])
    if inner_i is not None:
        sch.vectorize(sch.get_loops(init)[-1])
    return par, r[0]


class CPUGeneric(CountingRule):
    """Full schedule; if a primitive refuses (odd block structure), retry with a lighter one, and
    leave the kernel to stock lowering only if that fails too: a slow kernel beats no model.
    ``stats`` counts kernels per strategy (full/simple/light/stock) and keeps the first errors,
    so a build can report how much of the model got the fast path."""

    def __init__(self, stats: dict | None = None, knobs_for=None) -> None:
        """``knobs_for(func) -> TileKnobs | None`` supplies tuned knobs (a tuning database)."""
        super().__init__(stats)
        self.knobs_for = knobs_for

    def apply(self, func: tirx.PrimFunc, target: Target, _: bool):
        if not isinstance(func, tirx.PrimFunc):
            return None
        for attempt in (self._full, self._simple, self._light):
            try:
                sch = attempt(func, target)
            except Exception as e:  # noqa: BLE001 - ScheduleError and friends
                self.note_error(attempt.__name__.strip("_"), e)
                continue
            self.count(attempt.__name__.strip("_") if sch is not None else "stock")
            return sch
        self.count("stock")
        return None

    def _light(self, func: tirx.PrimFunc, target: Target):
        sch = s_tir.Schedule(func)
        infos = normalize_prim_func(sch)
        if infos is None:
            return None
        for info in infos:
            kinds = info.dom_kind()
            loops = sch.get_loops(info.block_rv)
            n = 0
            for k in kinds:
                if k != "S":
                    break
                n += 1
            if n:
                sch.parallel(sch.fuse(*loops[:n]) if n > 1 else loops[0])
        return sch

    def _full(self, func: tirx.PrimFunc, target: Target):
        knobs = self.knobs_for(func) if self.knobs_for else None
        if knobs is not None:
            self.count("tuned")
        return self._schedule(func, target, tiled=True, knobs=knobs or TileKnobs())

    def _simple(self, func: tirx.PrimFunc, target: Target):
        return self._schedule(func, target, tiled=False)

    def _schedule(self, func: tirx.PrimFunc, target: Target, tiled: bool, knobs: TileKnobs = TileKnobs()):
        sch = s_tir.Schedule(func)
        infos = normalize_prim_func(sch)
        if infos is None:
            return None
        lanes = vector_lanes(target)
        infos = inline_elementwise(sch, infos)
        reductions = [i for i in infos if "R" in i.dom_kind() and "O" not in i.dom_kind()]
        anchor, done, chain = None, set(), set()
        if tiled and len(reductions) == 1 and _try_pad(sch, reductions[0].block_rv, lanes):
            infos = inline_elementwise(sch, normalize_prim_func(sch))
            reductions = [i for i in infos if "R" in i.dom_kind() and "O" not in i.dom_kind()]
        if tiled and len(reductions) == 1:
            red = reductions[0]
            after = epilogue_chain(sch, red, infos)
            deinterleave_strided_reads(sch, red.block_rv, lanes)
            if schedule_tiled_reduction(sch, red.block_rv, lanes, [i.block_rv for i in after], knobs):
                done = {id(red)} | {id(i) for i in after}
        for info in infos:
            kinds = info.dom_kind()
            if "O" in kinds or id(info) in done:
                continue
            if info.is_reduction() or "R" in kinds:
                anchor = schedule_reduction(sch, info.block_rv, kinds, lanes) or anchor
                chain = {id(i) for i in epilogue_chain(sch, info, infos)}
            elif anchor is not None and id(info) in chain:
                try:
                    sch.reverse_compute_at(info.block_rv, anchor[0])
                    schedule_inner_vector(sch, info.block_rv, lanes)
                    continue
                except Exception:  # noqa: BLE001
                    schedule_spatial(sch, info.block_rv, lanes)
            else:
                schedule_spatial(sch, info.block_rv, lanes)
        return sch


def _write_shape(sch: s_tir.Schedule, block) -> tuple:
    return tuple(int(d) for d in sch.get(block).writes[0].source.shape)


def _try_pad(sch: s_tir.Schedule, block, lanes: int) -> bool:
    try:
        return pad_innermost_spatial(sch, block, lanes)
    except Exception:  # noqa: BLE001 - pad_einsum accepts plain einsums only; not padding is fine
        return False


def _same_expr(a, b) -> bool:
    """Structural equality of two index expressions (this wheel exposes only the asserting
    form to Python)."""
    try:
        tvm.ir.assert_structural_equal(a, b)
        return True
    except (ValueError, AssertionError, tvm.error.TVMError):
        return False
    except Exception:  # noqa: BLE001 - whatever else the FFI raises means "not equal"
        return False


def tile_safe_consumer(sch: s_tir.Schedule, consumer, producer) -> bool:
    """Whether ``consumer`` may be computed inside ``producer``'s tile loop: it reads the producer
    at exactly the indices it writes, and keeps every axis the producer has more than one of. A
    consumer that keeps one row of several (a Slice of row 0 after a conv) loses that axis in
    normalization, so TVM put it in every tile, reading rows other tiles compute (a wrong answer,
    issue 16: difftest seed 31624, test_conv_then_slice_of_rows_nhwc)."""
    pb = sch.get(producer).writes[0].source
    c = sch.get(consumer)
    w = c.writes[0]
    pshape, cshape = list(pb.shape), list(w.source.shape)
    if len(pshape) != len(cshape):
        return False
    for a, b in zip(pshape, cshape):
        if isinstance(a, tirx.IntImm) and isinstance(b, tirx.IntImm) and int(b) == 1 and int(a) > 1:
            return False
    for r in c.reads:
        if r.source.same_as(pb):
            if len(r.region) != len(w.region):
                return False
            for x, y in zip(r.region, w.region):
                if not _same_expr(x.min, y.min):
                    return False
    return True


def epilogue_chain(sch: s_tir.Schedule, red, infos: list) -> list:
    """Blocks after reduction ``red`` that may be computed inside its tile: each must read only
    function inputs and blocks already in the chain, and must not be a padding block. (A padding
    consumer moved into the tile would leave its padded region unwritten: TVM computes only the
    part that depends on the tile.)"""
    allowed = {sch.get(red.block_rv).name_hint}
    red_shape = _write_shape(sch, red.block_rv)
    chain = []
    for info in infos[infos.index(red) + 1:]:
        producers = {sch.get(p).name_hint for p in sch.get_producers(info.block_rv)}
        # A bounds test is fine when the block covers exactly the reduction's output (an inlined
        # residual pad); a block that writes a larger, padded buffer is not.
        padding_grows = _is_padding(sch, info.block_rv) and _write_shape(sch, info.block_rv) != red_shape
        if padding_grows or not info.is_injective() or not producers <= allowed or not producers:
            break
        if sch.get(red.block_rv).name_hint in producers and not tile_safe_consumer(sch, info.block_rv, red.block_rv):
            break
        chain.append(info)
        allowed.add(sch.get(info.block_rv).name_hint)
    return chain


def own_innermost_loop(sch: s_tir.Schedule, block, tile_loop):
    """The innermost loop of ``block`` below ``tile_loop`` (where it was computed at), or None.

    An epilogue computed at a tile that holds one element of it (1 output channel, 1 pixel per
    tile) has no loop of its own: get_loops(block)[-1] is then the tile loop itself, and
    vectorizing it vectorizes the whole tile, reduction and all (TVM: "VectorizeLoop before
    LiftStorageAlloc"; issue 16, difftest seeds 1127, 1265)."""
    loops = sch.get_loops(block)
    tile = sch.get(tile_loop)
    below = next((i + 1 for i, lp in enumerate(loops) if sch.get(lp).same_as(tile)), 0)
    return loops[-1] if len(loops) > below else None


def schedule_inner_vector(sch: s_tir.Schedule, block, lanes: int) -> None:
    loops = sch.get_loops(block)
    inner = loops[-1]
    v = pick_vector(extent(sch, inner), lanes)
    if v == extent(sch, inner):
        sch.vectorize(inner)
    elif v:
        _, i = sch.split(inner, [None, v])
        sch.vectorize(i)
