"""The digits evaluation set (scikit-learn's bundled 8x8 digits) and top-1 accuracy of a model
on it, for quantization and pruning reports. The split matches tools/train_digits.py."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

MODEL = Path(str(resources.files("edgec.models") / "digits_mlp.onnx"))  # package data


def load_split(seed: int = 0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    return train_test_split(x, d.target, test_size=0.25, random_state=seed, stratify=d.target)


def calibration_set(n: int = 128) -> list[dict[str, np.ndarray]]:
    """Inputs from the training split (never the test split) for calibration/reconstruction."""
    xtr, _, _, _ = load_split()
    return [{"x": xtr[i:i + 1]} for i in range(min(n, len(xtr)))]


def accuracy(run, n: int | None = None) -> float:
    """Top-1 accuracy on the test split; ``run({"x": [1,64] array}) -> probabilities``."""
    _, xte, _, yte = load_split()
    xte, yte = (xte[:n], yte[:n]) if n else (xte, yte)
    hits = sum(int(np.argmax(run({"x": xte[i:i + 1]}))) == int(yte[i]) for i in range(len(xte)))
    return hits / len(xte)
