"""The lowered Relax ``main`` as a static plan: ordered kernel calls over tensors at fixed offsets.

Input is ``main`` after edgec's CPU pipeline (TVM's StaticPlanBlockMemory has grouped the
intermediates into storages; KillAfterLastUse and VMShapeLower have run). Each storage gets an
offset in one arena (first-fit over the storages' live ranges, so storages whose lifetimes do not
overlap share bytes); constants go into one weights blob; ``vm.builtin.reshape`` and tuple items
are aliases. Whatever a static plan cannot express (control flow, data-dependent shapes, packed
functions other than the checks and reshapes) raises NotPlannable with the reason, and the model
runs on TVM's VM instead.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tvm

ALIGN = 64
# Packed functions that check inputs: the micro runtime checks inputs against the manifest itself.
_CHECKS = ("vm.builtin.check_tensor_info", "vm.builtin.match_shape", "vm.builtin.check_tuple_info",
           "vm.builtin.check_shape_info", "vm.builtin.check_prim_value_info")


class NotPlannable(Exception):
    """The model needs TVM's VM (the message says why)."""


@dataclass
class PlanTensor:
    where: str  # "arena" | "weights" | "input"
    shape: tuple[int, ...]
    dtype: str
    offset: int = 0  # bytes into the arena (after placement) or the weights blob
    input: int = -1
    storage: int = -1  # arena tensors: the storage they live in, at offset-in-storage ``offset``

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass
class PlanCall:
    kernel: str | None  # None: copy args[1] into args[0]
    args: list[tuple[str, object]]  # ("t", tensor index) | ("i", int) | ("f", float)


@dataclass
class Plan:
    tensors: list[PlanTensor] = field(default_factory=list)
    calls: list[PlanCall] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    weights: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (offset in the blob, data)
    arena_bytes: int = 0
    weights_bytes: int = 0

    @property
    def kernels(self) -> list[str]:
        return sorted({c.kernel for c in self.calls if c.kernel})

    def stats(self) -> dict:
        return {"calls": len(self.calls), "kernels": len(self.kernels), "tensors": len(self.tensors),
                "arena_bytes": self.arena_bytes, "weights_bytes": self.weights_bytes}


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _static_shape(sinfo, what: str) -> tuple[tuple[int, ...], str]:
    from tvm import relax, tirx

    if not isinstance(sinfo, relax.TensorType) or sinfo.shape is None:
        raise NotPlannable(f"{what} is not a tensor of known shape ({sinfo})")
    dims = list(sinfo.shape.values) if hasattr(sinfo.shape, "values") else list(sinfo.shape)
    if not all(isinstance(d, tirx.IntImm) for d in dims):
        raise NotPlannable(f"{what} has a shape known only at run time ({sinfo.shape})")
    return tuple(int(d) for d in dims), str(sinfo.dtype)


def _is_tensor_const(e) -> bool:
    from tvm.ir.expr import Constant

    return isinstance(e, Constant) and hasattr(e.value, "numpy")


def _int(x) -> int:
    """A constant integer from a PrimValue or an IntImm."""
    while not isinstance(x, int):
        x = x.value
    return int(x)


def _ints(expr, what: str) -> list[int]:
    from tvm import relax, tirx

    if not isinstance(expr, relax.ShapeExpr) or not all(isinstance(v, tirx.IntImm) for v in expr.values):
        raise NotPlannable(f"{what} is not a constant shape ({expr})")
    return [int(v) for v in expr.values]


