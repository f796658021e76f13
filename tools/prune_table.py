#!/usr/bin/env python3
"""Pruning ratio -> parameters, FLOPs, edgec latency and accuracy, with and without the
least-squares reconstruction, on the digits classifier and PP-OCR cls. Latencies of one table
come from the same process, edgec-compiled for the host, alternating runs.

    python tools/prune_table.py [--models digits,ppocr-cls] [--ratios 0.1,0.2,0.3,0.4,0.5]

Accuracy: digits top-1 on the held-out split; cls: top-1 on rendered text crops (upright or
rotated 180 degrees, labels known) and agreement with the unpruned model."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from edgec.reference import ort_runner as _ort

REPO = Path(__file__).resolve().parents[1]


def setup(name: str):
    """(cleaned model, calibration feeds, accuracy(run) -> dict, latency feeds)."""
    from edgec.optimize import cleaned_onnx

    if name == "digits":
        from edgec.models.digits import MODEL, accuracy, calibration_set

        model, _ = cleaned_onnx(str(MODEL))
        return model, calibration_set(256), lambda run, base: {"top1": accuracy(run)}, calibration_set(1)[0]
    from edgec.models.ocr_eval import agreement, cls_accuracy, cls_dataset

    model, _ = cleaned_onnx(name)
    data = cls_dataset(200)
    calib = [f for f, _ in cls_dataset(256, seed=5000)]  # reconstruction is noisy below ~200 crops
    return model, calib, lambda run, base: {"top1": cls_accuracy(run, data), "agree": agreement(run, base, data)}, data[0][0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="digits,ppocr-cls")
    ap.add_argument("--ratios", default="0.1,0.2,0.3,0.4,0.5")
    ap.add_argument("--out", default=str(REPO / "bench-results" / "prune.json"))
    a = ap.parse_args()
    import edgec
    from edgec.benchmark import alternate
    from edgec.compiler.prune import PruneOptions, prune

    rows = []
    for name in a.models.split(","):
        model, calib, evaluate, feeds = setup(name)
        base_run = _ort(model)
        variants = [("unpruned", model)]
        for r in (float(x) for x in a.ratios.split(",")):
            for rec in (False, True):
                res = prune(model, PruneOptions(ratio=r, reconstruct=rec), calib=calib)
                variants.append((f"{r:.1f}{' +LS' if rec else ''}", res.model))
                print(f"[prune_table] {name} ratio {r} reconstruct={rec} done", file=sys.stderr, flush=True)
        runners, meta = {}, {}
        with tempfile.TemporaryDirectory() as tmp:
            for label, m in variants:
                art = edgec.compile(m, out=Path(tmp) / label.replace(" ", "_").replace("+", ""))
                sess = art.load()
                import tvm

                args = [tvm.runtime.tensor(feeds[i.name]) for i in art.manifest.inputs]
                runners[label] = (lambda s=sess, x=args: s._main(*x))
                from edgec.compiler.prune import cost

                meta[label] = {"params": cost.params(m), "flops": cost.flops(m), **evaluate(_ort(m), base_run)}
            lat = alternate(runners, runs=20, rounds=5)
        for label, _ in variants:
            rows.append({"model": name, "variant": label, **meta[label], "latency_ms": lat[label].median_ms})
    base = {}
    print(f"{'model':<10}{'ratio':<10}{'params':>10}{'MFLOP':>9}{'latency ms':>11}{'vs unpruned':>12}{'top-1':>8}{'agree':>8}")
    for r in rows:
        if r["variant"] == "unpruned":
            base[r["model"]] = r
        b = base[r["model"]]
        agree = f"{r['agree']:8.3f}" if "agree" in r else f"{'':>8}"
        print(f"{r['model']:<10}{r['variant']:<10}{r['params']:>10,}{r['flops'] / 1e6:9.2f}{r['latency_ms']:11.3f}"
              f"{r['latency_ms'] / b['latency_ms']:12.2f}{r['top1']:8.3f}{agree}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
