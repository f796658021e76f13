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


SAMPLES = {"text_page": text_page, "text_line": text_line, "padding_mask": padding_mask}