class _Walker:
    def __init__(self, func) -> None:
        self.plan = Plan()
        self.var_tensor: dict = {}  # relax.Var -> tensor index (or tuple of indices)
        self.storages: list[list[int]] = []  # [size, first use, last use]
        self.var_storage: dict = {}
        self.constants: dict = {}  # relax.Constant -> tensor index
        self.by_content: dict = {}  # (dtype, shape, sha256 of the bytes) -> tensor index
        self.step = 0
        for i, p in enumerate(func.params):
            shape, dtype = _static_shape(p.ty, f"input {p.name}")
            self.var_tensor[p] = self._tensor(PlanTensor("input", shape, dtype, input=i))
            self.plan.inputs.append(self.var_tensor[p])

    def _tensor(self, t: PlanTensor) -> int:
        self.plan.tensors.append(t)
        return len(self.plan.tensors) - 1

    def _use(self, idx: int) -> None:
        t = self.plan.tensors[idx]
        if t.where == "arena":
            self.storages[t.storage][2] = max(self.storages[t.storage][2], self.step)

    def _constant(self, c) -> int:
        """The constant's tensor in the weights blob. Equal constants share one copy: lowering an
        unrolled recurrence leaves one Constant object per step for the same matrix (silero-vad-seq:
        32 copies of a 256 KB weight), and distinct copies would be streamed from memory each step
        where one stays in cache."""
        if c not in self.constants:
            shape, dtype = _static_shape(c.ty, "a constant")
            data = np.asarray(c.value.numpy(), order="C")  # (ascontiguousarray makes 0-d 1-d)
            if data.dtype != np.dtype(dtype) or data.shape != shape:
                raise NotPlannable(f"constant {dtype}{list(shape)} holds {data.dtype}{list(data.shape)}")
            key = (dtype, shape, hashlib.sha256(data.tobytes()).digest())
            if key not in self.by_content:
                offset = self.plan.weights_bytes
                self.by_content[key] = self._tensor(PlanTensor("weights", shape, dtype, offset=offset))
                self.plan.weights.append((offset, data))
                self.plan.weights_bytes = _align(self.plan.weights_bytes + data.nbytes)
            self.constants[c] = self.by_content[key]
        return self.constants[c]

    def arg(self, e) -> tuple[str, object]:
        from tvm import relax, tirx

        if isinstance(e, relax.Var):
            idx = self.var_tensor.get(e)
            if not isinstance(idx, int):
                raise NotPlannable(f"argument {e.name} is not a planned tensor")
            self._use(idx)
            return ("t", idx)
        if _is_tensor_const(e):
            return ("t", self._constant(e))
        if isinstance(e, tirx.IntImm):
            return ("i", int(e.value))
        if isinstance(e, tirx.FloatImm):
            return ("f", float(e.value))
        raise NotPlannable(f"a kernel argument that is not a tensor or a constant scalar ({type(e).__name__})")

    def binding(self, var, value) -> None:
        from tvm import ir, relax

        self.step += 1
        if isinstance(value, relax.Call):
            op = value.op
            if isinstance(op, ir.Op):
                return self._op(var, op.name, value)
            if isinstance(op, relax.ExternFunc):
                return self._packed(var, str(op.global_symbol), value)
            if isinstance(op, ir.GlobalVar):
                self.plan.calls.append(PlanCall(op.name_hint, [self.arg(a) for a in value.args]))
                return None
            raise NotPlannable(f"a call to {type(op).__name__}")
        if isinstance(value, relax.Var):
            self.var_tensor[var] = self.var_tensor.get(value)
            return None
        if isinstance(value, relax.Tuple):
            self.var_tensor[var] = tuple(self._leaf(f) for f in value.fields)
            return None
        if isinstance(value, relax.TupleGetItem):
            tup = self.var_tensor.get(value.tuple_value)
            if not isinstance(tup, tuple):
                raise NotPlannable("a tuple item of something that is not a planned tuple")
            self.var_tensor[var] = tup[value.index]
            return None
        if _is_tensor_const(value):
            self.var_tensor[var] = self._constant(value)
            return None
        if isinstance(value, relax.If):
            raise NotPlannable("control flow (If) in main")
        raise NotPlannable(f"a binding of {type(value).__name__}")

    def _leaf(self, e):
        from tvm import relax

        if isinstance(e, relax.Tuple):
            return tuple(self._leaf(f) for f in e.fields)
        if _is_tensor_const(e):
            return self._constant(e)
        if isinstance(e, relax.Var) and e in self.var_tensor:
            return self.var_tensor[e]
        raise NotPlannable(f"a tuple field that is not a planned tensor ({type(e).__name__})")

    def _op(self, var, name: str, call) -> None:
        if name == "relax.vm.alloc_storage":
            (size,) = _ints(call.args[0], "a storage size")
            self.storages.append([size, self.step, self.step])
            self.var_storage[var] = len(self.storages) - 1
        elif name == "relax.vm.alloc_tensor":
            sid = self.var_storage.get(call.args[0])
            if sid is None:
                raise NotPlannable("a tensor in a storage the plan does not know")
            offset = _int(call.args[1])
            shape, dtype = _static_shape(var.ty, f"tensor {var.name}")
            if tuple(_ints(call.args[2], "a tensor shape")) != shape:
                raise NotPlannable(f"tensor {var.name}: shape and annotation differ")
            self.var_tensor[var] = self._tensor(PlanTensor("arena", shape, dtype, offset=offset, storage=sid))
            self._use(self.var_tensor[var])
        elif name in ("relax.vm.kill_object", "relax.null_value"):
            pass
        else:
            raise NotPlannable(f"operator {name} is left in main after lowering")

    def _packed(self, var, name: str, call) -> None:
        if name in _CHECKS:
            return
        if name == "vm.builtin.reshape":
            src = self.arg(call.args[0])[1]
            base = self.plan.tensors[src]
            shape, dtype = _static_shape(var.ty, f"reshape {var.name}")
            if tuple(_ints(call.args[1], "a reshape")) != shape:
                raise NotPlannable("reshape: shape and annotation differ")
            self.var_tensor[var] = self._tensor(PlanTensor(base.where, shape, dtype, offset=base.offset,
                                                           input=base.input, storage=base.storage))
            return
        raise NotPlannable(f"packed function {name} (the micro runtime has only kernels, checks and reshapes)")

    def outputs(self, ret) -> None:
        """main's return value, flattened: each output a distinct arena tensor that outlives the run."""
        self.step += 1
        flat: list[int] = []

        def walk(x) -> None:
            if isinstance(x, tuple):
                for y in x:
                    walk(y)
            else:
                flat.append(x)
        walk(self._leaf(ret))
        for idx in flat:
            t = self.plan.tensors[idx]
            if t.where != "arena" or idx in self.plan.outputs:  # an input, a weight or a repeat: its own copy
                self.storages.append([t.nbytes, self.step, self.step])
                copy = self._tensor(PlanTensor("arena", t.shape, t.dtype, storage=len(self.storages) - 1))
                self.plan.calls.append(PlanCall(None, [("t", copy), self.arg_for(idx)]))
                idx = copy
            self.plan.outputs.append(idx)
            self._use(idx)
        end = self.step + 1
        for idx in self.plan.outputs:  # outputs stay valid after the run
            self.storages[self.plan.tensors[idx].storage][2] = end

    def arg_for(self, idx: int) -> tuple[str, object]:
        self._use(idx)
        return ("t", idx)


