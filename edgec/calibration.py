"""Calibration data for quantization and pruning, from what users have at hand:

  data.npz            one array per input name, samples stacked on axis 0 (or a single sample)
  data.npy            one input, samples on axis 0
  folder/             *.npy / *.npz files (one sample each) or images (*.png, *.jpg), resized to
                      the input's H x W and normalised as the zoo entry says ([0, 1] otherwise)
  synthetic:text_line / synthetic:text_page   rendered text (edgec.models.samples)
  a Python iterable of {input name: array} dicts (a CalibrationDataReader-style source)
"""
from __future__ import annotations

from pathlib import Path
import numpy as np

from edgec.errors import UserInputError
from edgec.runtime.manifest import TensorSpec

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
# Preprocessing of the zoo models, for calibrating from image folders.
NORMALIZE = {"ppocr-det": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]), "ppocr-rec": ([0.5] * 3, [0.5] * 3),
             "ppocr-cls": ([0.5] * 3, [0.5] * 3), "blazeface": ([0.5] * 3, [0.5] * 3)}


def _split(arr: np.ndarray, spec: TensorSpec) -> list[np.ndarray]:
    if tuple(arr.shape) == spec.shape:
        return [arr]
    if tuple(arr.shape[1:]) == spec.shape[1:] or tuple(arr.shape[1:]) == spec.shape:
        return [a.reshape(spec.shape) for a in np.split(arr, arr.shape[0]) if a.size == np.prod(spec.shape)] \
            if tuple(arr.shape[1:]) == spec.shape[1:] else [a.reshape(spec.shape) for a in arr]
    raise UserInputError(f"calibration array for '{spec.name}' has shape {arr.shape}; expected {spec.shape} "
                         f"or (N, {', '.join(map(str, spec.shape[1:]))})")


def _image(path: Path, spec: TensorSpec, zoo: str) -> np.ndarray:
    from PIL import Image

    nchw = len(spec.shape) == 4 and spec.shape[1] in (1, 3)
    h, w = (spec.shape[2], spec.shape[3]) if nchw else (spec.shape[1], spec.shape[2])
    img = np.asarray(Image.open(path).convert("RGB").resize((w, h)), dtype=np.float32) / 255.0
    mean, std = NORMALIZE.get(zoo, ([0.0] * 3, [1.0] * 3))
    img = (img - np.array(mean)) / np.array(std)
    img = img.transpose(2, 0, 1)[None] if nchw else img[None]
    return img.astype(spec.dtype)


def load_calibration(source, inputs: list[TensorSpec], zoo: str = "", limit: int = 256) -> list[dict[str, np.ndarray]]:
    """Turn ``source`` (see module doc) into a list of feeds, at most ``limit``."""
    if source is None:
        raise UserInputError("calibration data is required (--calib)")
    if not isinstance(source, (str, Path)):
        feeds = [dict(f) for _, f in zip(range(limit), source)]
        if not feeds:
            raise UserInputError("the calibration iterable yielded nothing")
        return feeds
    s = str(source)
    if s.startswith("synthetic:"):
        from edgec.models.samples import SAMPLES

        kind = s.split(":", 1)[1]
        if kind not in SAMPLES:
            raise UserInputError(f"unknown synthetic calibration set {kind!r}; known: {sorted(SAMPLES)}")
        n = min(limit, 256)
        if any(len(i.shape) != 4 or i.shape[1] != 3 for i in inputs):
            raise UserInputError(f"synthetic:{kind} renders NCHW RGB images; this model's inputs are "
                                 + ", ".join(f"{i.name}{list(i.shape)}" for i in inputs))
        return [{i.name: SAMPLES[kind](i.shape, seed=5000 + k).astype(i.dtype) for i in inputs} for k in range(n)]
    path = Path(s)
    if not path.exists():
        raise UserInputError(f"calibration data not found: {path}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | {".npy", ".npz"})
        if not files:
            raise UserInputError(f"{path} has no .npy, .npz or image files")
        feeds = []
        for f in files[:limit]:
            if f.suffix.lower() in IMAGE_SUFFIXES:
                if len(inputs) != 1:
                    raise UserInputError("image folders calibrate single-input models only")
                feeds.append({inputs[0].name: _image(f, inputs[0], zoo)})
            else:
                feeds += load_calibration(f, inputs, zoo, limit=1)
        return feeds
    from edgec.runtime.files import load_arrays

    loaded = load_arrays(path, "calibration data")
    if isinstance(loaded, np.ndarray):
        if len(inputs) != 1:
            raise UserInputError(f"{path} holds one array but the model has {len(inputs)} inputs; use .npz")
        return [{inputs[0].name: a.astype(inputs[0].dtype)} for a in _split(loaded, inputs[0])[:limit]]
    missing = [i.name for i in inputs if i.name not in loaded]
    if missing:
        raise UserInputError(f"{path} lacks arrays for inputs {missing} (it has {sorted(loaded)})")
    per_input = {i.name: _split(loaded[i.name], i) for i in inputs}
    n = min(len(v) for v in per_input.values())
    return [{k: v[j].astype(next(i.dtype for i in inputs if i.name == k)) for k, v in per_input.items()}
            for j in range(min(n, limit))]
