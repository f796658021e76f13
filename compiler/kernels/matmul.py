"""Matmul with a constant right-hand side packed at compile time into V-wide column panels.

A [..., M, K] x B [K, N]: the same register tile as the conv kernels (U rows x V columns, V in
the vector lanes), with B packed [N'/V][K][V] as MLAS/XNNPACK pack GEMM weights so each reduction
step reads one contiguous V-vector. Rows past M re-read the last row and columns past N have zero
weights; a crop drops both. Scheduled by compiler/schedules/cpu_conv.py like the convs.
"""
from __future__ import annotations

import numpy as np
from tvm import te, tirx

from edgec.compiler.kernels.conv2d import TILE_ATTR
from edgec.compiler.kernels.tiles import Tile


def pack_columns(b: np.ndarray, tile: Tile) -> np.ndarray:
    """[K, N] -> [N'/V][K][V], zero columns up to a whole panel."""
    k, n = b.shape
    _, np_ = tile.padded(1, n)
    padded = np.zeros((k, np_), dtype=b.dtype)
    padded[:, :n] = b
    return np.ascontiguousarray(padded.reshape(k, np_ // tile.V, tile.V).transpose(1, 0, 2))


def matmul_packed(a: te.Tensor, packed: te.Tensor, n: int, tile: Tile) -> te.Tensor:
    *batch, m, k = (int(d) for d in a.shape)
    mp, np_ = tile.padded(m, n)
    V = tile.V
    rk = te.reduce_axis((0, k), name="rk")

    def fn(*idx):
        *b, i, j = idx
        row = tirx.min(i, m - 1) if mp != m else i
        return te.sum(a[(*b, row, rk)] * packed[j // V, rk, j % V], axis=[rk])

    acc = te.compute((*batch, mp, np_), fn, name="edgec_matmul", attrs={TILE_ATTR: [tile.U, tile.V, 0]})
    if (mp, np_) == (m, n):
        return acc
    return te.compute((*batch, m, n), lambda *idx: acc[idx], name="edgec_crop")