def _place(storages: list[list[int]]) -> tuple[list[int], int]:
    """First-fit offsets for storages [size, first, last]: two storages share bytes only when
    their live ranges do not overlap. Largest first, as TVM's and TFLite's planners do."""
    placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
    offsets = [0] * len(storages)
    for sid in sorted(range(len(storages)), key=lambda s: -storages[s][0]):
        size, first, last = storages[sid]
        size = _align(max(size, 1))
        clashes = sorted((o, s) for o, s, f, la in placed if not (la < first or last < f))
        off = 0
        for o, s in clashes:
            if off + size <= o:
                break
            off = max(off, o + s)
        offsets[sid] = off
        placed.append((off, size, first, last))
    return offsets, max((o + s for o, s, _, _ in placed), default=0)


def build_plan(mod: "tvm.IRModule") -> Plan:
    """The static plan of ``mod["main"]`` (after edgec's CPU pipeline); raises NotPlannable."""
    from tvm import relax

    func = mod["main"]
    for gv, f in mod.functions.items():
        if isinstance(f, relax.Function) and gv.name_hint != "main":
            raise NotPlannable(f"main calls another Relax function ({gv.name_hint})")
    body = func.body
    if not isinstance(body, relax.SeqExpr):
        raise NotPlannable("main's body is not a sequence of bindings")
    w = _Walker(func)
    for block in body.blocks:
        for b in block.bindings:
            if isinstance(b, relax.MatchCast):
                raise NotPlannable("a match_cast in main (shapes known only at run time)")
            w.binding(b.var, b.value)
    w.outputs(body.body)
    offsets, w.plan.arena_bytes = _place(w.storages)
    for t in w.plan.tensors:
        if t.where == "arena":
            t.offset += offsets[t.storage]
            if t.offset % ALIGN:
                raise NotPlannable(f"a tensor at arena offset {t.offset}, not {ALIGN}-byte aligned")
    return w.plan
