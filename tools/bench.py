#!/usr/bin/env python3
"""edgec vs its peers on this CPU: latency, ratios, compile time and distance from peak.

For each model (zoo + tiny models built in code) this compiles edgec's default (untuned)
artifact, optionally a tuned one (--tuning-db), and stock TVM (relax.build, no schedules), then,
for each thread count, in one child process per count (TVM fixes its pool size at start): runs
edgec, stock TVM and the reference runtime (ONNX Runtime, or LiteRT for TFLite) on the same
inputs with the same threads, alternating rounds, and prints medians, spread, ratios and
%-of-peak, where peak is this CPU's measured fp32 GEMM rate (OpenBLAS via numpy) at that many
threads. Results go to bench-results/bench.json. A model that fails to compile is reported (its
error in the table and bench.json) and the others are still measured.

    python tools/bench.py                          # everything, 1 and 2 threads
    python tools/bench.py --models ppocr-cls --threads 2 --no-stock
    python tools/bench.py --models ppocr-det,ppocr-rec,ppocr-cls --int8 --no-stock   # + int8 vs fp32

--int8 also compiles each PP-OCR model with --quantize int8 (calibrated on rendered pages, text
lines or crops; speed guard on) and runs it next to the fp32 artifact and ONNX Runtime on the same
QDQ model, in the same rounds.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = ["ppocr-det", "ppocr-rec", "ppocr-cls", "blazeface", "lcnet-orient", "yolox-tiny", "minilm-l3",
                  "oww-melspec", "oww-embedding", "palm-detection", "hand-landmark", "face-landmark", "pose-detection",
                  "face-detection-full-sparse", "selfie-segmentation", "face-landmark-attention",
                  "pose-landmark-full", "iris-landmark",
                  "silero-vad", "silero-vad-seq", "yolov8n-320", "ddddocr-ocr", "tiny-cnn", "tiny-mlp", "tiny-transformer"]
OCR = ["ppocr-det", "ppocr-rec", "ppocr-cls"]

PEAK_CODE = r"""
import numpy as np, time, json
n = 2048
a = np.random.rand(n, n).astype('f4'); b = np.random.rand(n, n).astype('f4')
a @ b
best = min((lambda t0: (a @ b, time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(10))
print(json.dumps({"gflops": 2 * n ** 3 / best / 1e9}))
"""


def measure_peak(threads: int) -> float:
    """fp32 GEMM GFLOP/s at ``threads`` threads, in a clean child (OPENBLAS_CORETYPE and
    OPENBLAS_L2_SIZE, set on some of these machines for old OpenBLAS builds, slow it down)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    best = 0.0
    for _ in range(3):  # best of three: a busy moment on a shared VM must not lower the ceiling
        out = subprocess.run([sys.executable, "-c", PEAK_CODE], capture_output=True, text=True, env=env, check=True)
        best = max(best, json.loads(out.stdout.strip().splitlines()[-1])["gflops"])
    return best


def model_source(name: str, workdir: Path):
    """(compile argument, reference format, reference bytes)."""
    if name.startswith("tiny-"):
        import onnx

        from edgec.models.tiny import TINY

        path = workdir / f"{name}.onnx"
        model = TINY[name]() if name != "tiny-cnn" else TINY[name](batch=1)
        onnx.save(model, path)
        return str(path), "onnx", path.read_bytes()
    from edgec import models

    p = models.fetch(name, quiet=True)
    return name, models.get(name).format, p.read_bytes()


def compile_all(names: list[str], workdir: Path, stock: bool, tuning_db: str | None, target: str = "host",
                int8: bool = False) -> dict:
    """Compile every variant of every model; a model that fails is kept as {"error": ...} and
    reported, so one failure does not cost the other models' numbers."""
    plan = {}
    for name in names:
        try:
            plan[name] = _compile_one(name, workdir, stock, tuning_db, target, int8)
        except Exception as e:  # one model that does not compile must not cost the others' numbers
            err = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            print(f"[bench] {name} FAILED to compile: {err}", file=sys.stderr)
            plan[name] = {"error": f"{type(e).__name__}: {err}"}
    return plan


def _compile_one(name: str, workdir: Path, stock: bool, tuning_db: str | None, target: str, int8: bool) -> dict:
    import edgec
    from edgec.compiler.driver import import_model, CompileOptions
    from edgec.compiler.flops import count_flops
    from edgec.sources import resolve_model

    src, fmt, _ = model_source(name, workdir)
    try:
        mod, *_ = import_model(resolve_model(src, fetch_quiet=True), CompileOptions(target=target))
        flops = count_flops(mod)
    except Exception as e:  # noqa: BLE001 - e.g. an If that only the zoo entry's pinned inputs resolve
        print(f"[bench] {name}: FLOPs not counted ({type(e).__name__}); %peak left blank", file=sys.stderr)
        flops = float("nan")
    entry = {"source": src, "format": fmt, "flops": flops, "variants": {}}
    variants = {"edgec": {"tuning_db": False, "target": target}}
    if tuning_db:
        variants["edgec-tuned"] = {"tuning_db": tuning_db, "target": target}
    if stock:
        variants["stock-tvm"] = {"schedule": "none", "target": target, "runtime": "vm"}  # TVM as it is: its VM too
    if int8 and name in OCR:
        from edgec.models.ocr_eval import calibration_feeds

        calib = calibration_feeds(name)
        variants["edgec-int8"] = {"tuning_db": False, "target": target, "quantize": "int8", "calib": calib}
        variants["edgec-int8-dropfq"] = {"tuning_db": False, "target": target, "quantize": "int8",
                                         "calib": calib, "drop_fake_quant": True}
    for variant, kw in variants.items():
        out = workdir / f"{name}-{variant}"
        t0, c0 = time.perf_counter(), time.process_time()
        edgec.compile(src, out=out, force=True, **kw)
        # CPU seconds beside wall: on a shared machine the wall time is mostly waiting for a core
        entry["variants"][variant] = {"path": str(out), "compile_s": time.perf_counter() - t0,
                                      "compile_cpu_s": time.process_time() - c0}
        print(f"[bench] compiled {name} ({variant}) in {entry['variants'][variant]['compile_s']:.1f}s "
              f"({entry['variants'][variant]['compile_cpu_s']:.1f} CPU s)", file=sys.stderr)
    return entry


def child(plan: dict, threads: int, runs: int, rounds: int) -> dict:
    os.environ["TVM_NUM_THREADS"] = str(threads)
    import edgec
    from edgec.benchmark import alternate
    from edgec.reference import reference_for
    from edgec.runtime.artifact import Artifact
    from edgec.runtime.threads import active_threads
    from edgec.verification import default_inputs, reference_feeds

    results = {}
    for name, entry in plan.items():
        if "error" in entry:
            continue
        runners, feeds = {}, None
        for variant, v in entry["variants"].items():
            art = Artifact.open(v["path"])
            feeds = feeds or default_inputs(art)
            sess = edgec.load(art.path, threads=threads)
            # through Session.run, as users call it (ORT's peer row goes through its run too)
            runners[variant] = (lambda s=sess, f={t.name: feeds[t.name] for t in art.manifest.inputs}: s.run(f))
        src_bytes = Path(entry["source"]).read_bytes() if entry["format"] == "onnx" and entry["source"].endswith(".onnx") \
            else edgec.models.fetch(entry["source"], quiet=True).read_bytes()
        ref = reference_for(entry["format"], src_bytes, threads=threads, qdq=False)  # timed: ORT as users run it
        ref_feeds = reference_feeds(art, entry["format"], src_bytes, feeds)  # + inputs pinned by value
        runners[ref.name] = lambda r=ref, f=ref_feeds: r.run(f)
        if "edgec-int8" in entry["variants"]:  # ORT on the same QDQ model: the int8 peer
            qref = reference_for("onnx", (Path(entry["variants"]["edgec-int8"]["path"]) / "source.onnx").read_bytes(),
                                 threads=threads, qdq=False)  # ORT's own int8 kernels: the speed peer
            runners["onnxruntime-int8"] = lambda r=qref, f=feeds: r.run(f)
        stats = alternate(runners, runs=runs, rounds=rounds)
        results[name] = {"reference": ref.name, "latency": {k: s.to_dict() for k, s in stats.items()},
                         "tvm_threads": active_threads()}
        print(f"[bench] {name} @ {threads} threads: " + ", ".join(f"{k} {s.median_ms:.2f} ms" for k, s in stats.items()),
              file=sys.stderr)
    return results


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def _clock_key(clock: str, threads: int) -> str:
    """CPU time of the calling thread only at 1 thread (a pool's workers are not counted)."""
    return "cpu_median_ms" if clock == "cpu" and threads == 1 else "median_ms"


def report(plan: dict, by_threads: dict, peaks: dict, clock: str = "wall") -> str:
    lines = []
    hdr = f"{'model':<17}{'GFLOP':>7}{'thr':>4}{'edgec ms':>10}{'stock ms':>10}{'peer':>12}{'peer ms':>9}" \
          f"{'edgec/peer':>11}{'stock/peer':>11}{'%peak':>7}{'compile s':>10}{'CPU s':>7}"
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for t, res in by_threads.items():
        key = _clock_key(clock, t)
        for name, r in res.items():
            lat = r["latency"]
            e = lat["edgec"][key]
            s = lat.get("stock-tvm", {}).get(key)
            p = lat[r["reference"]][key]
            gflop = plan[name]["flops"] / 1e9
            pct = 100 * gflop / (e / 1e3) / peaks[t]
            lines.append(f"{name:<17}{gflop:7.3f}{t:>4}{e:10.2f}{(s or float('nan')):10.2f}{r['reference']:>12}{p:9.2f}"
                         f"{e / p:11.2f}{(s / p if s else float('nan')):11.2f}{pct:6.1f}%"
                         f"{plan[name]['variants']['edgec']['compile_s']:10.1f}"
                         f"{plan[name]['variants']['edgec'].get('compile_cpu_s', float('nan')):7.1f}")
            if "edgec-tuned" in lat:
                et = lat["edgec-tuned"][key]
                lines.append(f"{'  tuned':<17}{'':7}{t:>4}{et:10.2f}{'':10}{'':12}{'':9}{et / p:11.2f}")
            if "edgec-int8" in lat:
                q, oq = lat["edgec-int8"][key], lat["onnxruntime-int8"][key]
                lines.append(f"{'  int8':<17}{'':7}{t:>4}{q:10.2f}{'':10}{'ort-int8':>12}{oq:9.2f}{q / oq:11.2f}"
                             f"{'':11}{'':7}{plan[name]['variants']['edgec-int8']['compile_s']:10.1f}"
                             f"   int8/fp32 {q / e:.2f}")
                if "edgec-int8-dropfq" in lat:
                    qd = lat["edgec-int8-dropfq"][key]
                    lines.append(f"{'  int8 dropfq':<17}{'':7}{t:>4}{qd:10.2f}{'':10}{'ort-int8':>12}{oq:9.2f}"
                                 f"{qd / oq:11.2f}{'':11}{'':7}{'':10}   int8/fp32 {qd / e:.2f}")
        ocr = [res[m]["latency"]["edgec"][key] / res[m]["latency"][res[m]["reference"]][key]
               for m in OCR if m in res]
        if ocr:
            lines.append(f"geomean edgec/onnxruntime over {', '.join(m for m in OCR if m in res)} @ {t} threads: {geomean(ocr):.2f}")
        ratios = {m: r["latency"]["edgec"][key] / r["latency"][r["reference"]][key] for m, r in res.items()}
        if ratios:
            worst = max(ratios, key=ratios.get)
            lines.append(f"geomean edgec/peer over all {len(ratios)} models @ {t} threads: {geomean(list(ratios.values())):.2f}"
                         f" (worst {worst} {ratios[worst]:.2f})")
        lines.append(f"measured peak @ {t} threads: {peaks[t]:.0f} GFLOP/s (fp32 GEMM, OpenBLAS); "
                     f"times: {'calling thread CPU time' if key == 'cpu_median_ms' else 'elapsed'}, median")
    lines += [f"{name:<17}compile FAILED: {e['error']}" for name, e in plan.items() if "error" in e]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-stock", action="store_true", help="skip stock TVM (slow to run)")
    ap.add_argument("--tuning-db", default=None, help="also bench artifacts compiled with this tuning database")
    ap.add_argument("--target", default="host", help="CPU target to compile for (must run here), e.g. x86_64-avx2")
    ap.add_argument("--int8", action="store_true", help="also bench --quantize int8 artifacts of the PP-OCR models")
    ap.add_argument("--out", default=str(REPO / "bench-results"))
    ap.add_argument("--clock", choices=["cpu", "wall"], default="wall",
                    help="cpu: report the calling thread's CPU time in the 1-thread rows (robust when other "
                         "processes share the cores); wall (default): elapsed time")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        spec = json.loads(Path(a.child).read_text())
        print(json.dumps(child(spec["plan"], spec["threads"], spec["runs"], spec["rounds"])))
        return
    out = Path(a.out)
    work = out / "artifacts"
    work.mkdir(parents=True, exist_ok=True)
    plan = compile_all(a.models.split(","), work, not a.no_stock, a.tuning_db, a.target, a.int8)
    by_threads, peaks = {}, {}
    for t in (int(x) for x in a.threads.split(",")):
        peaks[t] = measure_peak(t)
        spec = out / f"child-{t}.json"
        spec.write_text(json.dumps({"plan": plan, "threads": t, "runs": a.runs, "rounds": a.rounds}))
        proc = subprocess.run([sys.executable, __file__, "--child", str(spec)], capture_output=True, text=True)
        sys.stderr.write(proc.stderr)
        if proc.returncode != 0:
            sys.exit(f"bench child for {t} threads failed")
        by_threads[t] = json.loads(proc.stdout.strip().splitlines()[-1])
    table = report(plan, by_threads, peaks, a.clock)
    print(table)
    (out / "bench.json").write_text(json.dumps({"plan": plan, "results": by_threads, "peak_gflops": peaks,
                                                "host": os.uname().nodename, "date": time.strftime("%Y-%m-%d %H:%M")},
                                               indent=2))
    (out / "bench.txt").write_text(table + "\n")


if __name__ == "__main__":
    main()
