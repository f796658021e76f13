"""NHWC conv2d with output channels in the vector lanes and weights packed at compile time.

The layout follows XNNPACK's igemm and MLAS's NCHWc kernels (shared/kernel-notes.md): for each
tap (kh, kw) and input channel i, a tile of U output pixels x V output channels does U
broadcasts, V/lanes vector loads of packed weights [O/V][KH][KW][I][V] and U*V/lanes FMAs.
Output width and channels are padded up to whole tiles: the padded pixels re-read the last real
pixel (reads stay in bounds, the work is thrown away by the crop), the padded channels have zero
weights. The compute blocks carry their tile in the ``edgec_tile`` annotation, which the
schedule (compiler/schedules/cpu_conv.py) applies.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tvm import te, tirx

from edgec.compiler.kernels.tiles import Tile

TILE_ATTR = "edgec_tile"


@dataclass(frozen=True)
class ConvGeometry:
    """A conv2d's shape in NHWC terms (padding as top, left, bottom, right)."""

    n: int
    h: int
    w: int
    c: int
    o: int
    kh: int
    kw: int
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pad: tuple[int, int, int, int]
    depthwise: bool
    # Grouped (not depthwise) convs: each output channel reads the c/groups input channels of
    # its group. edgec's kernel takes them when a group's output channels fill whole vector
    # tiles, so every lane of a tile reads the same (broadcast) input channel.
    groups: int = 1

    @property
    def out_h(self) -> int:
        return (self.h + self.pad[0] + self.pad[2] - (self.kh - 1) * self.dilation[0] - 1) // self.stride[0] + 1

    @property
    def out_w(self) -> int:
        return (self.w + self.pad[1] + self.pad[3] - (self.kw - 1) * self.dilation[1] - 1) // self.stride[1] + 1

    @property
    def group_in(self) -> int:
        """Input channels per output channel's reduction."""
        return 1 if self.depthwise else self.c // self.groups

    @property
    def reduction(self) -> int:
        return self.kh * self.kw * self.group_in


