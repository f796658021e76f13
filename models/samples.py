"""Synthetic, in-range sample inputs for models whose output is degenerate on noise, or whose
inputs are structured rather than values in a range (attention masks).

Why: PP-OCR det on uniform noise outputs probabilities of ~1e-7 everywhere ("no text"), where
ONNX Runtime's sigmoid is only accurate to ~6e-8 *absolute* (its outputs are multiples of 2^-24
near zero), so relative-L2 against it measures the reference's rounding, not our code. A page of
random words rendered with Pillow gives the model real text to respond to, in its input range.
"""
from __future__ import annotations

import numpy as np

_WORDS = ["edge", "compiler", "TVM", "runtime", "latency", "model", "int8", "board", "2026", "ARM",
          "tensor", "kernel", "quantize", "prune", "verify", "device", "RISC-V", "NEON", "cache", "x86"]


def _render(width: int, height: int, lines: int, seed: int, font_px: int):
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=font_px)
    step = max(height // max(lines, 1), font_px + 2)
    for i in range(lines):
        words = " ".join(rng.choice(_WORDS, size=int(rng.integers(2, 6))))
        x = int(rng.integers(0, max(1, width // 3)))
        draw.text((x, 4 + i * step), words, fill=tuple(int(v) for v in rng.integers(0, 80, 3)), font=font)
    return np.asarray(img, dtype=np.float32) / 255.0


def text_page(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """NCHW page of random words, ImageNet-normalized as PP-OCR det expects."""
    n, _, h, w = shape
    pages = [_render(w, h, max(1, h // 44), seed + i, max(12, h // 24)) for i in range(n)]
    a = (np.stack(pages) - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    return a.transpose(0, 3, 1, 2).astype(np.float32)


def text_line(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """NCHW single text line, normalized to [-1, 1] as PP-OCR rec/cls expect."""
    n, _, h, w = shape
    lines = [_render(w, h, 1, seed + i, int(h * 0.6)) for i in range(n)]
    return ((np.stack(lines) - 0.5) / 0.5).transpose(0, 3, 1, 2).astype(np.float32)


def padding_mask(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """[batch, seq] attention mask as a tokenizer pads: 1 on the first L tokens, 0 on the rest, L
    random in [seq/2, seq] per row (never 0: an all-padding row has no defined output)."""
    *rows, seq = shape
    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(1, seq // 2), seq + 1, size=tuple(rows))
    return (np.arange(seq) < lengths[..., None]).astype(np.int64)


def portrait(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """NHWC [1, H, W, 3] RGB in [0, 1]: a head-and-shoulders figure (skin-toned face with eyes,
    mouth and hair, neck, clothed shoulders) on a plain graded background, light pixel noise.
    MediaPipe selfie segmentation answers it with a person mask (~40% of the pixels near 1); on
    noise its output is ~1e-9 everywhere, deep in the sigmoid's tail, where relative-L2 measures
    how LiteRT's XNNPACK kernels round (they differ from LiteRT's own reference kernels by 1e-4
    there) rather than our code."""
    _, h, w, c = shape
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    yy, xx = yy / max(h - 1, 1), xx / max(w - 1, 1)
    img = np.empty((h, w, 3))
    img[:] = rng.uniform(0.35, 0.9, 3) * (0.8 + 0.2 * yy[..., None])
    cx, cy, r = rng.uniform(0.45, 0.55), rng.uniform(0.32, 0.38), rng.uniform(0.15, 0.18)
    img[((xx - cx) / 0.42) ** 2 + ((yy - 1.05) / 0.45) ** 2 < 1] = rng.uniform(0.05, 0.5, 3)  # shoulders
    skin = np.array([0.87, 0.68, 0.56]) * rng.uniform(0.7, 1.05)
    img[(np.abs(xx - cx) < r * 0.45) & (yy > cy) & (yy < cy + r * 1.6)] = skin * 0.9  # neck
    img[((xx - cx) / r) ** 2 + ((yy - cy) / (r * 1.25)) ** 2 < 1] = skin  # face
    hair = (((xx - cx) / (r * 1.1)) ** 2 + ((yy - cy + r * 0.35) / (r * 1.05)) ** 2 < 1) & (yy < cy - r * 0.45)
    img[hair] = rng.uniform(0.02, 0.25) * np.array([1.0, 0.8, 0.6])
    for e in (-1, 1):
        img[(xx - cx - e * r * 0.4) ** 2 + (yy - cy + r * 0.1) ** 2 < (r * 0.12) ** 2] = 0.1  # eyes
    img[(np.abs(xx - cx) < r * 0.35) & (np.abs(yy - cy - r * 0.55) < r * 0.06)] = [0.6, 0.2, 0.2]  # mouth
    img += rng.normal(0, 0.02, img.shape)
    return np.broadcast_to(np.clip(img, 0, 1)[None, ..., :c], shape).astype(np.float32)


SAMPLES = {"text_page": text_page, "text_line": text_line, "padding_mask": padding_mask, "portrait": portrait}
