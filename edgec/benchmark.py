"""Latency measurement shared by `edgec bench` and tools/bench.py: warm-up, alternating rounds
between competitors (so drift and noise hit all of them alike), robust statistics."""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from edgec.log import shows_progress

log = logging.getLogger(__name__)


@dataclass
class LatencyStats:
    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    runs: int
    # Median CPU time of the calling thread per run. At 1 thread both runtimes do all their work
    # on the calling thread, so this survives a busy machine (preemption is not counted) where
    # wall time does not; meaningless at more threads (the pool's work is not counted).
    cpu_median_ms: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(seconds: list[float], cpu_seconds: list[float] | None = None) -> LatencyStats:
    a = np.asarray(seconds) * 1e3
    cpu = float(np.median(np.asarray(cpu_seconds)) * 1e3) if cpu_seconds else None
    return LatencyStats(float(np.median(a)), float(np.percentile(a, 10)), float(np.percentile(a, 90)),
                        float(a.min()), int(a.size), cpu)


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
    cpu: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for name, fn in runners.items():
            # The previous runner's worker threads spin-wait for a while after their last job
            # (ONNX Runtime and TVM both do): let them park, then warm this runner's pool.
            time.sleep(settle_s)
            fn()
            for _ in range(per_round[name]):
                c0, t0 = time.thread_time(), time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.thread_time() - c0)
    return {k: summarize(v, cpu[k]) for k, v in times.items()}


def kernels_call(sess, feeds: dict) -> Callable[[], object]:
    """A zero-argument call of ``sess``'s compiled main with its inputs already on the device, for
    benchmarks of the kernels themselves (tools/shape_grid.py, op_grid.py): the micro runtime's
    plan on inputs bound once (MicroSession.kernels_call); Session.run where a session has neither."""
    if hasattr(sess, "kernels_call"):
        return sess.kernels_call(feeds)
    main = getattr(sess, "_main", None)
    if main is None:
        return lambda: sess.run(feeds)
    import tvm

    args = [tvm.runtime.tensor(feeds[t.name]) for t in sess.inputs]
    return lambda: main(*args)


# ---------------------------------------------------------------------------------------------
# Latency per target: `edgec bench MODEL -t host -t rpi4 [--rpc HOST:PORT]`.


@dataclass
class TargetResult:
    target: str
    where: str  # "native", "rpc HOST:PORT", "emulated"
    latency: LatencyStats | None  # None when only emulated: emulated time is not device latency
    artifact_bytes: int
    peak_memory_mb: float | None
    rel_l2_error: float | None
    note: str = ""
    runtime: str = ""  # "micro" or "vm": the one the artifact was compiled for
    # micro artifacts: bytes on the device per part (edgec.micro_bundle.bundle_sizes: runtime,
    # kernels+plan, weights, arena, workspace per thread), as `edgec inspect` / `package` report them
    sizes: dict[str, int] | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["latency"] = self.latency.to_dict() if self.latency else None
        return d


def _dir_bytes(path) -> int:
    from pathlib import Path

    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


