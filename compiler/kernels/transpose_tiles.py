"""A batched 2-D transpose written as 8 x 8 register tiles: eight row loads, 24 shuffles, eight
row stores.

The NCHW <-> NHWC permutes at a model's edges are ``[B, I, J] -> [B, J, I]`` once adjacent axes
are merged (NCHW -> NHWC: I = C, J = H*W). A TIR schedule of the permute can only gather: every
output vector loads eight elements a row apart, one scalar load and insert each, and where W is
not a multiple of the tile TVM's guard made LLVM emit scalar code throughout (3-4x a memcpy of
the same bytes; 26-75% of a single depthwise or pointwise conv's time in tools/shape_grid.py).
TIR cannot say "transpose these eight vectors", but it has Shuffle: the three-stage unpack /
shuffle / lane-permute network of an 8 x 8 transpose (the one MLAS and XNNPACK write in
intrinsics) is spelled here as two-input shuffles whose masks LLVM lowers to one instruction each
on AVX (and to zip/uzp pairs on NEON). Rows and columns past the last whole tile are copied one
element at a time: their cost is proportional to the remainder.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

from tvm import tirx
from tvm.script.ir_builder import IRBuilder
from tvm.tirx.script.builder import ir as T

LANES = 8
# Two-input shuffle masks (indices into the 16 lanes of both operands), stage by stage.
_UNPACK_LO, _UNPACK_HI = [0, 8, 1, 9, 4, 12, 5, 13], [2, 10, 3, 11, 6, 14, 7, 15]
_PAIRS_LO, _PAIRS_HI = [0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15]
_HALVES_LO, _HALVES_HI = [0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]
DTYPES = ("float32", "float16", "int32", "uint32", "int16", "uint16", "int8", "uint8")


@dataclass(frozen=True)
class Transpose2D:
    """``out[b, j, i] = in[b, i, j]`` over the flattened buffers."""

    batch: int
    rows: int  # I: the input's rows, the output's row length
    cols: int  # J: the input's row length

    @staticmethod
    def of_permutation(shape: tuple[int, ...], perm: tuple[int, ...]) -> "Transpose2D | None":
        """The batched 2-D transpose ``perm`` is (leading axes kept, the rest rotated), or None.
        ``perm`` follows ONNX/numpy: output axis d is input axis perm[d]."""
        r = len(perm)
        k = 0
        while k < r and perm[k] == k:
            k += 1
        if k >= r - 1:
            return None
        m = perm[k]
        if list(perm[k:]) != list(range(m, r)) + list(range(k, m)):
            return None
        return Transpose2D(prod(shape[:k]), prod(shape[k:m]), prod(shape[m:]))


def _shuffle(a, b, mask: list[int]):
    return tirx.Shuffle([a, b], [tirx.IntImm("int32", i) for i in mask])


def _tile(src, dst, src_at, dst_at, rows: int, cols: int) -> None:
    """Transpose the 8 x 8 tile at flat offset ``src_at`` (row stride ``cols``) into ``dst_at``
    (row stride ``rows``)."""
    r = [T.Bind(src[tirx.Ramp(src_at + k * cols, 1, LANES)]) for k in range(LANES)]
    t = []
    for p in range(0, LANES, 2):
        t += [T.Bind(_shuffle(r[p], r[p + 1], _UNPACK_LO)), T.Bind(_shuffle(r[p], r[p + 1], _UNPACK_HI))]
    s = [T.Bind(_shuffle(t[a], t[b], mask)) for a, b in ((0, 2), (1, 3), (4, 6), (5, 7))
         for mask in (_PAIRS_LO, _PAIRS_HI)]
    for m in range(LANES):
        half = _HALVES_LO if m < 4 else _HALVES_HI
        T.buffer_store(dst, _shuffle(s[m % 4], s[m % 4 + 4], half), [tirx.Ramp(dst_at + m * rows, 1, LANES)])


def transpose_2d_func(in_shape: tuple[int, ...], out_shape: tuple[int, ...], dtype: str, t: Transpose2D,
                      parallel: bool) -> tirx.PrimFunc:
    """A PrimFunc(in, out) with ``in_shape``/``out_shape`` buffers computing the transpose ``t``.

    The tile loop nest walks the shorter dimension innermost, so the lines it writes (or reads)
    only partially, 32 of their 64 bytes, are min(I, J) lines: they stay in L1 until the next
    tile completes them; where I is a multiple of 16 and the shorter, two tile rows go together."""
    total = t.batch * t.rows * t.cols
    with IRBuilder() as ib:
        with T.prim_func():
            T.func_name("transpose")
            a = T.arg("a", T.handle())
            b = T.arg("b", T.handle())
            src_nd = T.match_buffer(a, in_shape, dtype)
            dst_nd = T.match_buffer(b, out_shape, dtype)
            # (a root block: Relax's analyses of call_tir callees, e.g. HasReshapePattern, expect one)
            with T.sblock("root"):
                src = T.decl_buffer((total,), dtype, data=src_nd.data)
                dst = T.decl_buffer((total,), dtype, data=dst_nd.data)
                _loops(src, dst, t, parallel)
    return ib.get()


def _loops(src, dst, t: Transpose2D, parallel: bool) -> None:
    """The batch loop, the whole tiles, then the remainder columns and rows element by element."""
    n_i, n_j = t.rows, t.cols
    i8, j8 = n_i // LANES * LANES, n_j // LANES * LANES
    with T.serial(0, t.batch) as bi:
        base = bi * n_i * n_j
        if i8 and j8:
            outer_loop = T.parallel if parallel else T.serial
            if n_i <= n_j and n_i % (2 * LANES) == 0:
                # two tiles of rows per step: 16 input streams (one line each per tile column)
                # instead of all I, and whole 64-byte output lines (NCHW -> NHWC of 96 x 112 x 112:
                # 569 -> 430 us, a memcpy 198; where I is not a multiple of 16, the leftover tile
                # row cost more than this saved)
                with outer_loop(0, n_i // (2 * LANES)) as ib, T.serial(0, j8 // LANES) as j0:
                    for half in range(2):
                        i0 = ib * 2 + half
                        _tile(src, dst, base + i0 * LANES * n_j + j0 * LANES, base + j0 * LANES * n_i + i0 * LANES,
                              n_i, n_j)
            elif n_i <= n_j:  # j tiles outer: I input lines are read 32 bytes at a time
                with outer_loop(0, j8 // LANES) as j0, T.serial(0, i8 // LANES) as i0:
                    _tile(src, dst, base + i0 * LANES * n_j + j0 * LANES, base + j0 * LANES * n_i + i0 * LANES,
                          n_i, n_j)
            else:  # i tiles outer: J output lines are written 32 bytes at a time
                with outer_loop(0, i8 // LANES) as i0, T.serial(0, j8 // LANES) as j0:
                    _tile(src, dst, base + i0 * LANES * n_j + j0 * LANES, base + j0 * LANES * n_i + i0 * LANES,
                          n_i, n_j)
        if i8 and n_j > j8:
            with T.serial(j8, n_j) as j, T.serial(0, i8) as i:
                T.buffer_store(dst, src[base + i * n_j + j], [base + j * n_i + i])
        if n_i > i8:
            with T.serial(0, n_j) as j, T.serial(i8, n_i) as i:
                T.buffer_store(dst, src[base + i * n_j + j], [base + j * n_i + i])
