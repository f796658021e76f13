"""Per-call latency of the micro runtime against TVM's VM, in one process, alternating rounds
(ratios survive a busy machine; absolute times do not). Both at 1 thread by default, through
Session.run (input checks, binding and output copies included), timed as the calling thread's CPU
time: micro/vm is the ratio of the rounds' medians, "fastest" that of the fastest rounds. With
``--threads N`` (N > 1) the time is wall-clock, since the pools' work is not the calling thread's.

    python tools/micro_vs_vm.py [--models mlp,cnn,transformer,ppocr-cls|zoo] [--rounds 7] [--calls 200]
                                [--threads 1] [--work DIR [--compile-only]]

``--work DIR`` keeps the compiled artifacts there and reuses them, so the compiles can run
first (``--compile-only``, no benchmark lock needed) and the timing alone under
``flock /tmp/edgec-bench.lock``.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import edgec
from edgec.models.tiny import tiny_cnn, tiny_mlp, tiny_transformer

TINY = {"mlp": tiny_mlp, "cnn": lambda: tiny_cnn(batch=1), "transformer": tiny_transformer}


def _zoo() -> list[str]:
    """Every zoo model, then the tiny ones."""
    from edgec.models import registry

    return sorted(registry()) + list(TINY)


def _per_call(sess, feeds, calls: int, clock=time.thread_time) -> float:
    """Seconds per call on ``clock``: by default the calling thread's CPU time (at 1 thread both
    runtimes run every kernel on it, and time other processes take on a shared machine is not
    counted); time.perf_counter at more threads."""
    t0 = clock()
    for _ in range(calls):
        sess.run(feeds)
    return (clock() - t0) / calls


def _artifact(name: str, work: Path, runtime: str) -> Path:
    """The artifact for ``runtime``, compiled unless ``work`` already holds it."""
    path = work / f"{name}-{runtime}"
    if not (path / "manifest.json").exists():
        model = TINY[name]() if name in TINY else name
        edgec.compile(model, out=path, runtime=runtime, force=True)
    return path


def compare(name: str, work: Path, rounds: int, calls: int, compile_only: bool = False, threads: int = 1) -> dict:
    try:
        micro = _artifact(name, work, "micro")
    except edgec.errors.EdgecError as e:  # the plan cannot express it: the VM is what runs it
        return {"model": name, "micro_us": "-", "vm_us": "-", "micro/vm": f"refused: {str(e)[:60]}", "fastest": ""}
    vm = _artifact(name, work, "vm")
    if compile_only:
        return {"model": name, "micro_us": "-", "vm_us": "-", "micro/vm": "compiled", "fastest": ""}
    s_micro, s_vm = edgec.load(micro, threads=threads), edgec.load(vm, threads=threads)
    clock = time.thread_time if threads == 1 else time.perf_counter
    rng = np.random.default_rng(0)
    feeds = {t.name: rng.uniform(0, 1, t.shape).astype(t.dtype) for t in s_micro.manifest.inputs}
    n = max(3, calls if name in TINY else calls // 20)
    for s in (s_micro, s_vm):
        _per_call(s, feeds, 3, clock)
    tm, tv = [], []
    for _ in range(rounds):
        tm.append(_per_call(s_micro, feeds, n, clock))
        tv.append(_per_call(s_vm, feeds, n, clock))
    m, v = statistics.median(tm), statistics.median(tv)
    # the fastest rounds too: on a shared machine others' cache traffic only ever adds time
    return {"model": name, "micro_us": round(m * 1e6, 1), "vm_us": round(v * 1e6, 1), "micro/vm": round(m / v, 3),
            "fastest": round(min(tm) / min(tv), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mlp,cnn,transformer,ppocr-cls", help="comma-separated, or 'zoo' for all")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1, help="threads of both runtimes (>1: wall-clock time)")
    ap.add_argument("--work", type=Path, help="keep (and reuse) the compiled artifacts here")
    ap.add_argument("--compile-only", action="store_true", help="compile into --work, time nothing")
    args = ap.parse_args()
    if args.compile_only and not args.work:
        ap.error("--compile-only needs --work")
    names = _zoo() if args.models == "zoo" else args.models.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"{'model':<28}{'micro us':>10}{'vm us':>10}{'micro/vm':>10}{'fastest':>9}")
        for name in names:
            r = compare(name, work, args.rounds, args.calls, args.compile_only, args.threads)
            print(f"{r['model']:<28}{r['micro_us']:>10}{r['vm_us']:>10}{r['micro/vm']:>10}{r['fastest']:>9}", flush=True)


if __name__ == "__main__":
    main()
