"""Integer conv2d / matmul kernels: int8 x int8 -> int32 on the target's multiply-accumulate ISA.

One kernel covers conv2d (any kernel size, stride, padding, dilation; groups=1) and matmul (a 1x1
"conv" over rows, channels last). Two stages in one PrimFunc:
  pack  quantized activations -> [N, C/G, Hp, Wp, G] (NCHW input) or [N, Hp, Wp, CG*G] (NHWC)
        in the instruction's operand dtype (int16 for vpmaddwd), spatially padded with the zero
        point, channels padded to the ISA's group G (G consecutive channels of a pixel = 1
        broadcast; isa.py)
  tile  per (row, U output pixels, V x L output channels): U*V int32 vector accumulators in
        registers; each step broadcasts G activations and multiplies them with G packed weights
        per lane (vpdpbusd / sdot / vpmaddwd / smull+smlal+sadalp); then the epilogue writes
        epilogue((acc - corr[o]) * scale[o]): zero-point correction in int32, dequantize, then the
        fused elementwise ops (bias, activation, the next layer's quantize; epilogue.py), NCHW or
        channels-last.
Weights are packed at compile time to [O/L, KH, KW, C/G, L*G] int8, so each step's weight operand
is one contiguous load (64 bytes VNNI, 16 sdot / vpmaddwd / smlal) and the library keeps 1 byte
per weight on every ISA (vpmaddwd widens them in the load).

Why our own kernel: TVM 0.27 imports QDQ models as float compute between quantize/dequantize (no
speed-up) and has no int8 CPU schedule for Relax; its tensorize segfaults in this wheel, so the
loop nest is written directly in TVMScript with the instruction as an LLVM intrinsic call.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tvm import tirx
from tvm.script import tirx as T

from edgec.compiler.int8.isa import DotISA


@dataclass(frozen=True)
class ConvSpec:
    n: int
    c: int
    h: int
    w: int
    o: int
    kh: int = 1
    kw: int = 1
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilation: tuple[int, int] = (1, 1)
    in_layout: str = "NCHW"   # or "NHWC" (matmul rows)
    out_layout: str = "NCHW"  # or "NHWC"
    x_dtype: str = "int8"
    x_zp: int = 0

    @property
    def out_hw(self) -> tuple[int, int]:
        (sh, sw), (dh, dw), (pt, pl, pb, pr) = self.stride, self.dilation, self.pad
        return ((self.h + pt + pb - dh * (self.kh - 1) - 1) // sh + 1,
                (self.w + pl + pr - dw * (self.kw - 1) - 1) // sw + 1)

    @property
    def in_shape(self) -> tuple[int, ...]:
        return (self.n, self.c, self.h, self.w) if self.in_layout == "NCHW" else (self.n, self.h, self.w, self.c)

    @property
    def out_shape(self) -> tuple[int, ...]:
        oh, ow = self.out_hw
        return (self.n, self.o, oh, ow) if self.out_layout == "NCHW" else (self.n, oh, ow, self.o)

    @property
    def macs(self) -> int:
        oh, ow = self.out_hw
        return self.n * oh * ow * self.o * self.c * self.kh * self.kw


PARALLEL_MACS = 1 << 21       # ~2M MACs: a few microseconds on one core
PARALLEL_PACK_BYTES = 1 << 16


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def act_zero_point(spec: ConvSpec, isa: DotISA) -> int:
    """The activations' zero point after conversion to the instruction's operand dtype."""
    return spec.x_zp + _act_shift(spec, isa)


def _act_shift(spec: ConvSpec, isa: DotISA) -> int:
    return {("uint8", "int8"): 128, ("int8", "uint8"): -128}.get((isa.act_dtype, spec.x_dtype), 0)


def pack_weights(w_q: np.ndarray, isa: DotISA) -> np.ndarray:
    """int8 OIHW weights -> [O/L, KH, KW, C/G, L*G], zero-padded. Inside a step's L*G bytes:
    lane-major, G channels each ([L][G]); smlal: two channel pairs one after the other
    ([2][L][2]), each an 8-byte smull operand."""
    o, c, kh, kw = w_q.shape
    L, G = isa.lanes, isa.group
    mo, cg = _ceil(o, L), _ceil(c, G)
    full = np.zeros((mo * L, cg * G, kh, kw), np.int8)
    full[:o, :c] = w_q
    if isa.name == "smlal":  # (mo, L, cg, pair, 2, kh, kw) -> (mo, kh, kw, cg, pair, L, 2)
        packed = full.reshape(mo, L, cg, 2, 2, kh, kw).transpose(0, 5, 6, 2, 3, 1, 4)
    else:  # (mo, L, cg, G, kh, kw) -> (mo, kh, kw, cg, L, G)
        packed = full.reshape(mo, L, cg, G, kh, kw).transpose(0, 4, 5, 2, 1, 3)
    return np.ascontiguousarray(packed).reshape(mo, kh, kw, cg, L * G)


def weights_fit(w_q: np.ndarray, isa: DotISA) -> bool:
    """Whether the ISA's partial sums are exact for these weights (smlal: no -128, isa.py)."""
    return isa.full_range_weights or not np.any(w_q == -128)


