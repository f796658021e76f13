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


# ---- PP-OCR rec: rendered lines with known text, CTC greedy decoding, character error rate ----
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _render_line(text: str, shape, seed: int) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    _, _, h, w = shape
    img = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=int(h * 0.62))
    draw.text((4, int(h * 0.12)), text, fill=(0, 0, 0), font=font)
    a = np.asarray(img, dtype=np.float32) / 255.0
    return ((a - 0.5) / 0.5).transpose(2, 0, 1)[None].astype(np.float32)


def rec_dataset(n: int = 50, seed: int = 7, shape=(1, 3, 48, 320)) -> list[tuple[dict, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.integers(4, 11))
        text = "".join(rng.choice(list(_ALPHABET), size=k))
        out.append(({"x": _render_line(text, shape, seed + i)}, text))
    return out


def rec_charset(model) -> list[str]:
    """PP-OCR's dictionary from the ONNX metadata ('character'); index 0 is the CTC blank."""
    meta = {p.key: p.value for p in model.metadata_props}
    if "character" not in meta:
        raise ValueError("this rec model has no 'character' metadata")
    return ["<blank>"] + meta["character"].splitlines() + [" "]


def ctc_decode(probs: np.ndarray, charset: list[str]) -> str:
    idx = probs[0].argmax(-1)
    out, prev = [], -1
    for i in idx:
        if i != prev and i != 0:
            out.append(charset[i] if i < len(charset) else "")
        prev = i
    return "".join(out).strip()


def edit_distance(a: str, b: str) -> int:
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, cb in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (ca != cb))
    return d[-1]


def cer(run, data: list[tuple[dict, str]], charset: list[str]) -> float:
    errors = sum(edit_distance(ctc_decode(run(f), charset), t) for f, t in data)
    return errors / sum(len(t) for _, t in data)


# ---- PP-OCR det: agreement of binarized text maps ----
def det_iou(run_a, run_b, feeds: list[dict], thresh: float = 0.3) -> float:
    inter = union = 0
    for f in feeds:
        a, b = run_a(f) > thresh, run_b(f) > thresh
        inter += int(np.logical_and(a, b).sum())
        union += int(np.logical_or(a, b).sum())
    return inter / max(union, 1)


def calibration_feeds(model: str, n: int = 32) -> list[dict]:
    """Unlabelled calibration inputs for a PP-OCR model: rendered text lines (rec), crops (cls),
    pages (det, seeds apart from the pages tools/quant_eval.py scores)."""
    if model == "ppocr-det":
        from edgec.models import samples

        return [{"x": samples.text_page((1, 3, 640, 640), seed=s)} for s in range(100, 100 + max(4, n // 4))]
    if model == "ppocr-rec":
        return [f for f, _ in rec_dataset(n, seed=900)]
    return [f for f, _ in cls_dataset(n, seed=5000)]
