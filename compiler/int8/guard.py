"""The measured half of the speed guard: time each int8 layer against its float version here.

Only possible when the target is the machine compiling (host): every candidate layer becomes a
small Relax function twice - float (TVM's QDQ import under edgec's float schedules) and int8 -
built as two modules, and each pair is timed in the same process, alternating. A layer keeps its
int8 kernel only if it is faster, so int8 never makes a layer slower than float on this CPU.
Cross targets get the static rules only (rewrite.py)."""
from __future__ import annotations

import logging
import time

import numpy as np
import tvm
from tvm import relax

from edgec.compiler.int8.isa import DotISA
from edgec.compiler.int8.rewrite import Int8Stats, _const, find_plans, lower_int8

log = logging.getLogger(__name__)


def _layer_function(bb: relax.BlockBuilder, mod: tvm.IRModule, plan, var2val: dict, name: str) -> None:
    """Re-emit the layer's bindings (dequantize, conv/matmul, epilogue) as function ``name``."""
    x = relax.Var("x", plan.match.xq.ty)
    env: dict = {plan.match.xq: x}
    funcs: dict = {}
    conv = var2val[plan.start]
    chain = [a for a in conv.args if isinstance(a, relax.Var) and a in var2val] + [plan.start]
    chain += [v for v, _ in plan.epilogue.steps]

    def sub(a):
        if isinstance(a, relax.Var):
            if a in env:
                return env[a]
            c = _const(a, var2val)
            if c is None:
                raise ValueError(f"{a.name_hint} is neither in the layer nor constant")
            return relax.const(np.asarray(c).astype(str(a.ty.dtype)))
        if isinstance(a, relax.Tuple):
            return relax.Tuple([sub(f) for f in a.fields])
        if isinstance(a, relax.GlobalVar):
            if a not in funcs:
                funcs[a] = bb.add_func(mod[a], a.name_hint)
            return funcs[a]
        return a

    with bb.function(name, [x]):
        with bb.dataflow():
            for v in chain:
                call = var2val[v]
                env[v] = bb.emit(relax.Call(call.op, [sub(a) for a in call.args], call.attrs, call.ty_args))
            out = bb.emit_output(env[chain[-1]])
        bb.emit_func_output(out)


def _build(mod: tvm.IRModule, target, pipeline):
    ex = relax.build(mod, target=target, relax_pipeline=pipeline)
    return relax.VirtualMachine(ex, tvm.cpu())


def measure(mod: tvm.IRModule, isa: DotISA, target, pipeline) -> list[tuple[float, float]]:
    """(float seconds, int8 seconds) per candidate layer of ``mod["main"]``, in plan order.
    ``mod`` is the module lower_int8 will rewrite, after drop_unused_qdq."""
    plans, var2val = find_plans(mod["main"], Int8Stats())
    if not plans:
        return []
    bb = relax.BlockBuilder()
    names = []
    for i, plan in enumerate(plans.values()):
        names.append(f"layer{i}")
        _layer_function(bb, mod, plan, var2val, names[-1])
    float_mod = bb.get()
    t0 = time.perf_counter()
    vm_f = _build(float_mod, target, pipeline)
    vm_q = _build(lower_int8(float_mod, isa, drop_qdq=False), target, pipeline)
    log.info("speed guard: built %d layers twice in %.1fs", len(names), time.perf_counter() - t0)
    rng = np.random.default_rng(0)
    out = []
    for name, plan in zip(names, plans.values()):
        ty = plan.match.xq.ty
        lo, hi = (-128, 128) if str(ty.dtype) == "int8" else (0, 256)
        x = tvm.runtime.tensor(rng.integers(lo, hi, [int(d) for d in ty.shape]).astype(str(ty.dtype)))
        times = {0: [], 1: []}
        for _ in range(3):  # alternate, so drifting clocks hit both the same
            for k, vm in ((0, vm_f), (1, vm_q)):
                f = vm.time_evaluator(name, tvm.cpu(), number=5, repeat=1)
                times[k].append(f(x).mean)
        out.append((min(times[0]), min(times[1])))
    return out
