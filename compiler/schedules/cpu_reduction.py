"""Register-tiled schedule for reduction kernels (conv2d of every kind, matmul, dense).

For a block  out[S...] += f(in_a[...], in_b[...])  over reduction loops R:
  - V: the innermost spatial loop, split by a multiple of the vector width -> vectorized lanes;
  - U: a spatial loop that some input does not depend on (conv: output channels, which the data
    does not use; matmul: rows, which B does not use), split by a small factor -> unrolled, so each
    loaded vector of that input is reused U times from registers;
  - the U x V accumulator tile lives in a small "global" cache allocated per tile (on the stack, so LLVM keeps it in registers; "local" would call TVMBackendAllocWorkspace per tile), outer
    spatial loops are fused and parallelised, the reduction runs over the tile, and the
    write-back block takes the fused elementwise epilogue (bias, activation, residual add).
This is the classic direct-convolution / GEMM micro-kernel, found generically from the block's
access pattern so it serves NCHW conv, depthwise, grouped, 1x1 and matmul alike.
"""
from __future__ import annotations

from dataclasses import dataclass

from tvm import s_tir, tirx
from tvm.s_tir.dlight.analysis import get_sblock_info
from tvm.s_tir.dlight.analysis.common_analysis import collect_vars_used_in_prim_expr

REGISTERS = {4: 24, 8: 12, 16: 24}  # usable accumulator registers by fp32 lanes (NEON/AVX2/AVX-512)


@dataclass(frozen=True)
class TileKnobs:
    """What a tuner may change; None means 'derive from the target and shape'."""

    V: int | None = None  # vector tile width (multiple of lanes)
    U: int | None = None  # unrolled reuse factor
    unroll_reduction: int = 9  # fully unroll reduction loops up to this extent (kh, kw)
    reduction_outer_first: bool = True  # ci outermost (False: kh, kw outside ci)


def _region_vars(region) -> set:
    used = set()
    for rng in region.region:
        used |= collect_vars_used_in_prim_expr(rng.min)
    return used


def _region_size(region) -> int:
    """Elements of the buffer a read region belongs to (to find the block's largest input)."""
    n = 1
    for d in region.source.shape:
        n *= int(d) if isinstance(d, tirx.IntImm) else 1
    return n


def _divisor(ext: int, choices: tuple[int, ...]) -> int:
    return next((c for c in choices if ext % c == 0 and ext >= c), 1)


