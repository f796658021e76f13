"""`edgec tune`: search our schedule templates' knobs per kernel, measured on this machine,
within a time budget; results go to a JSON tuning database that `compile --tuning-db` reuses.

Why our own search and not MetaSchedule: in apache-tvm 0.27.0.post1 creating a TuneContext with
post-order-apply and the default llvm rules segfaults, and our register-tiled template already
captures the structure MetaSchedule would have to discover; what is left to search is a handful
of knobs (vector tile V, reuse tile U, reduction unrolling), which a budgeted exhaustive search
over the heaviest kernels covers.

Records are keyed by the kernel's structural hash (names ignored), so a workload tuned for one
model is reused by every model that contains it.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import tvm

from edgec.compiler.schedules.cpu_generic import CPUGeneric, vector_lanes
from edgec.runtime.files import read_bytes
from edgec.compiler.schedules.cpu_reduction import TileKnobs, plan_tile
from edgec.compiler.backends import backend_for
from edgec.compiler.tvm_target import resolve, to_tvm
from edgec.errors import UserInputError
from edgec.log import shows_progress
from edgec.targets import Target, load_target

log = logging.getLogger(__name__)
DB_VERSION = 1
SHIPPED_DB_DIR = Path(str(resources.files("edgec.targets") / "tuning"))  # package data of edgec.targets


def workload_key(func: "tvm.tirx.PrimFunc") -> str:
    import tvm_ffi

    return f"{tvm_ffi.structural_hash(func.without_attr('global_symbol')) & 0xFFFFFFFFFFFFFFFF:016x}"


@dataclass
class TuningRecord:
    workload: str
    kernel: str
    knobs: dict
    best_us: float
    default_us: float


@dataclass
class TuningDB:
    target: dict
    records: dict[str, TuningRecord] = field(default_factory=dict)

    @classmethod
    def load(cls, path: "str | Path") -> "TuningDB":
        p = Path(path)
        if not p.exists():
            raise UserInputError(f"tuning database not found: {p}")
        try:
            raw = json.loads(read_bytes(p, "tuning database", 256 << 20))
            if raw.get("version") != DB_VERSION:
                raise ValueError(f"version {raw.get('version')}, expected {DB_VERSION}")
            recs = {r["workload"]: TuningRecord(**r) for r in raw["records"]}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError, RecursionError) as e:
            raise UserInputError(f"{p} is not an edgec tuning database ({type(e).__name__}: {str(e)[:200]})") from None
        return cls(raw.get("target", {}), recs)

    def save(self, path: "str | Path") -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        body = {"version": DB_VERSION, "target": self.target,
                "records": [asdict(r) for r in sorted(self.records.values(), key=lambda r: r.workload)]}
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=1) + "\n")
        tmp.replace(p)

    def knobs_for(self, func) -> TileKnobs | None:
        rec = self.records.get(workload_key(func))
        return TileKnobs(**rec.knobs) if rec else None


def shipped_db(target: Target) -> Path | None:
    p = SHIPPED_DB_DIR / f"{target.name}.json"
    return p if p.exists() else None


def _kernels(mod: "tvm.IRModule", tvm_target) -> list[tuple[str, "tvm.tirx.PrimFunc"]]:
    """The kernels `edgec compile` will hand to the generic rule: the same layout pass and
    legalization as the build, minus edgec's conv/matmul kernels, whose tile comes from their
    own cost model (compiler/kernels/tiles.py), not from these knobs."""
    from edgec.compiler.schedules.cpu_conv import has_tile_block
    from edgec.compiler.schedules.cpu_pipeline import legalize_passes

    with tvm_target:
        mod = tvm.transform.Sequential(legalize_passes(tvm_target, own_kernels=True))(mod)
    return [(gv.name_hint, f) for gv, f in mod.functions_items()
            if isinstance(f, tvm.tirx.PrimFunc) and not has_tile_block(f)]


def _candidates(func, lanes: int) -> list[TileKnobs]:
    from tvm import s_tir
    from tvm.s_tir.dlight.analysis import normalize_prim_func

    sch = s_tir.Schedule(func)
    infos = normalize_prim_func(sch) or []
    reds = [i for i in infos if "R" in i.dom_kind() and "O" not in i.dom_kind()]
    if len(reds) != 1 or plan_tile(sch, reds[0].block_rv, lanes) is None:
        return []
    out = []
    for V in (lanes, 2 * lanes, lanes // 2):
        for U in (2, 3, 4, 6, 8, 12):
            if V // max(lanes, 1) * U > 24:
                continue
            for ur in (0, 3, 9):
                out.append(TileKnobs(V=V, U=U, unroll_reduction=ur))
    return out


def _time_kernel(func, tvm_target, knobs: TileKnobs | None, measurer=None, number: int = 3) -> float:
    from edgec.compiler.tuning_measure import LocalMeasurer

    rule = CPUGeneric(knobs_for=(lambda f: knobs) if knobs else None)
    sch = rule._full(func, tvm_target)
    if sch is None:
        raise RuntimeError("not schedulable")
    # Kernels lifted out of a Relax module are private; give it a symbol so TIR builds a packed
    # entry point for it.
    mod = tvm.IRModule({"main": sch.mod["main"].with_attr("global_symbol", "main")})
    return (measurer or LocalMeasurer()).time_us(mod, func, tvm_target, number)


@shows_progress("verbose")
def tune(model, target: "str | Target" = "host", db_path: "str | Path" = "tuning.json", budget_s: float = 1200,
         input_shapes: dict | None = None, verbose: bool = True, rpc: str | None = None, tracker: str | None = None,
         key: str | None = None) -> TuningDB:
    """Tune ``model``'s kernels (a path, ModelProto or SourceModel) for ``target`` and save the
    database. Measured on this machine, or
    over TVM RPC: on the server at ``rpc``, or on every free device of kind ``key`` (default: the
    target's name) behind the RPC tracker at ``tracker``, kernels spread over the devices.

    An existing database at ``db_path`` is extended: records for other workloads are kept."""
    from edgec.compiler.driver import CompileOptions, import_model
    from edgec.compiler.source import load_source
    from edgec.compiler.tuning_measure import map_parallel, measurers
    from edgec.runtime.threads import configure_threads

    configure_threads()
    tgt = resolve(load_target(target))
    if not backend_for(tgt).edgec_schedules:
        raise UserInputError(f"edgec tune tunes CPU kernels; {tgt.name} is a {tgt.kind} target")
    if tgt.is_cross and not (rpc or tracker):
        raise UserInputError(f"tuning measures on this machine; {tgt.name} code cannot run here",
                             hint="measure on the devices over RPC: --tracker HOST:PORT (a pool, servers started "
                                  f"with --key {tgt.name}) or --rpc HOST:PORT, or pick a host-compatible target")
    tvm_target = to_tvm(tgt)
    lanes = vector_lanes(tvm_target)
    db = TuningDB.load(db_path) if Path(db_path).exists() else TuningDB(tgt.to_dict())
    src = load_source(model)  # a zoo name is resolved by edgec.tune
    mod, *_ = import_model(src, CompileOptions(target=tgt.name, input_shapes=dict(input_shapes or {})))
    kernels = _kernels(mod, tvm_target)
    deadline = time.monotonic() + budget_s
    devices = measurers(tgt, rpc, tracker, key)
    if rpc or tracker:
        log.info(f"measuring on {len(devices)} device(s): {', '.join(d.where for d in devices)}")
    pending = [(name, func, workload_key(func)) for name, func in kernels]
    pending = [(name, func, k, c) for name, func, k in pending if k not in db.records
               for c in [_candidates(func, lanes)] if c]

    def baseline(dev, item):
        try:
            return _time_kernel(item[1], tvm_target, None, dev)
        except Exception:  # noqa: BLE001 - kernels our template cannot take are left alone
            return None

    todo = [(us, *item) for us, item in zip(map_parallel(devices, pending, baseline), pending) if us is not None]
    todo.sort(key=lambda t: -t[0])  # heaviest first: the budget goes where the time is
    log.info(f"{len(todo)} kernels to tune ({len(kernels)} in the model, {len(db.records)} already in the database)")
    done, lock, stopped = [0], threading.Lock(), []

    def search(dev, item):
        default_us, name, func, key_, candidates = item
        if time.monotonic() > deadline:
            stopped.append(True)
            return
        best, best_us = None, default_us
        for knobs in candidates:
            if time.monotonic() > deadline:
                break
            try:
                us = _time_kernel(func, tvm_target, knobs, dev)
            except Exception:  # noqa: BLE001 - an invalid combination for this shape
                continue
            if us < best_us * 0.98:
                best, best_us = knobs, us
        chosen = asdict(best) if best else asdict(TileKnobs())
        with lock:  # one writer: records from every device go into one database
            db.records[key_] = TuningRecord(key_, name, chosen, best_us, default_us)
            db.save(db_path)
            done[0] += 1
            where = f" on {dev.where}" if len(devices) > 1 else ""
            log.info(f"[{done[0]}/{len(todo)}] {name[:48]:<48} {default_us:9.1f} -> {best_us:9.1f} us "
                               f"({default_us / best_us:4.2f}x) {chosen if best else 'default'}{where}")

    map_parallel(devices, todo, search)
    if stopped:
        log.info("budget spent; stopping (rerun to continue where this left off)")
    return db


