"""Schedule for edgec's own conv kernels (compiler/kernels/conv2d.py): the register tile.

The compute block carries its tile (U pixels, V channels) in the ``edgec_tile`` annotation. Loop
order per thread chunk: output-channel tile outermost (its packed weight panel stays in cache
while the pixels stream past), then rows, then pixel tiles; inside, the taps and input channels,
then the U x V accumulators (U unrolled, V vectorized) kept in registers. The fused epilogue
(crop, bias, activation, residual add) is computed right after each tile from registers.
"""
from __future__ import annotations

from tvm import s_tir, tirx
from tvm.s_tir.dlight.analysis import get_sblock_info, normalize_prim_func
from tvm.target import Target

from edgec.compiler.kernels.conv2d import TILE_ATTR
from edgec.compiler.schedules.counting_rule import CountingRule
from edgec.compiler.schedules.cpu_generic import (extent, inline_elementwise, maybe_parallel, own_innermost_loop,
                                                  schedule_spatial, tile_safe_consumer, vector_lanes, work)

UNROLL_TAPS = 7  # fully unroll kh/kw loops up to this extent


def _tile_of(sch: s_tir.Schedule, block) -> tuple[int, int, int] | None:
    ann = sch.get(block).annotations.get(TILE_ATTR)
    return tuple(int(x) for x in ann) if ann is not None else None


def has_tile_block(func: tirx.PrimFunc) -> bool:
    """Whether ``func`` holds one of edgec's tiled kernels (scheduled here, not by the generic
    rule). Read from the printed function: this wheel exposes no TIR visitor to Python, and only
    tuning asks."""
    return f'"{TILE_ATTR}"' in func.script()


class ConvTileRule(CountingRule):
    """Applies to PrimFuncs holding exactly one annotated conv block; returns None otherwise so
    the generic rule takes the function. ``stats`` counts kernels scheduled here ("conv_tile")."""

    def apply(self, func: tirx.PrimFunc, target: Target, _: bool):
        if not isinstance(func, tirx.PrimFunc):
            return None
        sch = s_tir.Schedule(func)
        infos = normalize_prim_func(sch)
        if infos is None:
            return None
        convs = [i for i in infos if _tile_of(sch, i.block_rv) is not None]
        if len(convs) != 1:
            return None
        try:
            k_blocked = schedule_conv(sch, infos, convs[0], vector_lanes(target))
        except Exception as e:  # noqa: BLE001 - an unexpected fused shape: let the generic rule try
            self.note_error("conv_tile", e)
            return None
        self.count("conv_tile")
        if k_blocked:
            self.count("conv_k_blocked")
        return sch


