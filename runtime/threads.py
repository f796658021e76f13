"""Worker-thread count for TVM's thread pool.

TVM sizes its pool once, at the first parallel kernel, from TVM_NUM_THREADS; without it, it
assumes hyper-threading and takes half the logical CPUs (1 thread on a 2-core machine). edgec
defaults to the physical cores instead (EDGEC_NUM_THREADS or --threads override it).

TVM's workers spin-wait between kernels before they sleep. On a machine that is busy with other
work, spinning threads steal the cores the kernel needs: with another process loading both cores,
PP-OCR cls at 2 threads took 4.0 ms (median) spinning and 1.5-1.9 ms with no spin, det 140-173 ms
against 86-141 ms. edgec therefore sets TVM_THREAD_POOL_SPIN_COUNT=0 unless the user set it.
"""
from __future__ import annotations

import os
from pathlib import Path


def physical_cores() -> int:
    cores = set()
    for topo in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology"):
        try:
            cores.add(((topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip()))
        except OSError:
            continue
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(len(cores) or allowed, allowed))


def configure_threads(threads: int | None = None) -> int:
    """Choose the pool size before TVM starts it; returns the count requested."""
    from edgec.errors import UserInputError

    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads <= 1024):
        raise UserInputError(f"threads must be an integer from 1 to 1024, got {threads!r}")
    env = os.environ.get("EDGEC_NUM_THREADS", "").strip()
    if env and not (env.isdigit() and 0 <= int(env) <= 1024):
        raise UserInputError(f"EDGEC_NUM_THREADS={env!r} is not a thread count from 1 to 1024")
    n = threads or int(env or 0) or physical_cores()
    if threads or "TVM_NUM_THREADS" not in os.environ:
        os.environ["TVM_NUM_THREADS"] = str(n)
    os.environ.setdefault("TVM_THREAD_POOL_SPIN_COUNT", "0")
    return int(os.environ["TVM_NUM_THREADS"])


def active_threads() -> int:
    """Threads TVM's pool really uses (fixed once the first parallel kernel has run); where no
    TVM runtime is loaded (micro artifacts), the count requested, which the micro pool uses."""
    import tvm_ffi

    f = tvm_ffi.get_global_func("runtime.NumThreads", allow_missing=True)
    return int(f()) if f is not None else int(os.environ.get("TVM_NUM_THREADS", "1"))