def plan_tile(sch: s_tir.Schedule, block, lanes: int, knobs: TileKnobs = TileKnobs()):
    """Pick (vec iter index, V, reuse iter index, U) or None when the block does not fit."""
    info = get_sblock_info(sch, block)
    kinds = info.dom_kind()
    if "O" in kinds or "R" not in kinds:
        return None
    iters = info.iters
    doms = [it.dom if isinstance(it.dom, int) else None for it in iters]
    if any(d is None for d in doms):
        return None
    spatial = [i for i, k in enumerate(kinds) if k == "S"]
    vec = next((i for i in reversed(spatial) if doms[i] > 1), None)
    if vec is None:
        return None
    V = _divisor(doms[vec], (2 * lanes, lanes, lanes // 2, 4))
    if knobs.V and doms[vec] % knobs.V == 0:
        V = knobs.V
    if V < 4:
        return None
    reads = sch.get(block).reads
    uses = [{v for v in _region_vars(r)} for r in reads]
    candidates = []
    for i in spatial:
        if i == vec or doms[i] < 2:
            continue
        var = iters[i].var
        free_of = sum(1 for u in uses if not any(var.same_as(x) for x in u))
        if free_of:
            candidates.append((free_of, doms[i], i))
    regs = REGISTERS.get(lanes, 12)
    max_u = max(1, regs // max(1, V // lanes))
    if candidates:
        _, _, ui = max(candidates)
        # Channel-vectorized layouts (NHWC: the data input does not depend on the vector axis)
        # with narrow vectors take a longer reuse tile over positions: 16 doubled BlazeFace's
        # 1x1 convs at 2 threads. Width-vectorized NCHW convs keep <= 8 (16 slowed det by 25%).
        data_uses = max(zip((_region_size(r) for r in reads), uses), key=lambda t: t[0])[1]
        vec_in_data = any(iters[vec].var.same_as(x) for x in data_uses)
        choices = (16, 12, 8, 6, 4, 3, 2) if (V < lanes and not vec_in_data) else (8, 6, 4, 3, 2)
        U = _divisor(doms[ui], tuple(u for u in choices if u <= max_u))
        if knobs.U and doms[ui] % knobs.U == 0:
            U = knobs.U
    else:
        ui, U = None, 1
    return kinds, vec, V, ui, U


def pad_innermost_spatial(sch: s_tir.Schedule, block, lanes: int) -> bool:
    """Pad the innermost spatial loop of ``block`` up to a multiple of the vector width when it
    has no usable divisor (PP-OCR rec's classifier: 6625 = 5^3 * 53 classes), so the tile can
    vectorize; TVM's pad_einsum adds the padded producer/consumer copies. Returns True if padded."""
    info = get_sblock_info(sch, block)
    kinds = info.dom_kind()
    doms = [it.dom if isinstance(it.dom, int) else None for it in info.iters]
    spatial = [i for i, k in enumerate(kinds) if k == "S" and doms[i]]
    vec = next((i for i in reversed(spatial) if doms[i] > 1), None)
    if vec is None or "R" not in kinds or doms[vec] < 2 * lanes or doms[vec] % lanes == 0:
        return False
    padded = -(-doms[vec] // lanes) * lanes
    # Pad when nothing divides (6625 classes), or when a full vector costs at most 20% extra
    # work instead of a half-width one (28 channels -> 32 in BlazeFace's NHWC convs).
    if _divisor(doms[vec], (lanes // 2, 4)) >= 4 and (padded - doms[vec]) > 0.2 * doms[vec]:
        return False
    padding = [1] * len(kinds)
    padding[vec] = lanes
    sch.pad_einsum(block, padding)
    return True


def _phase_split(ndim: int, stride: int):
    """IndexMap w -> (w % s, w // s). It is a bijection when s divides w (checked by the caller);
    TVM's inverter cannot prove that, hence assume_injective_transform at the call."""
    from tvm.tirx import IndexMap

    def fn(*axes):
        return (*axes[:-1], axes[-1] % stride, axes[-1] // stride)

    return IndexMap.from_func(fn, ndim=ndim)


def deinterleave_strided_reads(sch: s_tir.Schedule, block, lanes: int) -> int:
    """Make strided (stride-2 conv) vector loads contiguous by storing the input phase-split.

    A stride-s conv reads data[..., s*ow + kw]: vectorized over ow that is a gather (PP-OCR det's
    stride-2 depthwise conv ran at 1 GFLOP/s). Rewriting the padded input's layout as
    [..., w % s, w // s] turns the read into data[..., kw % s, ow + kw // s], contiguous in ow.
    The padding block (or a cache_read of the input) writes the new layout. Returns reads changed."""
    from tvm.sym.pattern import detect_linear_equation

    info = get_sblock_info(sch, block)
    kinds = info.dom_kind()
    spatial = [it for it, k in zip(info.iters, kinds) if k == "S" and isinstance(it.dom, int) and it.dom > 1]
    if not spatial:
        return 0
    vvar = spatial[-1].var
    changed = 0
    for idx, region in enumerate(list(sch.get(block).reads)):
        last = region.region[-1].min
        coef = detect_linear_equation(last, [vvar])
        if len(coef) != 2 or not isinstance(coef[0], tirx.IntImm) or int(coef[0]) < 2:
            continue
        stride = int(coef[0])
        buf = region.source
        width = buf.shape[-1]
        if not isinstance(width, tirx.IntImm) or int(width) % stride:
            continue
        producers = [p for p in sch.get_producers(block) if any(w.source.same_as(buf) for w in sch.get(p).writes)]
        target_block = producers[0] if producers else sch.cache_read(block, idx, "global")
        ndim = len(buf.shape)

        sch.transform_layout(target_block, ("write", 0), _phase_split(ndim, stride), assume_injective_transform=True)
        if not producers:
            from edgec.compiler.schedules.cpu_generic import schedule_spatial

            schedule_spatial(sch, target_block, lanes)
        changed += 1
    return changed


def schedule_tiled_reduction(sch: s_tir.Schedule, block, lanes: int, epilogues: list,
                             knobs: TileKnobs = TileKnobs()) -> bool:
    """Apply the register tile to ``block``; returns False (schedule untouched) if it does not fit."""
    plan = plan_tile(sch, block, lanes, knobs)
    if plan is None:
        return False
    kinds, vec, V, ui, U = plan
    loops = sch.get_loops(block)
    from edgec.compiler.schedules.cpu_generic import maybe_parallel, work

    amount = work(sch, block)
    s_idx = [i for i, k in enumerate(kinds) if k == "S"]
    r_loops = [loops[i] for i, k in enumerate(kinds) if k == "R"]
    wb = sch.cache_write(block, 0, "global")
    v_o, v_i = sch.split(loops[vec], [None, V])
    outer, inner = [], []
    for i in s_idx:
        if i == vec:
            outer.append(v_o)
        elif i == ui and U > 1:
            u_o, u_i = sch.split(loops[i], [None, U])
            outer.append(u_o)
            inner.append(u_i)
        else:
            outer.append(loops[i])
    inner.append(v_i)
    if not knobs.reduction_outer_first and len(r_loops) > 1:
        r_loops = r_loops[1:] + r_loops[:1]
    sch.reorder(*outer, *r_loops, *inner)
    par = sch.fuse(*outer) if len(outer) > 1 else outer[0]
    maybe_parallel(sch, par, amount)
    sch.reverse_compute_at(wb, par)
    for ep in epilogues:
        try:
            if _crops(sch, ep, wb):
                raise ValueError("a crop is computed at the tile, never inlined")
            sch.reverse_compute_inline(ep)
        except Exception:  # noqa: BLE001 - not an elementwise consumer of the write-back
            sch.reverse_compute_at(ep, par)
            _vectorize_last(sch, ep, lanes, par)
    _vectorize_last(sch, wb, lanes, par)
    sch.vectorize(inner[-1])
    if len(inner) > 1:
        sch.unroll(inner[0])
    init = sch.decompose_reduction(block, r_loops[0])
    for lp in r_loops[1:]:
        ext = sch.get(lp).extent
        if isinstance(ext, tirx.IntImm) and int(ext) <= knobs.unroll_reduction:
            sch.unroll(lp)
    init_loops = sch.get_loops(init)
    sch.vectorize(init_loops[-1])
    return True


def _crops(sch: s_tir.Schedule, block, wb) -> bool:
    """Whether ``block`` writes fewer elements than the write-back ``wb`` (a crop: edgec's NHWC conv
    pads output channels up to whole vectors, compiler/kernels/conv2d.py). TVM's
    reverse_compute_inline of a crop is wrong when the kept axis has extent 1: its read
    acc[n, h, w, 0] lost the channel iterator, and the inlined store runs once per lane of the
    write-back, each into that one element, the last (a zero-weight padded channel) winning:
    output 0 / bias only (issue 16, difftest seeds 103, 112, 145). reverse_compute_at computes
    exactly the region the crop needs."""
    def elems(b) -> int:
        n = 1
        for d in sch.get(b).writes[0].source.shape:
            n *= int(d)
        return n

    return elems(block) < elems(wb)


def _vectorize_last(sch: s_tir.Schedule, block, lanes: int, par) -> None:
    from edgec.compiler.schedules.cpu_generic import own_innermost_loop

    loop = own_innermost_loop(sch, block, par)  # None: no loop of its own below the tile loop
    if loop is None:
        return
    ext = sch.get(loop).extent
    if isinstance(ext, tirx.IntImm) and int(ext) % 4 == 0 and int(ext) <= 4 * lanes:
        sch.vectorize(loop)