@shows_progress("verbose")
def bench_targets(model, targets: list[str], runs: int = 20, threads: int | None = None, rpc: str | None = None,
                  tracker: str | None = None, key: str | None = None, out_dir=None, verbose: bool = True
                  ) -> list[TargetResult]:
    """Compile ``model`` for each target and measure it where possible (see TargetResult). With a
    tracker each target runs on a device of kind ``key`` (default: the target's name, so one
    tracker serves a pool of several kinds); with ``rpc`` the server's key (default "edgec")."""
    import tempfile
    from pathlib import Path

    import edgec
    from edgec.compiler.backends import backend_for
    from edgec.micro_bundle import artifact_sizes
    from edgec.reference import reference_for
    from edgec.runners import runner_for
    from edgec.verification import _source_bytes, compare, default_inputs, reference_feeds

    base = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="edgec-bench-"))
    rows = []
    expected = None  # the same source model and inputs for every target: run the reference once
    if rpc or tracker:
        log.info("bench: over RPC the artifacts are compiled for TVM's VM runtime (an RPC server runs TVM modules; "
                 "a micro bundle carries no server)")
    for name in targets:
        log.info(f"bench: compiling for {name} ...")
        art = edgec.compile(model, target=name, out=base / Path(str(name)).stem, force=True,
                            **({"runtime": "vm"} if rpc or tracker else {}))
        runtime, sizes = art.manifest.compile_options.get("runtime", "vm"), artifact_sizes(art)
        feeds = default_inputs(art)
        if expected is None:
            fmt, data = _source_bytes(art, model if hasattr(model, "SerializeToString") else None)
            expected = reference_for(fmt, data).run(reference_feeds(art, fmt, data, feeds))
        if backend_for(art.manifest.target).device == "gpu":
            rows.append(TargetResult(name, "not run", None, _dir_bytes(art.path), None, None,
                                     "GPU artifact: run it on the GPU machine", runtime, sizes))
            continue
        runner = runner_for(art, threads=threads, native=True, rpc=rpc, tracker=tracker,
                            key=key or (str(name) if tracker else "edgec"))
        res = runner.run(feeds, repeat=0 if runner.where.startswith("emulated") else runs)
        where, note = ("emulated", "correctness only; emulated time is not device latency") \
            if res.emulated else (res.where, "")
        err = max(e.rel_l2_error for e in compare(res.outputs, expected))
        rows.append(TargetResult(name, where, res.latency, _dir_bytes(art.path), res.peak_memory_mb, err, note,
                                 runtime, sizes))
    return rows


def plot_targets(rows: list[TargetResult], path, title: str = "") -> None:
    try:
        import matplotlib
    except ImportError:
        from edgec.errors import EdgecError

        raise EdgecError("--plot needs matplotlib", hint="pip install 'edgec[plot]' (make setup installs it)") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = [r for r in rows if r.latency]
    sized = [r for r in rows if r.sizes]
    width = max(4, 1.4 * len(rows))
    fig, axes = plt.subplots(1, 2 if sized else 1, figsize=(2 * width if sized else width, 3.6), squeeze=False)
    ax = axes[0][0]
    names = [r.target for r in timed]
    med = [r.latency.median_ms for r in timed]
    err = [[r.latency.median_ms - r.latency.p10_ms for r in timed], [r.latency.p90_ms - r.latency.median_ms for r in timed]]
    ax.bar(names, med, yerr=err, capsize=4, color="#4C72B0")
    for i, r in enumerate(timed):
        ax.text(i, med[i], f"{med[i]:.2f} ms\n{r.where}", ha="center", va="bottom", fontsize=8)
    skipped = [f"{r.target}: {r.where}" for r in rows if not r.latency]
    ax.set_ylabel("latency, median (ms)")
    ax.set_title(title + (("\nnot timed: " + "; ".join(skipped)) if skipped else ""), fontsize=9)
    if sized:
        _plot_sizes(axes[0][1], sized)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# The parts of a micro artifact on the device, stacked (code and constants), and the run memory beside them.
_PARTS = (("runtime_bytes", "runtime", "#4C72B0"), ("kernels_bytes", "kernels+plan", "#55A868"),
          ("weights_bytes", "weights", "#C44E52"))


def _plot_sizes(ax, rows: list[TargetResult]) -> None:
    """Per target: runtime, kernels+plan and weights stacked (what the device stores) and the
    arena beside them (what a run uses), in KB."""
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for key, label, color in _PARTS:
        kb = np.array([r.sizes[key] / 1e3 for r in rows])
        ax.bar(x - 0.2, kb, 0.4, bottom=bottom, label=label, color=color)
        bottom += kb
    ax.bar(x + 0.2, [r.sizes["arena_bytes"] / 1e3 for r in rows], 0.4, label="arena (run memory)", color="#8172B2",
           hatch="//")
    ax.set_xticks(x, [r.target for r in rows])
    ax.set_ylabel("KB")
    ax.set_title("micro runtime: bytes per target", fontsize=9)
    ax.legend(fontsize=7)