def schedule_conv(sch: s_tir.Schedule, infos: list, conv, lanes: int) -> bool:
    """Schedules the tile; returns whether its reduction was blocked (_k_block)."""
    block = conv.block_rv
    U, V, depthwise = _tile_of(sch, block)
    infos = inline_elementwise(sch, infos)
    idx = next(i for i, info in enumerate(infos) if _tile_of(sch, info.block_rv) is not None)
    before, after = infos[:idx], infos[idx + 1:]
    amount = work(sch, block)
    # normalize_prim_func drops unit iterators (batch 1, 1x1 taps): find the loops by kind, the
    # last two spatial ones being output width and channels.
    iters = get_sblock_info(sch, block).iters
    spatial = [it.loop_rv for it in iters if it.kind == "S"]
    red = [it.loop_rv for it in iters if it.kind == "R"]
    *outer, o = spatial
    pixels = []  # the U pixels of the tile, absent when the output has a single one (matmul M=1)
    if outer:
        w = outer.pop()
        wo, wi = sch.split(w, [None, U])
        outer.append(wo)
        pixels.append(wi)
    # V = vb x lanes: vb whole vectors, unrolled (LLVM splits a <24 x float> badly)
    oo, ob, oi = sch.split(o, [None, V // lanes, lanes])
    # Dense: the channel tile outermost, its packed weights stay in cache while all pixels pass.
    # Depthwise: channels innermost, so each input pixel's channels are read from one cache line
    # run instead of once per channel tile (6x less memory traffic at 96 channels).
    kb = None if depthwise or not pixels or not sch.get(block).name_hint.startswith("edgec_conv") \
        else _k_block(sch, red, outer, U, V)
    if kb is not None:
        rko, rki = sch.split(red[-1], [None, kb])
        red = [*red[:-1], rki]
        sch.reorder(oo, rko, *outer, *red, *pixels, ob, oi)
        par = oo
    else:
        order = [*outer, oo] if depthwise else [oo, *outer]
        sch.reorder(*order, *red, *pixels, ob, oi)
        par = sch.fuse(*order) if len(order) > 1 else order[0]
    # The accumulator tile is a "global"-scope buffer allocated inside the parallel loop: TVM
    # puts constant-size global allocations under 1 KiB on the stack (then LLVM keeps them in
    # registers), while "local" ones become TVMBackendAllocWorkspace calls, one per tile
    # (measured: 3x slower depthwise convs).
    consumers = [info.block_rv for info in after]
    if any(sch.get(block).writes[0].source.same_as(sch.get(p).writes[0].source)
           and not tile_safe_consumer(sch, c, block) for c in consumers for p in sch.get_producers(c)):
        # a consumer that cannot live in the tile (a Slice of rows): the tile still accumulates
        # on the stack, writes the whole result back, and the consumers run after it
        for c in consumers:
            schedule_spatial(sch, c, lanes)
        consumers = [sch.cache_write(block, 0, "global")]
    elif _writes_param(sch, block):  # no epilogue: accumulate in a tile buffer, then write back
        consumers.insert(0, sch.cache_write(block, 0, "global"))
    for c in consumers:
        sch.reverse_compute_at(c, par)
        _vectorize_channels(sch, c, lanes, par)
    maybe_parallel(sch, par, amount)
    for lp in (*pixels, ob):
        sch.unroll(lp)
    sch.vectorize(oi)  # before decompose: TVM refuses to vectorize an init-less update
    if red:  # a 1x1 depthwise conv has no reduction loop left after normalization
        init = sch.decompose_reduction(block, rko if kb is not None else red[0])
        for lp in _loops_to_unroll(sch, red, depthwise):
            sch.unroll(lp)
        *init_unrolled, io = sch.get_loops(init)[-(2 + len(pixels)):]
        for lp in init_unrolled:
            sch.unroll(lp)
        sch.vectorize(io)
    for info in before:
        schedule_spatial(sch, info.block_rv, lanes) if not _is_pad(sch, info.block_rv) else _schedule_pad(
            sch, info.block_rv, lanes)
    return kb is not None


# A weight panel (V output channels x the whole reduction, fp32) above PANEL_L1 bytes is blocked
# along the input channels into blocks of at most PANEL_BLOCK bytes (L1 is 32 KiB on Zen 3 and
# most Arm cores; the panel shares it with the input pixels and the accumulators' write-back).
PANEL_L1 = 16 * 1024
PANEL_BLOCK = 8 * 1024
ACC_L1 = 24 * 1024
MIN_K_BLOCK = 32


def _k_block(sch: s_tir.Schedule, red: list, outer: list, U: int, V: int) -> int | None:
    """Input channels per block for a pointwise conv whose weight panel would not stay in L1, or
    None. Unblocked, a 1x1 192->1152 conv at 7x7 (a 24 x 192 panel, 18 KiB) streamed its panel
    from L2 for every 4-pixel tile and ran at 1.3-1.5x ORT; blocked, the panel's channel blocks
    are outermost inside the panel loop and the partial sums live in the output, which costs one
    load and store of the accumulators per block (MLAS blocks its packed B the same way)."""
    exts = [extent(sch, lp) for lp in red]
    if len(exts) != 1 or exts[0] is None:  # taps: blocked 3x3 convs measured slower (input re-read)
        return None
    ci = exts[0]
    per_channel = V * 4
    pixels = U
    for lp in outer:
        pixels *= extent(sch, lp) or 1 << 20
    # the partial sums of the whole panel are re-read per block: only where they stay in L1
    # (measured: 7x7-13x13 outputs 1.3-1.7x -> 1.0-1.2x ORT; 16x16 and 128-row matmuls slower)
    if per_channel * ci <= PANEL_L1 or pixels * per_channel > ACC_L1:
        return None
    kb = PANEL_BLOCK // per_channel
    while kb >= MIN_K_BLOCK and ci % kb:
        kb -= 1
    return kb if kb >= MIN_K_BLOCK else None


def _loops_to_unroll(sch: s_tir.Schedule, red: list, depthwise: bool) -> list:
    """Taps (kh, kw) up to UNROLL_TAPS are unrolled; the input-channel loop stays a loop, except
    when it is too short to pay for its own overhead (a stem conv over 3 RGB channels ran its
    whole 7x7 tile loop three iterations at a time: 10 GFLOP/s): then it is unrolled and the
    row taps stay a loop, keeping the unrolled body near 3 x 7 steps."""
    exts = [extent(sch, lp) for lp in red]
    if depthwise:
        return [lp for lp, e in zip(red, exts) if e is not None and e <= UNROLL_TAPS]
    if len(red) >= 2 and exts[-1] is not None and exts[-1] <= 4:
        return [lp for lp, e in zip(red[1:], exts[1:]) if e is not None and e <= UNROLL_TAPS]
    return [lp for lp, e in zip(red[:-1], exts[:-1]) if e is not None and e <= UNROLL_TAPS]


def _writes_param(sch: s_tir.Schedule, block) -> bool:
    out = sch.get(block).writes[0].source
    return any(p.same_as(out) for p in sch.mod["main"].params)


def _is_pad(sch: s_tir.Schedule, block) -> bool:
    return sch.get(block).name_hint.startswith("edgec_pad")


def _schedule_pad(sch: s_tir.Schedule, block, lanes: int) -> None:
    """The zero-bordered input copy: rows in parallel, channels vectorized (the bounds test does
    not depend on the channel, so it stays out of the vector loop)."""
    loops = sch.get_loops(block)
    amount = work(sch, block)
    c = loops[-1]
    ce = extent(sch, c) or 0
    if ce % lanes == 0:
        _, ci = sch.split(c, [None, lanes])
        sch.vectorize(ci)
    maybe_parallel(sch, sch.fuse(*loops[:2]), amount)


def _vectorize_channels(sch: s_tir.Schedule, block, lanes: int, par) -> None:
    """The epilogue's innermost loop runs over the tile's channels; vectorize whole vectors. Not
    when it has no loop of its own below the tile loop ``par`` (own_innermost_loop)."""
    loop = own_innermost_loop(sch, block, par)
    if loop is None:
        return
    ext = extent(sch, loop)
    if ext and ext % lanes == 0:
        _, vi = sch.split(loop, [None, lanes]) if ext > lanes else (None, loop)
        try:
            sch.vectorize(vi)
        except Exception:  # noqa: BLE001 - a predicated tail (padded channels) stays scalar
            pass
