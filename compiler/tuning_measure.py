"""Where `edgec tune` times a kernel: on this machine, or on remote devices over TVM RPC (one
server, or every free device of a kind behind TVM's RPC tracker, measured in parallel).

A measurer takes a scheduled kernel (an IRModule with a "main" PrimFunc) and returns its best time
in microseconds. Building is done here, under one lock (TVM's compiler is not used from several
threads at once); only the timing runs in parallel, one thread per device.
"""
from __future__ import annotations

import itertools
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import tvm

_BUILD_LOCK = threading.Lock()
_names = itertools.count()


def _args(func, dev) -> list:
    out = []
    for p in func.params:
        buf = p.ty  # TVM 0.27: a buffer parameter's type carries its shape and dtype
        shape = [int(x) for x in buf.shape]
        out.append(tvm.runtime.tensor(np.random.default_rng(0).uniform(-1, 1, shape).astype(str(buf.dtype)), dev))
    return out


def _build(mod: "tvm.IRModule", tvm_target):
    with _BUILD_LOCK, tvm_target:
        return tvm.tirx.build(mod, target=tvm_target)


class LocalMeasurer:
    """Times on this machine (the target must run here)."""

    where = "this machine"

    def time_us(self, mod, func, tvm_target, number: int = 3) -> float:
        lib = _build(mod, tvm_target)
        ev = lib.time_evaluator("main", tvm.cpu(), number=number, repeat=3, min_repeat_ms=20)
        return float(min(ev(*_args(func, tvm.cpu())).results)) * 1e6


class RemoteMeasurer:
    """Times on one RPC session: the kernel is linked for the target (cross-linked when the device
    is another architecture), uploaded into the server's folder, timed there and removed."""

    def __init__(self, session, cxx: str | None, where: str) -> None:
        self.session, self.cxx, self.where = session, cxx, where
        self.tmp = Path(tempfile.mkdtemp(prefix="edgec-tune-"))

    def time_us(self, mod, func, tvm_target, number: int = 3) -> float:
        lib = _build(mod, tvm_target)
        name = f"k{next(_names)}.so"
        path = self.tmp / name
        with _BUILD_LOCK:
            if self.cxx:
                lib.export_library(str(path), fcompile=tvm.support.cc.cross_compiler(self.cxx))
            else:
                lib.export_library(str(path))
        try:
            self.session.upload(str(path))
            rlib = self.session.load_module(name)
            dev = self.session.cpu()
            ev = rlib.time_evaluator("main", dev, number=number, repeat=3, min_repeat_ms=20)
            return float(min(ev(*_args(func, dev)).results)) * 1e6
        finally:
            path.unlink(missing_ok=True)
            try:
                self.session.remove(name)
            except Exception:  # noqa: BLE001 - the server empties its folder after the session anyway
                pass


def measurers(target, rpc: str | None, tracker: str | None, key: str | None, most: int = 8) -> list:
    """The measurers for a tuning run: this machine, the server at ``rpc``, or up to ``most`` free
    devices of kind ``key`` (default: the target's name) behind ``tracker``."""
    if not rpc and not tracker:
        return [LocalMeasurer()]
    from edgec.compiler.lower import check_toolchain
    from edgec.runtime.rpc import connect, pool

    cxx = check_toolchain(target) or None
    if tracker:
        kind = key or target.name
        return [RemoteMeasurer(s, cxx, f"{kind} device {i + 1} via {tracker}")
                for i, s in enumerate(pool(tracker, kind, most))]
    return [RemoteMeasurer(connect(rpc=rpc, key=key or "edgec"), cxx, f"rpc {rpc}")]


def map_parallel(workers: list, items: Iterable, fn: Callable) -> list:
    """fn(worker, item) for every item, each worker taking the next item when it is free; results
    in the order of ``items``. One worker: a plain loop in this thread."""
    items = list(items)
    if len(workers) == 1:
        return [fn(workers[0], it) for it in items]
    results: list = [None] * len(items)
    todo = iter(enumerate(items))
    lock = threading.Lock()

    def drain(worker):
        while True:
            with lock:
                nxt = next(todo, None)
            if nxt is None:
                return
            results[nxt[0]] = fn(worker, nxt[1])

    with ThreadPoolExecutor(len(workers)) as ex:
        for f in [ex.submit(drain, w) for w in workers]:
            f.result()
    return results
