"""Latency measurement shared by `edgec bench` and tools/bench.py: warm-up, alternating rounds
between competitors (so drift and noise hit all of them alike), robust statistics."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np


@dataclass
class LatencyStats:
    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    runs: int

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(seconds: list[float]) -> LatencyStats:
    a = np.asarray(seconds) * 1e3
    return LatencyStats(float(np.median(a)), float(np.percentile(a, 10)), float(np.percentile(a, 90)),
                        float(a.min()), int(a.size))


def alternate(runners: dict[str, Callable[[], object]], runs: int = 10, rounds: int = 5,
              warmup: int = 3, settle_s: float = 0.05, budget_s: float = 1.0) -> dict[str, LatencyStats]:
    """Time each runner ``runs`` times per round, cycling through runners ``rounds`` times."""
    per_round = {}
    for name, fn in runners.items():
        for _ in range(warmup):
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
        # Slow runners (stock TVM at seconds per run) get fewer runs per round, not fewer rounds.
        per_round[name] = max(1, min(runs, int(budget_s / max(dt, 1e-6))))
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for name, fn in runners.items():
            # The previous runner's worker threads spin-wait for a while after their last job
            # (ONNX Runtime and TVM both do): let them park, then warm this runner's pool.
            time.sleep(settle_s)
            fn()
            for _ in range(per_round[name]):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return {k: summarize(v) for k, v in times.items()}