def epilogue_constants(w_q: np.ndarray, w_scale, x_scale: float, spec: ConvSpec,
                       isa: DotISA) -> tuple[np.ndarray, np.ndarray]:
    """value = (acc - corr) * scale. acc sums (x + zp) * w, so corr = zp * sum(w) is removed in
    int32 first: exact, where folding it into a float offset would cancel large terms."""
    o = w_q.shape[0]
    scale = np.broadcast_to(np.asarray(w_scale, np.float64).reshape(-1), (o,)) * float(x_scale)
    corr = act_zero_point(spec, isa) * w_q.reshape(o, -1).astype(np.int64).sum(1)
    return scale.astype(np.float32), corr.astype(np.int32)


_PARAM_ALIGN = 64  # each section of a kernel's parameter blob starts on a 64-byte boundary


def param_offsets(spec: ConvSpec, isa: DotISA, ep_rows: int) -> dict:
    """Byte offsets of the sections of a kernel's one constant argument (kernel_params): packed
    weights, per-channel scale, zero-point correction (absent when the zero point is 0: never
    read), epilogue rows; "size" the blob's length. One argument instead of five: each buffer
    argument costs ~0.9 KB of TVM's argument-checking wrapper in the library (x86), about what
    the kernel's own code weighs."""
    def up(n: int) -> int:
        return -(-n // _PARAM_ALIGN) * _PARAM_ALIGN

    w = _ceil(spec.o, isa.lanes) * spec.kh * spec.kw * _ceil(spec.c, isa.group) * isa.lanes * isa.group
    off = {"w": 0, "scale": up(w)}
    nxt = off["scale"] + up(4 * spec.o)
    off["corr"] = None if act_zero_point(spec, isa) == 0 else nxt
    nxt += 0 if off["corr"] is None else up(4 * spec.o)
    off["ep"] = None if ep_rows == 0 else nxt
    off["size"] = nxt + (0 if ep_rows == 0 else up(4 * ep_rows * spec.o))
    return off


def kernel_params(packed: np.ndarray, scale: np.ndarray, corr: np.ndarray, ep: np.ndarray | None,
                  spec: ConvSpec, isa: DotISA) -> np.ndarray:
    """The kernel's constant argument: its sections at param_offsets, as one int8 array."""
    rows = 0 if ep is None else len(ep)
    off = param_offsets(spec, isa, rows)
    blob = np.zeros(off["size"], np.int8)
    parts = [("w", packed.astype(np.int8)), ("scale", scale.astype(np.float32)), ("corr", corr.astype(np.int32)),
             ("ep", None if ep is None else np.asarray(ep, np.float32))]
    for name, a in parts:
        if off[name] is not None and a is not None:
            raw = np.ascontiguousarray(a).reshape(-1).view(np.int8)
            blob[off[name]:off[name] + raw.size] = raw
    return blob


@dataclass(frozen=True)
class Tile:
    u: int  # output pixels per tile
    v: int  # channel vectors (of isa.lanes) per tile


def choose_tile(spec: ConvSpec, isa: DotISA) -> Tile:
    """Most accumulators that fit the registers (U*V + V <= max_tile), U dividing the width if it
    can. With few registers (AVX2), 2 channel vectors: 1 weight load feeds U products, 1
    broadcast feeds V, and 4 vectors would leave U=2."""
    mo = _ceil(spec.o, isa.lanes)
    vmax = 2 if isa.max_tile < 20 else 4
    v = max(d for d in range(1, vmax + 1) if mo % d == 0)
    u_max = max(1, min(12, isa.max_tile // v - 1))
    ow = spec.out_hw[1]
    if 8 <= u_max <= 9 and ow % 8 == 0 and spec.out_layout == "NCHW":
        return Tile(8, v)  # the NCHW epilogue is vectorized over U pixels: 8 floats is one register
    exact = [u for u in range(u_max, 3, -1) if ow % u == 0]
    return Tile(exact[0] if exact else min(u_max, ow), v)


def _step(isa: DotISA):
    """step(acc, act(off, dtype), w, widx) -> acc + the products of one group of G channels.
    ``act(off, dtype)`` loads activations at channel offset ``off`` of the group."""
    L, G = isa.lanes, isa.group
    if isa.name == "pmaddwd":
        def step(acc, act, w, widx):
            a = T.reinterpret("int16x16", T.broadcast(T.reinterpret("int32", act(0, "int16x2")), L))
            wv = T.Cast("int16x16", w.vload(widx, "int8x16"))
            return acc + T.call_llvm_pure_intrin("int32x8", isa.llvm_intrin, a, wv)
        return step
    if isa.name == "smlal":
        def pair(act, off):
            return T.reinterpret("int8x8", T.broadcast(T.reinterpret("int16", act(off, "int8x2")), 4))

        def step(acc, act, w, widx):
            w23 = widx[:-1] + [widx[-1] + 8]
            prod = T.call_llvm_pure_intrin("int16x8", isa.llvm_intrin, pair(act, 0), w.vload(widx, "int8x8")) \
                + T.call_llvm_pure_intrin("int16x8", isa.llvm_intrin, pair(act, 2), w.vload(w23, "int8x8"))
            return acc + T.call_llvm_pure_intrin("int32x4", "llvm.aarch64.neon.saddlp.v4i32.v8i16", prod)
        return step
    nbytes = G * L

    def step(acc, act, w, widx):  # vpdpbusd / sdot: acc += 4-byte broadcast . 4 weight bytes per lane
        a = T.reinterpret("int8x%d" % nbytes, T.broadcast(T.reinterpret("int32", act(0, isa.act_dtype + "x4")), L))
        return T.call_llvm_pure_intrin("int32x%d" % L, isa.llvm_intrin, acc, a, w.vload(widx, "int8x%d" % nbytes))

    return step


def _identity(val, oc, ep):
    return val


def conv_int8_func(spec: ConvSpec, isa: DotISA, tile: Tile | None = None, epilogue=None, ep_rows: int = 0,
                   out_dtype: str = "float32", x_shape: tuple | None = None,
                   out_param_shape: tuple | None = None) -> tirx.PrimFunc:
    """PrimFunc(x, params, out), already scheduled; params = kernel_params(w_packed, scale, corr,
    ep) (one constant argument: param_offsets).

    ``epilogue(val, oc, ep)`` maps the dequantized value (float32, scalar or vector) of output
    channel ``oc`` to the stored value (see epilogue.py); ``ep`` holds its per-channel constants.
    ``x_shape`` / ``out_param_shape``: the tensors' shapes as the graph has them, when the kernel
    views them differently (1x1 conv: H*W as one row; matmul: rows x channels). The kernel then
    aliases the same memory instead of the graph reshaping (a VM call per reshape)."""
    epi = epilogue or _identity
    L, ad = isa.lanes, isa.act_dtype
    t = tile or choose_tile(spec, isa)
    U, V = t.u, t.v
    N, C, H, W, O, KH, KW = spec.n, spec.c, spec.h, spec.w, spec.o, spec.kh, spec.kw
    (SH, SW), (DH, DW), (PT, PL, _, _) = spec.stride, spec.dilation, spec.pad
    OH, OW = spec.out_hw
    XO, CG, MO = _ceil(OW, U), _ceil(C, isa.group), _ceil(O, L)
    G = isa.group
    HP, WP = (OH - 1) * SH + (KH - 1) * DH + 1, (XO * U - 1) * SW + (KW - 1) * DW + 1
    ZP, SHIFT = act_zero_point(spec, isa), _act_shift(spec, isa)
    NCHW_IN, NCHW_OUT = spec.in_layout == "NCHW", spec.out_layout == "NCHW"
    FULL_W, FULL_O = OW % U == 0, O % L == 0
    step = _step(isa)
    EP_ROWS = max(ep_rows, 1)
    OFF = param_offsets(spec, isa, ep_rows)
    NP, OFF_S = OFF["size"], OFF["scale"] // 4
    OFF_C, OFF_E = (OFF["corr"] or 0) // 4, (OFF["ep"] or 0) // 4  # unused sections alias offset 0: never read
    X_SHAPE, OUT_SHAPE = tuple(x_shape or spec.in_shape), tuple(out_param_shape or spec.out_shape)
    FULL_C = C % G == 0
    # NCHW input packs to [N, C/G, Hp, Wp, G] (each G-channel group one interleaved plane: the
    # copy is a streaming G-way interleave that LLVM vectorizes); channels-last input packs to
    # [N, Hp, Wp, CG*G] (a vector copy). Either way G channels of a pixel are one load.
    XP_SHAPE = (N, CG, HP, WP, G) if NCHW_IN else (N, HP, WP, CG * G)
    VL = next(v for v in (32, 16, 8, G) if CG * G % v == 0)
    # Waking the thread pool costs microseconds: small layers (PP-OCR cls is full of them) run serially.
    pack_loop = T.parallel if N * CG * HP * WP * G >= PARALLEL_PACK_BYTES else T.serial
    tile_loop = T.parallel if spec.macs >= PARALLEL_MACS else T.serial

    def deq(a, c):  # acc - zp * sum(w); symmetric activations (zp 0 after the shift): no correction
        return a if ZP == 0 else a - c

    def act(xp, b, cg, yy, xx):
        def load(off, dtype):
            return xp.vload([b, cg, yy, xx, off] if NCHW_IN else [b, yy, xx, cg * G + off], dtype)
        return load

    @T.prim_func
    def main(xg: T.Buffer(X_SHAPE, spec.x_dtype), params: T.Buffer((NP,), "int8"), outg: T.Buffer(OUT_SHAPE, out_dtype)):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        w = T.decl_buffer((MO, KH, KW, CG, L * G), "int8", data=params.data)
        scale = T.decl_buffer((O,), "float32", data=params.data, elem_offset=OFF_S)
        corr = T.decl_buffer((O,), "int32", data=params.data, elem_offset=OFF_C)
        ep = T.decl_buffer((EP_ROWS, O), "float32", data=params.data, elem_offset=OFF_E)
        x = T.decl_buffer(spec.in_shape, spec.x_dtype, data=xg.data)
        out = T.decl_buffer(spec.out_shape, out_dtype, data=outg.data)
        xp = T.alloc_buffer(XP_SHAPE, ad)
        if NCHW_IN:
            for bc in pack_loop(N * CG):
                for yy in range(HP):
                    if 0 <= yy - PT and yy - PT < H:
                        for xx in range(PL):
                            for j in T.unroll(G):
                                xp[bc // CG, bc % CG, yy, xx, j] = T.Cast(ad, ZP)
                        for ix in range(W):
                            for j in T.unroll(G):
                                if FULL_C or bc % CG * G + j < C:
                                    xp[bc // CG, bc % CG, yy, PL + ix, j] = T.Cast(
                                        ad, T.Cast("int32", x[bc // CG, bc % CG * G + j, yy - PT, ix]) + SHIFT)
                                else:
                                    xp[bc // CG, bc % CG, yy, PL + ix, j] = T.Cast(ad, ZP)
                        for xx in range(PL + W, WP):
                            for j in T.unroll(G):
                                xp[bc // CG, bc % CG, yy, xx, j] = T.Cast(ad, ZP)
                    else:
                        for xx in range(WP):
                            for j in T.unroll(G):
                                xp[bc // CG, bc % CG, yy, xx, j] = T.Cast(ad, ZP)
        else:
            # the border test per pixel, channels in vectors of VL (a <960 x i16> vector was
            # 30k instructions of code)
            for by in pack_loop(N * HP):
                for xx in range(WP):
                    if 0 <= by % HP - PT and by % HP - PT < H and PL <= xx and xx < PL + W:
                        for c0 in range(CG * G // VL):
                            for ci in T.vectorized(VL):
                                if FULL_C or c0 * VL + ci < C:
                                    xp[by // HP, by % HP, xx, c0 * VL + ci] = T.Cast(
                                        ad, T.Cast("int32", x[by // HP, by % HP - PT, xx - PL, c0 * VL + ci]) + SHIFT)
                                else:
                                    xp[by // HP, by % HP, xx, c0 * VL + ci] = T.Cast(ad, ZP)
                    else:
                        for c0 in range(CG * G // VL):
                            for ci in T.vectorized(VL):
                                xp[by // HP, by % HP, xx, c0 * VL + ci] = T.Cast(ad, ZP)
        for task in tile_loop(N * OH * XO):
            # bound values, not mutable locals: a local scalar is a workspace allocation per task
            b = T.bind(task // (OH * XO))
            y = T.bind(task // XO % OH)
            x0 = T.bind(task % XO * U)
            for mo in range(MO // V):
                # "global" scope under 1 KB is a stack array (registers after LLVM's SROA); "local"
                # was a TVMBackendAllocWorkspace call per tile (LowerTVMBuiltin)
                acc = T.alloc_buffer((U, V, L), "int32", scope="global")
                for u in T.unroll(U):
                    for v in T.unroll(V):
                        acc[u, v, T.ramp(0, 1, L)] = T.broadcast(T.int32(0), L)
                for kh in range(KH):
                    for kw in range(KW):
                        for cg in range(CG):
                            for u in T.unroll(U):
                                for v in T.unroll(V):
                                    acc[u, v, T.ramp(0, 1, L)] = step(
                                        acc[u, v, T.ramp(0, 1, L)],
                                        act(xp, b, cg, y * SH + kh * DH, (x0 + u) * SW + kw * DW),
                                        w, [mo * V + v, kh, kw, cg, 0])
                if NCHW_OUT:
                    for v in T.unroll(V):
                        for l in range(L):
                            if FULL_O or (mo * V + v) * L + l < O:
                                if FULL_W or x0 + U <= OW:
                                    for u in T.vectorized(U):
                                        out[b, (mo * V + v) * L + l, y, x0 + u] = epi(
                                            T.Cast("float32", deq(acc[u, v, l], corr[(mo * V + v) * L + l]))
                                            * scale[(mo * V + v) * L + l], (mo * V + v) * L + l, ep)
                                else:
                                    for u in range(U):
                                        if x0 + u < OW:
                                            out[b, (mo * V + v) * L + l, y, x0 + u] = epi(
                                                T.Cast("float32", deq(acc[u, v, l], corr[(mo * V + v) * L + l]))
                                                * scale[(mo * V + v) * L + l], (mo * V + v) * L + l, ep)
                else:
                    for u in range(U):
                        if FULL_W or x0 + u < OW:
                            for v in T.unroll(V):
                                if FULL_O or (mo * V + v) * L + L <= O:
                                    out[b, y, x0 + u, T.ramp((mo * V + v) * L, 1, L)] = epi(
                                        T.Cast("float32x%d" % L, deq(acc[u, v, T.ramp(0, 1, L)], corr[T.ramp((mo * V + v) * L, 1, L)]))
                                        * scale[T.ramp((mo * V + v) * L, 1, L)], T.ramp((mo * V + v) * L, 1, L), ep)
                                else:
                                    for l in range(L):
                                        if (mo * V + v) * L + l < O:
                                            out[b, y, x0 + u, (mo * V + v) * L + l] = epi(
                                                T.Cast("float32", deq(acc[u, v, l], corr[(mo * V + v) * L + l]))
                                                * scale[(mo * V + v) * L + l], (mo * V + v) * L + l, ep)

    return main
