#!/usr/bin/env python3
"""Per-kernel profile of a host artifact: where the time goes, kernel by kernel.

    python tools/profile_kernels.py out/cls [--top 20] [--runs 5]

A VM artifact through the Relax VM's instrument hook (TVM 0.27 has no VM profiler); a micro one
(--runtime micro) through the runtime's own timer (edgec_run_timed). Either way each call's CPU
time on the calling thread, at 1 thread, summed over --runs runs and grouped by kernel symbol."""
from __future__ import annotations

import argparse
import time
from collections import defaultdict



def profile_micro(path: str, runs: int = 5) -> list[tuple[str, float, int]]:
    """(kernel, ms per run, calls per run) on the micro runtime, slowest first."""
    import edgec
    from edgec.runtime.artifact import Artifact
    from edgec.verification import default_inputs

    sess = edgec.load(path, threads=1)
    total: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for name, seconds in sess.profile(default_inputs(Artifact.open(path)), runs):
        total[name] += seconds
        calls[name] += 1
    return sorted(((k, 1e3 * v, calls[k]) for k, v in total.items()), key=lambda r: -r[1])


def profile(path: str, runs: int = 5) -> list[tuple[str, float, int]]:
    """(kernel, ms per run, calls per run), slowest first, on the artifact's own runtime."""
    from edgec.runtime.artifact import Artifact

    if Artifact.open(path).manifest.compile_options.get("runtime") == "micro":
        return profile_micro(path, runs)
    from edgec.runtime.threads import configure_threads

    configure_threads(1)  # before TVM starts its pool: every kernel on this thread, as timed
    import tvm
    import tvm.runtime.vm

    from edgec.verification import default_inputs

    art = Artifact.open(path)
    vm = tvm.runtime.vm.VirtualMachine(tvm.runtime.load_module(str(art.library)), tvm.cpu())
    args = [tvm.runtime.tensor(v) for v in default_inputs(art).values()]
    vm["main"](*args)
    total: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    start: list[float] = []  # thread CPU time: unaffected by other processes at 1 thread

    def instrument(func, name, before, ret, *a):
        if before:
            start.append(time.thread_time())
        else:
            total[name] += time.thread_time() - start.pop()
            calls[name] += 1
        return 0

    vm.set_instrument(tvm.runtime.convert(instrument) if hasattr(tvm.runtime, "convert") else instrument)
    for _ in range(runs):
        vm["main"](*args)
    rows = [(k, 1e3 * v / runs, calls[k] // runs) for k, v in total.items()]
    return sorted(rows, key=lambda r: -r[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    rows = profile(a.artifact, a.runs)
    tot = sum(r[1] for r in rows)
    print(f"{'kernel':<60} {'ms/run':>8} {'%':>6} {'calls':>5}")
    for name, ms, n in rows[: a.top]:
        print(f"{name[:60]:<60} {ms:8.3f} {100 * ms / tot:6.1f} {n:5d}")
    print(f"{'total (' + str(len(rows)) + ' kernels)':<60} {tot:8.3f}")


if __name__ == "__main__":
    main()