def pack_weights(w_ohwi: np.ndarray, geo: ConvGeometry, tile: Tile) -> np.ndarray:
    """OHWI weights -> [O'/V][KH][KW][I][V] (depthwise: [C'/V][KH][KW][V]), zero-padded channels."""
    _, op = tile.padded(1, geo.o)
    w = np.zeros((op,) + w_ohwi.shape[1:], dtype=w_ohwi.dtype)
    w[: geo.o] = w_ohwi
    if geo.depthwise:  # [C', KH, KW, 1]
        return np.ascontiguousarray(w[..., 0].reshape(op // tile.V, tile.V, geo.kh, geo.kw).transpose(0, 2, 3, 1))
    return np.ascontiguousarray(w.reshape(op // tile.V, tile.V, geo.kh, geo.kw, geo.group_in).transpose(0, 2, 3, 4, 1))


def _nhwc_reader(data: te.Tensor, nchw: bool):
    """data[n, h, w, c] for an NHWC tensor, or read from an NCHW one (the model's input: its
    transpose is folded into the conv's first read instead of a separate pass over memory)."""
    return (lambda n, h, w, c: data[n, c, h, w]) if nchw else (lambda n, h, w, c: data[n, h, w, c])


def _padded_input(data: te.Tensor, geo: ConvGeometry, channels: int, nchw: bool = False) -> te.Tensor:
    """Zero border (and, for depthwise, zero channels up to the tile) as one copy, NHWC; the input
    is returned as is when nothing needs padding or transposing."""
    top, left, bottom, right = geo.pad
    if not any(geo.pad) and channels == geo.c and not nchw:
        return data
    read = _nhwc_reader(data, nchw)
    shape = (geo.n, geo.h + top + bottom, geo.w + left + right, channels)

    def fn(n, h, w, c):
        # Only padded channels test c: a test on h, w alone is hoisted out of the channel loop.
        conds = [h >= top, h < top + geo.h, w >= left, w < left + geo.w] + ([c < geo.c] if channels > geo.c else [])
        cc = tirx.min(c, geo.c - 1) if channels > geo.c else c
        return tirx.if_then_else(tirx.all(*conds), read(n, h - top, w - left, cc), tirx.const(0, data.dtype))

    return te.compute(shape, fn, name="edgec_pad")


# Above this share of (output pixel, tap) pairs falling on the zero border, a depthwise conv
# reads a zero-bordered copy of its input instead of selecting per tap (below).
BORDER_TAPS_FOR_COPY = 0.25


def _border_in_place(geo: ConvGeometry) -> bool:
    """Whether a depthwise conv zeroes its border taps in place rather than from a padded copy.
    The in-place select saves a pass over memory but costs a clamp, a test and a blend per tap:
    on a 7x7 map with 5x5 taps (31% of taps on the border) it ran 2.0x ORT against 1.36x with the
    copy; at 14x14 (16%) and for 3x3 taps (<= 18% from 7x7 up) in place was 5-45% faster (A/B,
    tools/shape_grid.py depthwise rows, 2026-12-01)."""
    def inside(n_out: int, k: int, s: int, d: int, before: int, size: int) -> int:
        return sum(0 <= o * s + t * d - before < size for o in range(n_out) for t in range(k))

    valid = inside(geo.out_h, geo.kh, geo.stride[0], geo.dilation[0], geo.pad[0], geo.h) \
        * inside(geo.out_w, geo.kw, geo.stride[1], geo.dilation[1], geo.pad[1], geo.w)
    return 1 - valid / (geo.out_h * geo.kh * geo.out_w * geo.kw) <= BORDER_TAPS_FOR_COPY


def conv2d_nhwc(data: te.Tensor, packed: te.Tensor, geo: ConvGeometry, tile: Tile, nchw_input: bool = False
                ) -> te.Tensor:
    """The conv as a padded-tile reduction, then a crop to the real output when padding was added.
    ``nchw_input``: ``data`` is NCHW; the output is NHWC all the same."""
    oh, ow = geo.out_h, geo.out_w
    owp, op = tile.padded(ow, geo.o)
    sh, sw = geo.stride
    dh, dw = geo.dilation
    # (a dense 1x1 conv reads NCHW directly: its broadcast loads do not care about the layout)
    direct_nchw = nchw_input and not geo.depthwise and not any(geo.pad)
    in_place_border = geo.depthwise and geo.c % tile.V == 0 and not nchw_input and _border_in_place(geo)
    xp = data if in_place_border or direct_nchw else \
        _padded_input(data, geo, op if geo.depthwise else geo.c, nchw_input)
    read = _nhwc_reader(xp, direct_nchw)
    rh = te.reduce_axis((0, geo.kh), name="rh")
    rw = te.reduce_axis((0, geo.kw), name="rw")
    V = tile.V
    attrs = {TILE_ATTR: [tile.U, tile.V, int(geo.depthwise)]}

    def col(w):  # padded pixels repeat the last real one: in bounds, discarded by the crop
        return (tirx.min(w, ow - 1) if owp != ow else w) * sw

    if in_place_border and any(geo.pad):
        # Depthwise is memory-bound: a zero-bordered copy of its input doubled the traffic. The
        # border taps read a clamped (in-bounds) pixel and are zeroed by a select instead; the
        # test is per pixel and tap, shared by the whole channel vector.
        top, left = geo.pad[0], geo.pad[1]

        def fn(n, h, w, o):
            y, x = h * sh + rh * dh - top, col(w) + rw * dw - left
            yc, xc = tirx.max(tirx.min(y, geo.h - 1), 0), tirx.max(tirx.min(x, geo.w - 1), 0)
            # The test compares with the clamped index rather than stating the range: with a range
            # condition TVM's simplifier drops the clamp inside the Select's true branch, but a
            # Select evaluates both branches, so the load read outside the tensor (a segfault on
            # aarch64 in PP-OCR det).
            inside = tirx.all(yc == y, xc == x)
            v = read(n, yc, xc, o)
            return te.sum(tirx.Select(inside, v, tirx.const(0, data.dtype)) * packed[o // V, rh, rw, o % V],
                          axis=[rh, rw])
    elif geo.depthwise:
        def fn(n, h, w, o):
            return te.sum(read(n, h * sh + rh * dh, col(w) + rw * dw, o) * packed[o // V, rh, rw, o % V],
                          axis=[rh, rw])
    else:
        ri = te.reduce_axis((0, geo.group_in), name="ri")
        og = geo.o // geo.groups

        def channel(o):  # the input channel ri of o's group (V divides og: one group per tile)
            return ri if geo.groups == 1 else o // og * geo.group_in + ri

        def fn(n, h, w, o):
            return te.sum(read(n, h * sh + rh * dh, col(w) + rw * dw, channel(o)) * packed[o // V, rh, rw, ri, o % V],
                          axis=[rh, rw, ri])
    acc = te.compute((geo.n, oh, owp, op), fn, name="edgec_conv", attrs=attrs)
    if (owp, op) == (ow, geo.o):
        return acc
    return te.compute((geo.n, oh, ow, geo.o), lambda n, h, w, o: acc[n, h, w, o], name="edgec_crop")
