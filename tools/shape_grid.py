#!/usr/bin/env python3
"""edgec vs ONNX Runtime on single operators across the shapes real edge models use.

Each case is a one-op ONNX model built in code (Conv + bias + ReLU, depthwise, Gemm/MatMul + bias
+ ReLU) compiled with edgec's default, untuned schedules; edgec and ONNX Runtime then run on the
same input in the same process at the same thread count, alternating rounds (edgec's compiled main
with its inputs already on the device, ORT through InferenceSession.run; tools/bench.py times whole
models through Session.run, per-call overhead included). The table is sorted
by ratio, worst first, with each case's GFLOP/s and % of this CPU's measured fp32 peak, so a
cliff shows before it ships. Not a test: timings on a shared VM are noisy.

    python tools/shape_grid.py                     # the whole grid, 1 thread
    python tools/shape_grid.py --threads 2 --only dw
    python tools/shape_grid.py --json grid.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Case:
    """One operator: conv (k x k, stride, groups) over cin x hw x hw, or a matmul m x k x n."""

    kind: str  # "conv", "dw", "matmul"
    cin: int = 0
    cout: int = 0
    hw: int = 0
    k: int = 1
    stride: int = 1
    m: int = 0
    kdim: int = 0
    n: int = 0

    @property
    def name(self) -> str:
        if self.kind == "matmul":
            return f"matmul {self.m}x{self.kdim}x{self.n}"
        s = f"/s{self.stride}" if self.stride > 1 else ""
        if self.kind == "dw":
            return f"dw{self.k}x{self.k}{s} {self.cin}ch @{self.hw}"
        return f"conv{self.k}x{self.k}{s} {self.cin}->{self.cout} @{self.hw}"

    @property
    def flops(self) -> int:
        if self.kind == "matmul":
            return 2 * self.m * self.kdim * self.n
        oh = (self.hw + 2 * (self.k // 2) - self.k) // self.stride + 1
        cin_per_group = 1 if self.kind == "dw" else self.cin
        return 2 * oh * oh * self.cout * cin_per_group * self.k * self.k


def grid() -> list[Case]:
    """Shapes from MobileNet/EfficientNet-Lite, YOLO-style detectors, PP-OCR and small transformers:
    widths 7..160 with many non-multiples of 8, channels 3..1280."""
    c = []
    for cin, cout, hw in [(192, 1152, 7), (192, 1152, 14), (192, 1152, 16), (16, 96, 112), (24, 144, 56),
                          (40, 240, 28), (80, 480, 14), (112, 672, 14), (320, 1280, 7), (64, 128, 52),
                          (128, 64, 26), (256, 255, 13), (3, 16, 160), (67, 29, 19), (960, 160, 10)]:
        c.append(Case("conv", cin, cout, hw, 1))
    for cin, cout, hw, s in [(64, 64, 52, 1), (64, 64, 48, 1), (32, 64, 104, 1), (128, 128, 26, 1),
                             (256, 256, 13, 1), (3, 32, 224, 2), (3, 16, 160, 2), (32, 64, 104, 2), (64, 128, 52, 2),
                             (17, 23, 33, 1), (96, 96, 20, 1), (48, 48, 80, 1)]:
        c.append(Case("conv", cin, cout, hw, 3, s))
    for ch, hw, k, s in [(1152, 7, 5, 1), (240, 28, 3, 1), (32, 112, 3, 1), (144, 56, 3, 2), (576, 14, 3, 1),
                         (480, 14, 5, 1), (240, 28, 5, 2), (96, 160, 3, 1), (67, 33, 3, 1), (672, 14, 5, 2)]:
        c.append(Case("dw", ch, ch, hw, k, s))
    for m, k, n in [(128, 384, 384), (128, 384, 1536), (128, 1536, 384), (1, 1280, 1000), (49, 576, 144),
                    (25, 96, 67), (80, 256, 6625)]:
        c.append(Case("matmul", m=m, kdim=k, n=n))
    return c


def build(case: Case, seed: int = 0):
    """The ONNX model for ``case`` and its input feed."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    if case.kind == "matmul":
        x = rng.standard_normal((case.m, case.kdim)).astype(np.float32)
        w = (rng.standard_normal((case.kdim, case.n)) / math.sqrt(case.kdim)).astype(np.float32)
        b = rng.standard_normal(case.n).astype(np.float32)
        inits += [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
        nodes += [helper.make_node("MatMul", ["x", "w"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["pre"])]
    else:
        groups = case.cin if case.kind == "dw" else 1
        x = rng.standard_normal((1, case.cin, case.hw, case.hw)).astype(np.float32)
        fan = case.cin // groups * case.k * case.k
        w = (rng.standard_normal((case.cout, case.cin // groups, case.k, case.k)) / math.sqrt(fan)).astype(np.float32)
        b = rng.standard_normal(case.cout).astype(np.float32)
        inits += [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
        p = case.k // 2
        nodes.append(helper.make_node("Conv", ["x", "w", "b"], ["pre"], kernel_shape=[case.k, case.k],
                                      strides=[case.stride] * 2, pads=[p] * 4, group=groups))
    nodes.append(helper.make_node("Relu", ["pre"], ["y"]))
    graph = helper.make_graph(nodes, "op", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return onnx.shape_inference.infer_shapes(model), {"x": x}


def measure_model(name: str, model, feeds: dict, work: Path, threads: int, runs: int, rounds: int,
                  clock: str = "wall") -> dict:
    """Compile ``model`` untuned, check it against ORT, time both (alternating rounds); shared by
    tools/op_grid.py. Compile errors propagate (op_grid turns them into rows)."""
    import edgec
    import onnxruntime as ort
    from edgec.benchmark import alternate, kernels_call

    t0 = time.perf_counter()
    art = edgec.compile(model, out=work / "".join(ch if ch.isalnum() else "_" for ch in name), force=True,
                        tuning_db=False)
    compile_s = time.perf_counter() - t0
    sess = edgec.load(art.path, threads=threads)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    ref = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    want = ref.run(None, feeds)[0]
    got = sess.run(feeds)["y"]
    err = float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))
    # The kernels, not the Python entry: inputs already device tensors (Session.run's copy of a
    # misaligned numpy input is a per-call cost that tools/bench.py's whole models include)
    stats = alternate({"edgec": kernels_call(sess, feeds), "ort": lambda: ref.run(None, feeds)},
                      runs=runs, rounds=rounds)
    key = "cpu_median_ms" if clock == "cpu" else "median_ms"
    e, o = getattr(stats["edgec"], key), getattr(stats["ort"], key)
    return {"case": name, "edgec_ms": e, "ort_ms": o, "ratio": e / o, "rel_l2": err, "compile_s": compile_s,
            "schedule_stats": {k: v for k, v in art.manifest.compile_options.get("schedule_stats", {}).items()
                               if k != "errors"}}


def measure_case(case: Case, work: Path, threads: int, runs: int, rounds: int, clock: str = "wall") -> dict:
    model, feeds = build(case)
    row = measure_model(case.name, model, feeds, work, threads, runs, rounds, clock)
    return {**row, "kind": case.kind, "gflop": case.flops / 1e9}


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def table(rows: list[dict], peak: float | None) -> str:
    out = [f"{'case':<30}{'GFLOP':>8}{'edgec ms':>10}{'ORT ms':>9}{'ratio':>7}{'GFLOP/s':>9}{'%peak':>7}{'rel-L2':>9}"]
    for r in sorted(rows, key=lambda r: -r["ratio"]):
        gfs = r["gflop"] / (r["edgec_ms"] / 1e3)
        pct = f"{100 * gfs / peak:6.0f}%" if peak else "      "
        out.append(f"{r['case']:<30}{r['gflop']:8.3f}{r['edgec_ms']:10.3f}{r['ort_ms']:9.3f}{r['ratio']:7.2f}"
                   f"{gfs:9.1f}{pct}{r['rel_l2']:9.1e}")
    ratios = [r["ratio"] for r in rows]
    out.append(f"geomean edgec/ORT {geomean(ratios):.2f}, worst {max(ratios):.2f}, cases {len(rows)}, "
               f"above 2.0: {sum(x > 2 for x in ratios)}")
    return "\n".join(out)


def grid_arguments(description: str) -> argparse.ArgumentParser:
    """The options both grids take (this one and tools/op_grid.py)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="", help="substring filter on case names, comma-separated")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None, help="write the rows here")
    ap.add_argument("--clock", choices=["cpu", "wall"], default=None,
                    help="cpu: the calling thread's CPU time per run (default at 1 thread: unaffected "
                         "by other processes taking the core); wall: elapsed time (default above 1)")
    return ap


def grid_clock(ap: argparse.ArgumentParser, a: argparse.Namespace) -> str:
    """The clock to use; also sets the thread count TVM's pool will start with."""
    clock = a.clock or ("cpu" if a.threads == 1 else "wall")
    if clock == "cpu" and a.threads != 1:
        ap.error("--clock cpu needs --threads 1: a pool's worker threads are not counted")
    os.environ["TVM_NUM_THREADS"] = str(a.threads)
    return clock


def main() -> None:
    ap = grid_arguments(__doc__.splitlines()[0])
    ap.add_argument("--no-peak", action="store_true", help="skip measuring the fp32 GEMM peak")
    a = ap.parse_args()
    clock = grid_clock(ap, a)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    peak = None
    if not a.no_peak:
        from bench import measure_peak

        peak = measure_peak(a.threads)
    cases = [c for c in grid() if not a.only or any(s in c.name for s in a.only.split(","))]
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgec-grid-") as work:
        for i, case in enumerate(cases, 1):
            r = measure_case(case, Path(work), a.threads, a.runs, a.rounds, clock)
            rows.append(r)
            print(f"[grid {i}/{len(cases)}] {r['case']}: edgec {r['edgec_ms']:.3f} ms, ORT {r['ort_ms']:.3f} ms, "
                  f"ratio {r['ratio']:.2f} (compile {r['compile_s']:.1f}s)", file=sys.stderr, flush=True)
    print(table(rows, peak))
    if peak:
        print(f"measured peak @ {a.threads} thread(s): {peak:.0f} GFLOP/s (fp32 GEMM, OpenBLAS)")
    print(f"clock: {clock} ({'calling thread CPU time' if clock == 'cpu' else 'elapsed'}), median per run")
    if a.json:
        Path(a.json).write_text(json.dumps({"threads": a.threads, "clock": clock, "peak_gflops": peak, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
