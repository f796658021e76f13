"""Register-tile choice for channel-vectorized kernels: U output pixels x V output channels.

The tile is chosen from the shape with a small cost model instead of "largest divisor of the
width" (old TVM's rule, whose failure on odd widths is the cliff this replaces): pixels and
channels are padded up to whole tiles, and the model charges for the padding, so a width of 13
costs a little more than 12, never 5x more.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil


@dataclass(frozen=True)
class CPUVector:
    """What the tile choice needs to know about a CPU's vector unit."""

    lanes: int  # fp32 lanes per vector register: 4 NEON, 8 AVX2, 16 AVX-512
    max_accumulators: int  # vector registers left for the accumulator tile
    registers: int = 16  # vector registers in all
    fma_per_cycle: float = 2.0
    loads_per_cycle: float = 2.0


def cpu_vector(lanes: int) -> CPUVector:
    """AVX2 has 16 vector registers (12 accumulators, as MLAS's FMA3 kernels use); AVX-512 and
    NEON have 32 (24 accumulators)."""
    return CPUVector(lanes, 12, 16) if lanes == 8 else CPUVector(lanes, 24, 32)


@dataclass(frozen=True)
class Tile:
    U: int  # output pixels per tile (along one output row), unrolled
    V: int  # output channels per tile, a multiple of the lanes, vectorized

    def padded(self, width: int, channels: int) -> tuple[int, int]:
        return ceil(width / self.U) * self.U, ceil(channels / self.V) * self.V


def choose_tile(width: int, channels: int, reduction: int, vec: CPUVector, depthwise: bool = False,
                rows: int = 1, group: int | None = None) -> Tile | None:
    """The (U, V) with the lowest modelled cycles for ``rows`` x ``width`` output pixels and
    ``channels`` output channels, each accumulating ``reduction`` products.

    Per reduction step a dense tile does U*Vb FMAs and U broadcasts + Vb weight loads; a depthwise
    tile loads U*Vb input vectors and Vb weight vectors. The slower of FMA and load throughput
    sets the step's cycles; each tile also pays its init and write-back."""
    best, best_cost = None, float("inf")
    for vb in (1, 2, 3, 4):
        V = vb * vec.lanes
        if vb > 1 and V > ceil(channels / vec.lanes) * vec.lanes:
            continue  # more lanes than channels: pure padding
        if group is not None and group % V:
            continue
        for U in range(1, 13):
            # Depthwise: LLVM keeps the input window's vectors live across taps, so its
            # accumulators get half the registers (U=10 spilled and ran 1.4x slower than U=1).
            # Dense: U*vb accumulators + vb weight vectors + 1 broadcast must fit the register
            # file (3 x 32 lanes on AVX2 needed 17 of 16 and ran at half the speed of 2 x 32).
            if depthwise:
                # measured on 4 MobileNet-style shapes (A/B in one process): 2 pixels x 2 vectors
                # was best or within 5% everywhere; longer tiles spill the input window
                fits = U <= 2 and vb <= 2
            else:
                fits = U * vb <= vec.max_accumulators and U * vb + vb + 1 <= vec.registers
            if not fits or (U > width and U > 1):
                continue
            loads = U * vb + vb if depthwise else U + vb
            # + 1: loop and address overhead per step, which small tiles cannot hide (measured:
            # 3x3 256->256 at 13x13 ran 41 GFLOP/s with U=4 x 16 lanes, 25 with U=2 x 16)
            step = max(U * vb / vec.fma_per_cycle, loads / vec.loads_per_cycle) + (0 if depthwise else 1)
            tiles = rows * ceil(width / U) * ceil(channels / V)
            cost = tiles * (reduction * step + 2 * U * vb + 8)
            if cost < best_cost * 0.999:
                best, best_cost = Tile(U, V), cost
    return best
