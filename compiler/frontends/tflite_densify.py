"""Sparse TFLite constants -> dense numpy arrays (what TFLite's DENSIFY op computes at load time).

TFLite stores a sparse tensor as its non-zero values in traversal order plus one DimensionMetadata
per traversed dimension (schema.fbs, SparsityParameters): ``traversal_order`` lists the original
dimensions (0..n-1) in storage order, followed by the block dimensions (n..n+k-1) when the tensor
is block-sparse; ``block_map`` says which original dimension each block dimension subdivides. A
DENSE level has ``dense_size`` entries for every entry of the level above; a SPARSE_CSR level has,
for entry ``p`` of the level above, the entries ``array_segments[p] .. array_segments[p+1]`` of
``array_indices`` (the coordinates along that dimension). The values are the leaves of that tree,
depth first. This is tflite::internal::sparsity::FormatConverter, vectorised over whole levels
instead of recursing per element (a 1152x1x1x128 weight is one numpy pass per level).
"""
from __future__ import annotations

import numpy as np

from edgec.errors import ModelFormatError

_DENSE, _SPARSE_CSR = 0, 1


def _vector(table, kind: int) -> np.ndarray:
    """A SparseIndexVector union member (Int32Vector / Uint16Vector / Uint8Vector) as int64."""
    import tflite

    cls = {1: tflite.Int32Vector, 2: tflite.Uint16Vector, 3: tflite.Uint8Vector}.get(kind)
    if cls is None or table is None:
        raise ValueError(f"sparse index vector of type {kind} is missing or unknown")
    v = cls()
    v.Init(table.Bytes, table.Pos)
    return np.asarray(v.ValuesAsNumpy() if v.ValuesLength() else [], dtype=np.int64)


def sparsity_of(tensor) -> dict:
    """The tensor's SparsityParameters as plain Python/numpy values."""
    sp = tensor.Sparsity()
    levels = []
    for i in range(sp.DimMetadataLength()):
        dm = sp.DimMetadata(i)
        if dm.Format() == _DENSE:
            levels.append(("dense", int(dm.DenseSize())))
        elif dm.Format() == _SPARSE_CSR:
            levels.append(("csr", _vector(dm.ArraySegments(), dm.ArraySegmentsType()),
                           _vector(dm.ArrayIndices(), dm.ArrayIndicesType())))
        else:
            raise ValueError(f"dimension format {dm.Format()} is unknown")
    order = [int(x) for x in sp.TraversalOrderAsNumpy()] if sp.TraversalOrderLength() else list(range(len(levels)))
    block_map = [int(x) for x in sp.BlockMapAsNumpy()] if sp.BlockMapLength() else []
    return {"traversal_order": order, "block_map": block_map, "levels": levels}


def densify(shape, values: np.ndarray, traversal_order, block_map, levels) -> np.ndarray:
    """The dense array of ``shape`` whose non-zeros ``values`` are laid out as described above."""
    shape = [int(d) for d in shape]
    rank, nlev = len(shape), len(levels)
    if sorted(traversal_order) != list(range(nlev)) or nlev != rank + len(block_map):
        raise ValueError(f"traversal order {list(traversal_order)} does not fit a rank-{rank} tensor "
                         f"with {len(block_map)} block dimension(s)")
    # Block sizes, as the converter reads them: the dense size of level traversal_order[rank + b].
    block_size = []
    for b, d in enumerate(block_map):
        lev = levels[traversal_order[rank + b]]
        if lev[0] != "dense" or not 0 <= d < rank or lev[1] <= 0 or shape[d] % lev[1]:
            raise ValueError(f"block dimension {b} (of original dimension {d}) is not a dense divisor of it")
        block_size.append(lev[1])

    pos = np.zeros(1, dtype=np.int64)  # index of each partial path within its level's storage
    coords = []  # per level: the coordinate each path has along that level's dimension
    for lev in levels:
        if lev[0] == "dense":
            n = lev[1]
            coords = [np.repeat(c, n) for c in coords] + [np.tile(np.arange(n, dtype=np.int64), len(pos))]
            pos = (np.repeat(pos, n) * n + coords[-1]) if n else pos[:0]
        else:
            seg, idx = np.asarray(lev[1], dtype=np.int64), np.asarray(lev[2], dtype=np.int64)
            if len(pos) and (pos.max() + 1 >= len(seg)):
                raise ValueError("array_segments is shorter than the level above it")
            start, stop = seg[pos], seg[pos + 1]
            count = stop - start
            if (count < 0).any() or (len(stop) and stop.max() > len(idx)):
                raise ValueError("array_segments are not monotone or point past array_indices")
            # positions start[p] .. stop[p]-1 for every path p, in order
            new_pos = np.repeat(start - np.concatenate(([0], np.cumsum(count)[:-1])), count) + np.arange(count.sum())
            coords = [np.repeat(c, count) for c in coords] + [idx[new_pos]]
            pos = new_pos
    if len(pos) != values.size:
        raise ValueError(f"the sparsity metadata describes {len(pos)} values, the buffer holds {values.size}")

    orig = [None] * rank
    for lvl in range(rank):
        orig[traversal_order[lvl]] = coords[lvl]
    for lvl in range(rank, nlev):
        b = traversal_order[lvl] - rank
        d = block_map[b]
        orig[d] = orig[d] * block_size[b] + coords[lvl]
    dense = np.zeros(shape, dtype=values.dtype)
    if values.size:
        for d in range(rank):
            if orig[d].min() < 0 or orig[d].max() >= shape[d]:
                raise ValueError(f"a coordinate along dimension {d} lies outside the shape {shape}")
        dense[tuple(orig)] = values.reshape(-1)
    return dense


def densify_tensor(tensor, buffer, dtype) -> np.ndarray:
    """Dense value of a sparse TFLite constant tensor (``tensor.Sparsity()`` set)."""
    name = tensor.Name().decode(errors="replace")
    try:
        raw = buffer.DataAsNumpy() if buffer is not None and buffer.DataLength() else np.zeros(0, np.uint8)
        values = np.frombuffer(np.asarray(raw, dtype=np.uint8).tobytes(), dtype=dtype)
        return densify(tensor.ShapeAsNumpy(), values, **sparsity_of(tensor))
    except ValueError as e:
        raise ModelFormatError(f"sparse tensor '{name}' has invalid sparsity metadata: {e}") from None
