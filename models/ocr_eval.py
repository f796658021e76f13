"""Labelled OCR evaluation data made here: rendered text lines (edgec.models.samples), upright or
rotated 180 degrees, for PP-OCR's direction classifier (label 0 = '0', 1 = '180')."""
from __future__ import annotations

import numpy as np

from edgec.models.samples import text_line


def cls_dataset(n: int = 64, seed: int = 1000, shape=(1, 3, 48, 192)) -> list[tuple[dict, int]]:
    out = []
    for i in range(n):
        x = text_line(shape, seed=seed + i)
        label = i % 2
        if label:
            x = x[:, :, ::-1, ::-1].copy()  # 180 degrees
        out.append(({"x": x}, label))
    return out


def cls_accuracy(run, data: list[tuple[dict, int]]) -> float:
    return float(np.mean([int(np.argmax(run(f))) == y for f, y in data]))


def agreement(run_a, run_b, data: list[tuple[dict, int]]) -> float:
    return float(np.mean([int(np.argmax(run_a(f))) == int(np.argmax(run_b(f))) for f, _ in data]))
